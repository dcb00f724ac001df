"""Class-balanced resampling of the training stream: rare categories drawn more often, frequent ones less.

Class weights re-weigh the loss of the products there are; resampling changes which products a
step sees, so a category with 3 examples is seen in many batches instead of weighing heavily in
a few. They compose (the weights are then computed on the resampled distribution, so the
correction is not applied twice).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from prodcat.taxonomy import Taxonomy

SAMPLING_POWER = {"none": 1.0, "sqrt": 0.5, "uniform": 0.0}
# The training label the sampler draws by: each product's own category, its index in
# `CategoryLayout` (-1: unlabelled). It exists only in the training stream, never in a model.
CATEGORY_LABEL = "category_label"


class CategoryLayout:
    """Every category of the taxonomy in one list (level 1's classes, then level 2's, ...), and for
    each level the class index of each category's ancestor there (-1 for shallower categories)."""

    def __init__(self, level_sizes: Sequence[int], ancestor_indices: Sequence[np.ndarray]) -> None:
        self.level_sizes = [int(n) for n in level_sizes]
        self.offsets = np.cumsum([0, *self.level_sizes[:-1]]).astype(np.int64)
        self.size = int(sum(self.level_sizes))
        self.ancestor_indices = [np.asarray(a, np.int64) for a in ancestor_indices]

    @classmethod
    def from_taxonomy(cls, taxonomy: Taxonomy) -> CategoryLayout:
        order = [cid for level in range(1, taxonomy.depth + 1) for cid in taxonomy.level_ids(level)]
        ancestors = [taxonomy.ancestors(cid) for cid in order]
        per_level = [
            np.array([taxonomy.level_index(k, chain[k - 1]) if len(chain) >= k else -1 for chain in ancestors])
            for k in range(1, taxonomy.depth + 1)
        ]
        return cls(taxonomy.level_sizes(), per_level)

    def level_counts(self, category_counts: np.ndarray) -> list[np.ndarray]:
        """Per level, each class's count when `category_counts` counts products by their own category."""
        category_counts = np.asarray(category_counts, np.float64)
        return [np.bincount(ancestors[ancestors >= 0], weights=category_counts[ancestors >= 0], minlength=size)
                for ancestors, size in zip(self.ancestor_indices, self.level_sizes)]

    def category_label(self, level_labels: Sequence[tf.Tensor]) -> tf.Tensor:
        """A product's own category in the list: its deepest level's class (-1: no label)."""
        category = tf.fill(tf.shape(level_labels[0]), tf.constant(-1, tf.int64))
        for offset, labels in zip(self.offsets, level_labels):
            labels = tf.cast(labels, tf.int64)
            category = tf.where(labels >= 0, labels + int(offset), category)
        return category


def target_distribution(counts: np.ndarray, power: float) -> np.ndarray:
    """Category c drawn in proportion to count_c ** power (0: every seen category equally, 1: as in the data)."""
    counts = np.asarray(counts, np.float64)
    target = np.where(counts > 0, np.power(np.maximum(counts, 1.0), power), 0.0)
    if target.sum() <= 0:
        raise ValueError("cannot resample: the training data has no labelled product")
    return target / target.sum()


def resample_by_category(
    dataset: tf.data.Dataset, counts: np.ndarray, power: float, batch_size: int, seed: int,
) -> tf.data.Dataset:
    """An endless stream of batches whose products follow `target_distribution(counts, power)`.

    `dataset` yields (features, labels) batches whose labels carry each product's own category
    (`CATEGORY_LABEL`, counted in `counts`); the stream's labels no longer do. tf.data's
    rejection resampling accepts a product of category c with probability proportional to
    target_c / initial_c over a repeated pass, which under-samples frequent categories and,
    through the repetition, over-samples rare ones. The caller fixes the epoch length.
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
        return tf.gather(compact_table, labels[CATEGORY_LABEL])

    def drop_category(_category: tf.Tensor, example: tuple) -> tuple:
        features, labels = example
        return features, {name: value for name, value in labels.items() if name != CATEGORY_LABEL}

    stream = dataset.unbatch().repeat()
    stream = stream.rejection_resample(category, target_dist=target.astype(np.float32),
                                       initial_dist=initial.astype(np.float32), seed=seed)
    return stream.map(drop_category).batch(batch_size).prefetch(tf.data.AUTOTUNE)
