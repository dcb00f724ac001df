"""The serving contract: what the trainer that exports a model and every caller of it agree on.

`signatures` (TF-free) names the signatures, turns products into the model's inputs and its
outputs into `Prediction`s; `examples` is the tf.Example wire format of the same fields, shared by
ExampleGen, the warm-up requests and the clients.
"""
