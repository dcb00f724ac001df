"""The margin head: one linear SVM per taxonomy level, fitted by liblinear, served as TF ops.

On sparse n-gram features a linear model trained to a margin with L2 regularisation
(scikit-learn's LinearSVC, i.e. liblinear: one-vs-rest squared hinge, solved to convergence) is
the strongest single product-title classifier there is; a softmax trained with Adam on the same
features stops short of it (BENCHMARKS.md, the margin head). So
prodcat fits that model itself, before the network trains, on the features the network reads:

- the product's hashed tokens as sublinear TF-IDF (1 + log count, times the smoothed idf of the
  training data), words/bigrams and character n-grams as two separately L2-normalised blocks
  (`trainer.text.hashed_tokens` hashes them into the two halves of the bucket range; with one
  block the far more numerous character n-grams drown the words);
- the pretrained sentence embedding (L2-normalised);
- the shop (a one-hot of the shops seen in training).

`MarginScores` recomputes exactly that feature vector in the graph and scores every level;
`MixedScores` combines each level's network distribution with the SVM's scores as
softmax(log p + weight * scores). The network is trained without the SVM (its scores on its own
training products are overfitted margins), and the weight is chosen afterwards on the eval
split, so each model keeps what it is good at: the SVM on catalogues like its training data, the
network where names and languages have to carry a product.

This module attaches the margin head to a trained network and chooses the mixing weight; the
head's fit is in margin_fit.py, its serving layers in margin_scores.py (all importable from here).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from prodcat import features as F
from prodcat.trainer.eval_choice import eval_level_outputs, mean_level_accuracy, model_probs, plateau_choice
from prodcat.trainer.margin_fit import SINGLE_CLASS_SCORE, UNSEEN_SCORE, MarginHead, TrainingFeatures  # noqa: F401
from prodcat.trainer.margin_scores import MarginScores, MixedScores

keras = tf.keras


def margin_inputs(feature_dims: dict) -> list[str]:
    """The transformed features the margin head reads (of those the model is given)."""
    return [name for name in (F.TOKENS, F.TEXT_EMBEDDING, F.MERCHANT) if name in feature_dims]


def with_margin_head(model: keras.Model, head: MarginHead, n_levels: int, weight: float = 0.0) -> keras.Model:
    """`model` with each level's distribution mixed with the margin head's scores (same inputs;
    the model's other outputs unchanged)."""
    inputs = dict(model.input)
    for name, spec in ((F.TOKENS, dict(shape=(None,), sparse=True, dtype=tf.int64)),
                       (F.MERCHANT, dict(shape=(None,), sparse=True, dtype=tf.int64)),
                       (F.TEXT_EMBEDDING, dict(shape=(head.embedding_dim,), dtype=tf.float32))):
        needed = {F.TOKENS: True, F.MERCHANT: head.merchant_map.size > 0, F.TEXT_EMBEDDING: head.embedding_dim > 0}[name]
        if needed and name not in inputs:
            inputs[name] = keras.Input(name=name, **spec)
    network = model({name: inputs[name] for name in model.input})
    scores = MarginScores(head, name="margin_scores")({name: inputs[name] for name in margin_inputs(inputs)})
    outputs = dict(network)
    for level in range(1, n_levels + 1):
        name = F.level_output(level)
        outputs[name] = MixedScores(weight, name=name)([network[name], scores[level - 1]])  # same output names
    return keras.Model(inputs=inputs, outputs=outputs, name="prodcat_with_margin_head")


def mixed_layers(model: keras.Model) -> list[MixedScores]:
    return [layer for layer in model.layers if isinstance(layer, MixedScores)]


def choose_weight(network: keras.Model, scorer: MarginScores, eval_data: tf.data.Dataset, n_levels: int,
                  grid: Sequence[float]) -> tuple[float, dict[float, float]]:
    """The weight (from `grid`) whose mixed distributions do best on the eval split, by
    `plateau_choice` of each candidate's mean per-level accuracy. Returns it and every accuracy."""
    (probs, scores), labels = eval_level_outputs(
        eval_data, n_levels, model_probs(network, n_levels),
        lambda features: scorer({name: features[name] for name in margin_inputs(features)}))
    log_probs = [None if p is None else np.log(np.maximum(p, 1e-30)) for p in probs]
    accuracy = {}
    for weight in sorted({float(w) for w in grid}):
        mixed = [None if p is None else p + weight * s for p, s in zip(log_probs, scores)]
        value = mean_level_accuracy(mixed, labels)
        if value is not None:
            accuracy[weight] = value
    if not accuracy:  # no labelled eval products: nothing to choose by
        return 0.0, {}
    return plateau_choice(accuracy), accuracy
