"""How near a product is to each category's name, as TensorFlow ops in the serving graph.

The trained heads know the categories and the kind of products the training shops sold; the
category names know every category, including those no training product had. Both the decoder's
name evidence (every level's decision) and its name fallback (the nearest category outright)
compare the product's sentence embedding with the path-name embedding of every category, each
level's cosine lowered by a penalty per level, so a name match goes only as deep as the product's
words support.

A second, shorter text may be matched too (`text.name_fields`: the title and the merchant's own
labels, without the description) and the nearer of the two counts: a long description dilutes
the words that name the category, and a merchant's vendor and collection names often name its
trade (a "Pure Fix Cycles" bicycle, a "Great Outdoor" bench).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf


class CategoryNameScores(tf.Module):
    """Cosine similarity of products to the category names of every level, and its maximum
    over each category's subtree."""

    def __init__(self, category_names: Sequence[tf.Tensor | np.ndarray], parent_index: Sequence[tf.Tensor],
                 level_penalty: float, name: str = "category_name_scores") -> None:
        """`category_names`: per level, [classes, dim]; `parent_index[k][j]`: the level-(k+1)
        index of the parent of class j of level k+2 (as the decoder holds it)."""
        super().__init__(name=name)
        self.names = list(category_names)
        # 1/|name| per class, so a product's cosine to every name costs one matrix product
        self.inverse_norms = [
            tf.constant(1.0 / np.maximum(np.linalg.norm(np.asarray(n), axis=1), 1e-12), tf.float32)
            for n in self.names]
        self.parent_index = list(parent_index)
        self.level_penalty = float(level_penalty)
        self.dim = int(self.names[0].shape[1])

    def level_scores(self, sentence: tf.Tensor, name_query: tf.Tensor | None = None) -> list[tf.Tensor]:
        """Per level, [batch, classes]: cosine to each category's name less the level penalty; with
        `name_query` (a second embedding of the same products), the larger of the two cosines."""
        scores = self._cosines(sentence)
        if name_query is not None:
            scores = [tf.maximum(a, b) for a, b in zip(scores, self._cosines(name_query))]
        return [s - self.level_penalty * (k + 1) for k, s in enumerate(scores)]

    def _cosines(self, embedding: tf.Tensor) -> list[tf.Tensor]:
        query = tf.math.l2_normalize(tf.cast(embedding, tf.float32), axis=-1)
        return [tf.matmul(query, tf.cast(names, tf.float32), transpose_b=True) * inverse_norms
                for names, inverse_norms in zip(self.names, self.inverse_norms)]

    def subtree_scores(self, sentence: tf.Tensor, name_query: tf.Tensor | None = None) -> list[tf.Tensor]:
        """Per level, [batch, classes]: the best level score in each category's subtree (itself
        included), so a category is as near as its nearest descendant: "Outdoor Furniture" for a
        garden chair whose words name only the chair."""
        scores = self.level_scores(sentence, name_query)
        for k in reversed(range(len(scores) - 1)):
            below = tf.math.unsorted_segment_max(tf.transpose(scores[k + 1]), self.parent_index[k],
                                                 num_segments=tf.shape(scores[k])[1])
            scores[k] = tf.maximum(scores[k], tf.transpose(below))  # childless: the lowest float, no effect
        return scores
