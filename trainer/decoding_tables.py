"""The decoder's per-class constants, computed from the taxonomy and the config: each class's
confidence floor, the classes where training labels end, and the calibration of a level.

They are plain arrays (one TensorFlow op aside), so re-exporting a model with new thresholds
recomputes them without the model (`prodcat tune-thresholds --export`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from prodcat.config import ThresholdConfig
from prodcat.sensitive import sensitive_roots
from prodcat.taxonomy import Taxonomy


class ThresholdError(ValueError):
    """A threshold override naming a path the taxonomy does not have."""


def threshold_vectors(taxonomy: Taxonomy, thresholds: ThresholdConfig) -> list[np.ndarray]:
    """Per level, the confidence floor of every class: the level's default, raised by overrides.

    An override applies to its category and every descendant; where several apply, the
    strictest wins. Sensitive subtrees the taxonomy lacks are skipped; explicit overrides must exist.
    """
    vectors = [
        np.full(size, thresholds.for_level(level), dtype=np.float32)
        for level, size in enumerate(taxonomy.level_sizes(), start=1)
    ]
    floors: list[tuple[str, float]] = []
    for override in thresholds.overrides:
        node = taxonomy.resolve(override.path)
        if node is None:
            raise ThresholdError(f"threshold override path {override.path!r} is not in the taxonomy")
        floors.append((node.id, override.min_confidence))
    floors += [(root, thresholds.sensitive.min_confidence) for root in sensitive_roots(taxonomy, thresholds.sensitive.paths)]
    for node_id, min_confidence in floors:
        for cid in taxonomy.subtree(node_id):
            level = taxonomy[cid].level
            index = taxonomy.level_index(level, cid)
            vectors[level - 1][index] = max(vectors[level - 1][index], min_confidence)
    return vectors


def calibrated(probs: tf.Tensor, temperature: float) -> tf.Tensor:
    """softmax(log p / T): temperature scaling of a level's probabilities (same argmax)."""
    if temperature == 1.0:
        return probs
    return tf.nn.softmax(tf.math.log(tf.maximum(probs, 1e-12)) / temperature, axis=-1)


def label_end_masks(taxonomy: Taxonomy, seen_classes: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Per level, the classes training products were labelled with and none deeper in their
    subtree: where the training data stops supporting a finer choice."""
    seen = [np.asarray(s, bool) for s in seen_classes]
    ends = []
    for level, mask in enumerate(seen, start=1):
        deeper = np.zeros_like(mask)
        if level < taxonomy.depth:
            parents = [taxonomy.level_index(level, taxonomy[c].parent) for c in taxonomy.level_ids(level + 1)]
            np.logical_or.at(deeper, np.asarray(parents, np.int64)[seen[level]], True)
        ends.append(mask & ~deeper)
    return ends


def stop_where_labels_stop(choices: Sequence[tf.Tensor], label_ends: Sequence[tf.Tensor]) -> list[tf.Tensor]:
    """Per level, the decoded class ([batch], -1 past the path's end) with every level below a
    category where the training labels of its subtree end (`label_end_masks`) dropped."""
    ended = tf.zeros_like(choices[0], dtype=tf.bool)
    cut = []
    for choice, ends in zip(choices, label_ends):
        choice = tf.where(ended, tf.constant(-1, tf.int64), choice)
        ended = tf.logical_or(ended, tf.logical_and(choice >= 0, tf.gather(ends, tf.maximum(choice, 0))))
        cut.append(choice)
    return cut
