"""The margin head in the serving graph: Keras layers for the SVMs' scores and their mix with the network.

One job: `MarginScores` computes a fitted `MarginHead`'s scores from the transformed features in TF
ops (`MarginHead.design` and the product with its weights, frozen), and `MixedScores` mixes one
level's network distribution with them as softmax(log p + weight * scores). Both are registered
Keras objects, so a saved model with the margin head reloads (trainer.model imports margin.py,
which imports this module).
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from prodcat import features as F
from prodcat.trainer.margin_fit import UNSEEN_SCORE, MarginHead

keras = tf.keras


@keras.utils.register_keras_serializable(package="prodcat")
class MarginScores(keras.layers.Layer):
    """The fitted SVMs' scores of every level's classes, from the transformed features
    (`MarginHead.design` in TF ops: dedupe each product's tokens, sublinear TF-IDF, one L2 norm per
    block, one sparse-dense product for all levels). Weights are frozen."""

    def __init__(self, head: MarginHead | None = None, token_buckets: int = 0, token_rows: int = 0,
                 word_rows: int = 0, embedding_dim: int = 0, merchant_buckets: int = 0, rows: int = 0,
                 seen: int = 0, level_sizes: Sequence[int] = (), **kwargs) -> None:
        kwargs["trainable"] = False  # frozen (also when a saved config says so)
        super().__init__(**kwargs)
        self._head = head
        if head is not None:
            token_buckets, token_rows, word_rows = head.row_map.size, head.token_rows, head.word_rows
            embedding_dim, merchant_buckets = head.embedding_dim, head.merchant_map.size
            rows, seen, level_sizes = head.weights.shape[0], head.weights.shape[1], head.level_sizes
        self.token_buckets, self.token_rows, self.word_rows = int(token_buckets), int(token_rows), int(word_rows)
        self.embedding_dim, self.merchant_buckets = int(embedding_dim), int(merchant_buckets)
        self.rows, self.seen, self.level_sizes = int(rows), int(seen), [int(n) for n in level_sizes]

    def build(self, input_shape) -> None:  # noqa: ANN001 (Keras signature)
        head = self._head

        def weight(name: str, shape: tuple, dtype: tf.DType, value: str) -> tf.Variable:
            initial = (lambda s, dtype=None: tf.constant(getattr(head, value), dtype)) if head is not None else "zeros"
            return self.add_weight(name=name, shape=shape, dtype=dtype, trainable=False, initializer=initial)

        self.row_map = weight("row_map", (self.token_buckets,), tf.int64, "row_map")
        self.idf = weight("idf", (self.token_rows,), tf.float32, "idf")
        self.merchant_map = weight("merchant_map", (self.merchant_buckets,), tf.int64, "merchant_map")
        self.table = weight("weights", (self.rows, self.seen), tf.float32, "weights")
        self.bias = weight("bias", (self.seen,), tf.float32, "bias")
        self.columns = weight("columns", (sum(self.level_sizes),), tf.int64, "columns")
        super().build(input_shape)

    def call(self, inputs: dict[str, tf.Tensor | tf.SparseTensor]) -> list[tf.Tensor]:
        tokens = inputs[F.TOKENS]
        batch = tf.cast(tokens.dense_shape[0], tf.int64)
        rows = tf.gather(self.row_map, tokens.values)
        kept = rows >= 0
        product = tf.boolean_mask(tokens.indices[:, 0], kept)
        rows = tf.boolean_mask(rows, kept)
        # one entry per (product, kept bucket), with its count
        pairs, _, counts = tf.unique_with_counts(product * self.token_rows + rows)
        product, rows = pairs // self.token_rows, pairs % self.token_rows
        values = (1.0 + tf.math.log(tf.cast(counts, tf.float32))) * tf.gather(self.idf, rows)
        block = product * 2 + tf.cast(rows >= self.word_rows, tf.int64)  # words, then character n-grams
        norms = tf.sqrt(tf.math.unsorted_segment_sum(tf.square(values), block, batch * 2))
        values = values / tf.gather(norms, block)
        x = tf.SparseTensor(tf.stack([product, rows], axis=1), values, tf.stack([batch, self.rows]))
        scores = tf.sparse.sparse_dense_matmul(x, self.table) + self.bias
        if self.embedding_dim:
            embedding = tf.math.l2_normalize(inputs[F.TEXT_EMBEDDING], axis=-1)
            start = self.token_rows
            scores += tf.matmul(embedding, self.table[start:start + self.embedding_dim])
        if self.merchant_buckets:
            merchant = inputs[F.MERCHANT]
            shop_rows = tf.gather(self.merchant_map, merchant.values)
            seen = shop_rows >= 0
            shops = tf.SparseTensor(tf.stack([tf.boolean_mask(merchant.indices[:, 0], seen),
                                              tf.boolean_mask(shop_rows, seen)], axis=1),
                                    tf.ones(tf.reduce_sum(tf.cast(seen, tf.int32)), tf.float32),
                                    tf.stack([batch, self.rows]))
            scores += tf.sparse.sparse_dense_matmul(shops, self.table)
        padded = tf.pad(scores, [[0, 0], [0, 1]], constant_values=UNSEEN_SCORE)
        full = tf.gather(padded, tf.where(self.columns >= 0, self.columns, self.seen), axis=1)
        return tf.split(full, self.level_sizes, axis=1)

    def get_config(self) -> dict:
        return {**super().get_config(), "token_buckets": self.token_buckets, "token_rows": self.token_rows,
                "word_rows": self.word_rows, "embedding_dim": self.embedding_dim,
                "merchant_buckets": self.merchant_buckets, "rows": self.rows, "seen": self.seen,
                "level_sizes": self.level_sizes}


@keras.utils.register_keras_serializable(package="prodcat")
class MixedScores(keras.layers.Layer):
    """One level's served distribution: softmax(log p_network + weight * svm_scores).

    `weight` is a (non-trained) variable, so the value chosen on the eval split after training
    is set without rebuilding the model; 0 serves the network alone."""

    def __init__(self, weight: float = 0.0, **kwargs) -> None:
        kwargs["trainable"] = False
        super().__init__(**kwargs)
        self._initial = float(weight)

    def build(self, input_shape) -> None:  # noqa: ANN001 (Keras signature)
        self.weight = self.add_weight(name="weight", shape=(), trainable=False,
                                      initializer=keras.initializers.Constant(self._initial))
        super().build(input_shape)

    def call(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        probs, scores = inputs
        return tf.nn.softmax(tf.math.log(tf.maximum(probs, 1e-30)) + self.weight * scores, axis=-1)
