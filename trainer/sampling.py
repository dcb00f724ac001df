"""Class-balanced resampling of the training stream: rare categories drawn more often, frequent ones less.

Class weights re-weigh the loss of the products there are; resampling changes which products a
step sees, so a category with 3 examples is seen in many batches instead of weighing heavily in
a few. Both are measured in the ablation benchmark; they compose (the weights are then computed
on the resampled distribution, so the correction is not applied twice).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from prodcat import features as F

SAMPLING_POWER = {"none": 1.0, "sqrt": 0.5, "uniform": 0.0}


def target_distribution(counts: np.ndarray, power: float) -> np.ndarray:
    """Category c drawn in proportion to count_c ** power (0: every seen category equally, 1: as in the data)."""
    counts = np.asarray(counts, np.float64)
    target = np.where(counts > 0, np.power(np.maximum(counts, 1.0), power), 0.0)
    if target.sum() <= 0:
        raise ValueError("cannot resample: the training data has no labelled product")
    return target / target.sum()


def resample_by_category(
    dataset: tf.data.Dataset, counts: np.ndarray, power: float, batch_size: int, seed: int, keep_flat_label: bool,
) -> tf.data.Dataset:
    """An endless stream of batches whose products follow `target_distribution(counts, power)`.

    `dataset` yields (features, labels) batches whose labels carry each product's own category
    (`F.FLAT_OUTPUT`, counted in `counts`). tf.data's rejection resampling accepts a product of
    category c with probability proportional to target_c / initial_c over a repeated pass, which
    under-samples frequent categories and, through the repetition, over-samples rare ones. The
    caller fixes the epoch length (steps per epoch).
    """
    counts = np.asarray(counts, np.float64)
    seen = np.flatnonzero(counts > 0)  # the sampler's classes: categories with training products
    target = target_distribution(counts[seen], power)  # raises when there are none
    compact = np.full(counts.size, -1, np.int32)
    compact[seen] = np.arange(seen.size, dtype=np.int32)
    compact_table = tf.constant(compact)
    initial = counts[seen] / counts[seen].sum()

    def category(features: dict, labels: dict) -> tf.Tensor:
        del features
        return tf.gather(compact_table, labels[F.FLAT_OUTPUT])

    def drop_category(_category: tf.Tensor, example: tuple) -> tuple:
        features, labels = example
        if not keep_flat_label:
            labels = {name: value for name, value in labels.items() if name != F.FLAT_OUTPUT}
        return features, labels

    stream = dataset.unbatch().repeat()
    stream = stream.rejection_resample(category, target_dist=target.astype(np.float32),
                                       initial_dist=initial.astype(np.float32), seed=seed)
    return stream.map(drop_category).batch(batch_size).prefetch(tf.data.AUTOTUNE)
