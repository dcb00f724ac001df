"""The exported model's signatures: raw product in, decoded category out, TF ops only.

- `serving_default`: serialized tf.Examples (what TFX's Evaluator and TF Serving's Predict send),
  with only `title` required: a client sends the fields it has;
- `serving_raw`: named string/bytes tensors, one per product field, for online callers;
- `transform_features`: serialized tf.Examples to transformed features (for the Evaluator).
All run the Transform graph, the model and the hierarchical decoder in one graph.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the SentencePiece ops the Transform graph uses)
import tensorflow_transform as tft

from prodcat import features as F
from prodcat.contract.signatures import EXAMPLES_SIGNATURE, RAW_SIGNATURE, TRANSFORM_SIGNATURE
from prodcat.trainer.decoding import HierarchicalDecoder


def serving_feature_spec(tft_output: tft.TFTransformOutput) -> dict[str, Any]:
    """The raw feature spec without the label (callers do not send one)."""
    spec = dict(tft_output.raw_feature_spec())
    spec.pop(F.CATEGORY, None)
    return spec


def client_example_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The feature spec `serving_default` parses: a client sends the fields it has. Only the title
    is required; every other field defaults to empty, as ExampleGen writes an unknown field."""
    return {name: tf.io.FixedLenFeature(feature.shape, feature.dtype, default_value="")
            if isinstance(feature, tf.io.FixedLenFeature) and name != F.TITLE else feature
            for name, feature in spec.items()}


def _empty_label(batch_size: tf.Tensor, spec: Any) -> tf.Tensor | tf.SparseTensor:
    if isinstance(spec, tf.io.FixedLenFeature):
        return tf.fill(tf.concat([[batch_size], tf.constant(spec.shape, tf.int32)], 0), "")
    return tf.SparseTensor(tf.zeros([0, 2], tf.int64), tf.zeros([0], tf.string), [tf.cast(batch_size, tf.int64), 1])


def _raw_input_specs(spec: dict[str, Any]) -> dict[str, tf.TensorSpec]:
    """One named input per raw feature: [batch] strings, or [batch, n] for list fields."""
    out = {}
    for name, feature in spec.items():
        shape = [None] if isinstance(feature, tf.io.FixedLenFeature) else [None, None]
        out[name] = tf.TensorSpec(shape, tf.string, name=name)
    return out


def _to_feature_format(value: tf.Tensor, feature: Any) -> tf.Tensor | tf.SparseTensor:
    if isinstance(feature, tf.io.FixedLenFeature):
        return tf.reshape(value, [-1, *feature.shape]) if feature.shape else value
    # Padding ("") is dropped; a ragged intermediate keeps the sparse tensor right-ragged even
    # when a caller leaves gaps (["", "x"]).
    return tf.ragged.boolean_mask(value, tf.not_equal(value, "")).to_sparse()


def make_signatures(model: tf.keras.Model, tft_output: tft.TFTransformOutput, decoder: HierarchicalDecoder) -> dict:
    """Builds the three signatures; `model` gets the Transform layer and decoder attached."""
    model.tft_layer = tft_output.transform_features_layer()
    model.decoder = decoder
    raw_spec = dict(tft_output.raw_feature_spec())
    label_spec = raw_spec[F.CATEGORY]
    spec = serving_feature_spec(tft_output)
    level_names = [F.level_output(k) for k in range(1, decoder.depth + 1)]
    model_inputs = list(model.input.keys()) if isinstance(model.input, dict) else [F.TOKENS]

    def predict(raw: dict[str, Any]) -> dict[str, tf.Tensor]:
        batch = tf.shape(raw[F.ID] if isinstance(raw[F.ID], tf.Tensor) else raw[F.ID].dense_shape)[0]
        raw = dict(raw)
        raw[F.CATEGORY] = _empty_label(batch, label_spec)
        transformed = model.tft_layer(raw)
        outputs = model({name: transformed[name] for name in model_inputs}, training=False)
        probs = [outputs[name] for name in level_names]
        return decoder(probs, transformed.get(F.TEXT_EMBEDDING), transformed.get(F.NAME_QUERY_EMBEDDING))

    example_spec = client_example_spec(spec)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        return predict(tf.io.parse_example(serialized, example_spec))

    raw_inputs = _raw_input_specs(spec)

    @tf.function(input_signature=[raw_inputs])
    def serve_raw(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return predict({name: _to_feature_format(inputs[name], spec[name]) for name in spec})

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        parsed = tf.io.parse_example(serialized, raw_spec)
        return model.tft_layer(parsed)

    # A function taking a dict can't be a signature directly; wrap it with keyword arguments.
    raw_concrete = serve_raw.get_concrete_function(raw_inputs)
    return {
        EXAMPLES_SIGNATURE: serve_examples.get_concrete_function(),
        RAW_SIGNATURE: raw_concrete,
        TRANSFORM_SIGNATURE: transform_features.get_concrete_function(),
    }


def save_serving_model(model: tf.keras.Model, export_dir: str, signatures: dict | None) -> None:
    """Saves `model` for serving, without any optimizer state (its optimizers are detached: call it
    once training is over).

    Keras' `include_optimizer=False` drops only the outer model's optimizer; a trained network
    nested inside it (the margin head's wrapper) would still carry its Adam slots, two more
    copies of every table (on Flipkart 117 M of the export's 325 M values).
    """
    for layer in (model, *model.submodules):
        if isinstance(layer, tf.keras.Model) and getattr(layer, "optimizer", None) is not None:
            layer.optimizer = None
            layer._delete_tracking("optimizer")  # noqa: SLF001 (what Keras' own include_optimizer=False does)
    model.save(export_dir, save_format="tf", signatures=signatures, include_optimizer=False)
