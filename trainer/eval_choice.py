"""Settings a trained model takes from the eval split: how far the scores of categories without
training products are held back, and (margin.py) the margin head's weight.

Both are chosen after training, on products training did not fit: with a split by shop, products
of shops the model has not seen, as a new merchant's will be. A candidate is judged by the mean
per-level accuracy it gives there, and the middle of the best plateau wins rather than the single
best point.

The offset of categories without training products (`model.unseen_class_offset`) is such a
setting: their name-only scores compete with the trained classes' scores, and how far they should
be held back depends on how much the heads learned. On a small training set, name scores held back
by the usual offset can take a trained class whole; on a large one with many new categories in
new shops they should compete more freely.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf
from scipy import ndimage

from prodcat import features as F
from prodcat.trainer.layers import UnseenClassScores

keras = tf.keras


def plateau_choice(accuracy: Mapping[float, float]) -> float:
    """The candidate whose accuracy, averaged with its neighbours' in the sorted grid (the ends
    repeated), is best, ties to the smaller: the middle of the best plateau rather than one eval
    split's luckiest point (a small eval split's peak is often noise where the test curve keeps climbing)."""
    values = sorted(accuracy)
    smoothed = ndimage.uniform_filter1d(np.array([accuracy[v] for v in values], np.float64), size=3, mode="nearest")
    best = int(np.argmax(np.round(smoothed, 9)))  # the first of equals: the smaller value
    return values[best]


def mean_level_accuracy(level_scores: Sequence[np.ndarray | None], level_labels: Sequence[np.ndarray]) -> float | None:
    """The mean over levels of the share of labelled products (label >= 0) whose best-scoring
    class is their label; None without a labelled product at any level."""
    per_level = []
    for scores, labels in zip(level_scores, level_labels):
        valid = labels >= 0
        if scores is not None and valid.any():
            per_level.append(float((scores[valid].argmax(axis=1) == labels[valid]).mean()))
    return float(np.mean(per_level)) if per_level else None


def unseen_class_layers(model: keras.Model) -> list[UnseenClassScores]:
    """The model's `UnseenClassScores` layers, nested models included."""
    return [layer for layer in model.submodules if isinstance(layer, UnseenClassScores)]


def choose_unseen_offset(model: keras.Model, eval_data: tf.data.Dataset, n_levels: int,
                         grid: Sequence[float]) -> tuple[float | None, dict[float, float]]:
    """Sets every level's unseen-class offset to the candidate of `grid` whose predictions do
    best on the eval split (`plateau_choice` of the mean per-level accuracy). Returns it and every
    accuracy; (None, {}) for a model where every category had training products (the offset then
    changes nothing), and the first candidate when no eval product is labelled."""
    layers = [layer for layer in unseen_class_layers(model) if not np.all(layer.seen.numpy() > 0.5)]
    candidates = sorted({float(offset) for offset in grid})
    if not layers or not candidates:
        return None, {}
    accuracy = {}
    for offset in candidates:
        for layer in layers:
            layer.offset.assign(offset)
        (probs,), labels = eval_level_outputs(eval_data, n_levels, model_probs(model, n_levels))
        value = mean_level_accuracy(probs, labels)
        if value is not None:
            accuracy[offset] = value
    chosen = plateau_choice(accuracy) if accuracy else candidates[0]
    for layer in layers:
        layer.offset.assign(chosen)
    return chosen, accuracy


# Per level, a model's scores of a batch of eval features.
LevelScorer = Callable[[Mapping[str, tf.Tensor]], Sequence[tf.Tensor]]


def model_probs(model: keras.Model, n_levels: int) -> LevelScorer:
    """The model's per-level probabilities, as a scorer for `eval_level_outputs`."""
    def score(features: Mapping[str, tf.Tensor]) -> list[tf.Tensor]:
        outputs = model({name: features[name] for name in model.input}, training=False)
        return [outputs[F.level_output(k + 1)] for k in range(n_levels)]
    return score


def eval_level_outputs(eval_data: tf.data.Dataset, n_levels: int,
                       *scorers: LevelScorer) -> tuple[list[list[np.ndarray | None]], list[np.ndarray]]:
    """One pass over the eval split: per scorer, its scores per level, and the labels per level."""
    scores = [[[] for _ in range(n_levels)] for _ in scorers]
    labels = [[] for _ in range(n_levels)]
    for features, batch_labels in eval_data:
        for collected, scorer in zip(scores, scorers):
            for k, values in enumerate(scorer(features)):
                collected[k].append(np.asarray(values))
        for k in range(n_levels):
            labels[k].append(np.reshape(batch_labels[F.level_output(k + 1)].numpy(), [-1]))
    return ([[np.concatenate(v) if v else None for v in per_level] for per_level in scores],
            [np.concatenate(y) if y else np.zeros(0, np.int64) for y in labels])
