"""The custom Keras layers of prodcat's model, registered under `prodcat>` for reloading.

An exported model is reloaded by name (`tf.keras.models.load_model`, e.g. to re-tune its
thresholds), so class names and `get_config` keys stay as they are; `trainer.model` imports this
module, which is what registers them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from prodcat.trainer.statistics import WideFeatures

keras = tf.keras


@keras.utils.register_keras_serializable(package="prodcat")
class HashedEmbeddingBag(keras.layers.Layer):
    """A learned bag of n-grams: the embeddings of a product's hashed token ids, pooled.

    Without `idf` the pool is the mean. With `idf` (one weight per bucket, from the training
    data) it is the TF-IDF-weighted sum, L2-normalised (`sqrtn`): rare, telling tokens (brands,
    codes) then outweigh the many character n-grams every title shares.
    """

    def __init__(self, buckets: int, dim: int, zero_init: bool = False, use_idf: bool = False,
                 idf: np.ndarray | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.buckets, self.dim, self.zero_init = buckets, dim, zero_init
        self.use_idf = bool(use_idf or idf is not None)
        self._idf = idf

    def build(self, input_shape) -> None:  # noqa: ANN001 (Keras signature)
        # zero_init: an id never seen in training (a new shop) contributes exactly nothing.
        initializer = "zeros" if self.zero_init else keras.initializers.RandomNormal(stddev=0.05)
        self.table = self.add_weight(name="table", shape=(self.buckets, self.dim), initializer=initializer)
        if self.use_idf:
            idf = self._idf
            self.idf = self.add_weight(
                name="idf", shape=(self.buckets,), trainable=False,
                initializer=(lambda shape, dtype=None: tf.constant(idf, tf.float32)) if idf is not None else "ones",
            )
        super().build(input_shape)

    def call(self, ids: tf.SparseTensor) -> tf.Tensor:
        if not self.use_idf:
            return tf.nn.safe_embedding_lookup_sparse(self.table, ids, combiner="mean")
        weights = tf.SparseTensor(ids.indices, tf.gather(self.idf, ids.values), ids.dense_shape)
        return tf.nn.safe_embedding_lookup_sparse(self.table, ids, weights, combiner="sqrtn")

    def get_config(self) -> dict:
        return {**super().get_config(), "buckets": self.buckets, "dim": self.dim, "zero_init": self.zero_init,
                "use_idf": self.use_idf}


@keras.utils.register_keras_serializable(package="prodcat")
class WideLinear(keras.layers.Layer):
    """A linear model on the TF-IDF vector of a product's hashed n-grams, straight to the logits of
    every taxonomy level: one weight per (n-gram, class), as a TF-IDF + linear SVM has.

    The deep path shares one small n-gram embedding among all classes; this path lets a rare code
    or brand point at its own category. One table holds the classes with training products of all
    levels side by side, so a product's n-grams are looked up once. Weights start at zero (the deep
    model's scores unchanged); unseen classes get no wide score at all.
    """

    def __init__(self, wide: WideFeatures | None = None, buckets: int = 0, rows: int = 0,
                 n_classes: Sequence[int] = (), n_seen: int = 0, **kwargs) -> None:
        if kwargs.pop("gain", 1.0) != 1.0:  # saved by models exported before `model.wide_gain` was removed
            raise ValueError("WideLinear: a wide gain other than 1 is no longer supported")
        super().__init__(**kwargs)
        self._initial = None
        if wide is not None:
            seen = np.concatenate(wide.seen_classes)
            buckets, rows, n_classes, n_seen = wide.row_map.size, wide.rows, [s.size for s in wide.seen_classes], seen.sum()
            # each class's column in the table; classes without training products read an extra zero column
            columns = np.full(seen.size, n_seen, np.int64)
            columns[seen] = np.arange(n_seen)
            self._initial = (wide.row_map, wide.idf, columns)
        self.buckets, self.rows, self.n_seen = int(buckets), int(rows), int(n_seen)
        self.n_classes = [int(n) for n in n_classes]

    def build(self, input_shape) -> None:  # noqa: ANN001 (Keras signature)
        def constant(i: int):  # noqa: ANN202
            return (lambda shape, dtype=None: tf.constant(self._initial[i], dtype)) if self._initial else "zeros"

        self.row_map = self.add_weight(name="row_map", shape=(self.buckets,), dtype=tf.int64, trainable=False,
                                       initializer=constant(0))
        self.idf = self.add_weight(name="idf", shape=(self.rows,), trainable=False, initializer=constant(1))
        self.columns = self.add_weight(name="columns", shape=(sum(self.n_classes),), dtype=tf.int64, trainable=False,
                                       initializer=constant(2))
        self.table = self.add_weight(name="table", shape=(self.rows, self.n_seen), initializer="zeros")
        super().build(input_shape)

    def call(self, ids: tf.SparseTensor) -> list[tf.Tensor]:
        rows = tf.gather(self.row_map, ids.values)
        mapped = tf.sparse.retain(tf.SparseTensor(ids.indices, rows, ids.dense_shape), rows >= 0)
        weights = tf.SparseTensor(mapped.indices, tf.gather(self.idf, mapped.values), mapped.dense_shape)
        seen_scores = tf.nn.safe_embedding_lookup_sparse(self.table, mapped, weights, combiner="sqrtn")
        scores = tf.gather(tf.pad(seen_scores, [[0, 0], [0, 1]]), self.columns, axis=1)
        return tf.split(scores, self.n_classes, axis=1)

    def get_config(self) -> dict:
        return {**super().get_config(), "buckets": self.buckets, "rows": self.rows, "n_classes": self.n_classes,
                "n_seen": self.n_seen}


class CategoryNames(keras.layers.Layer):
    """A layer holding a level's frozen category-name embeddings ([n_classes, dim], not trained);
    subclasses add their learned scales in `build` and score inputs against `self.labels`."""

    def __init__(self, label_embeddings: np.ndarray | None = None, n_classes: int = 0, dim: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        if label_embeddings is not None:
            n_classes, dim = label_embeddings.shape
        self.n_classes, self.dim = int(n_classes), int(dim)
        self._initial = label_embeddings

    def build(self, input_shape) -> None:  # noqa: ANN001 (Keras signature)
        initial = self._initial
        self.labels = self.add_weight(
            name="label_embeddings", shape=(self.n_classes, self.dim), trainable=False,
            initializer=(lambda shape, dtype=None: tf.constant(initial, dtype=tf.float32)) if initial is not None else "zeros",
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "n_classes": self.n_classes, "dim": self.dim}


@keras.utils.register_keras_serializable(package="prodcat")
class NameScores(CategoryNames):
    """A level's classes scored by the frozen embeddings of their path names against one or more
    product vectors (the heads' learned query; the plain sentence embedding, i.e. the zero-shot
    score), each by cosine similarity times its own learned scale. A category with few or no
    training products still gets a meaningful score from its name, so it can be predicted.

    sum_i scale_i * cos(x_i, name) = (sum_i scale_i * x_i / |x_i|) . name, so however many vectors
    there are, the names matrix is multiplied once: at an online server's small batches reading
    that matrix is most of the cost.
    """

    def __init__(self, label_embeddings: np.ndarray | None = None, n_classes: int = 0, dim: int = 0, n_inputs: int = 1,
                 **kwargs) -> None:
        super().__init__(label_embeddings, n_classes, dim, **kwargs)
        self.n_inputs = int(n_inputs)

    def build(self, input_shape) -> None:  # noqa: ANN001 (Keras signature)
        super().build(input_shape)
        self.scales = self.add_weight(name="scales", shape=(self.n_inputs,), initializer=keras.initializers.Constant(10.0))
        keras.layers.Layer.build(self, input_shape)

    def call(self, inputs: tf.Tensor | list[tf.Tensor]) -> tf.Tensor:
        vectors = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(vectors) != self.n_inputs:
            raise ValueError(f"{self.name} expects {self.n_inputs} input vector(s), got {len(vectors)}")
        combined = tf.add_n([self.scales[i] * tf.math.l2_normalize(v, axis=-1) for i, v in enumerate(vectors)])
        return tf.matmul(combined, self.labels, transpose_b=True)

    def get_config(self) -> dict:
        return {**super().get_config(), "n_inputs": self.n_inputs}


@keras.utils.register_keras_serializable(package="prodcat")
class UnseenClassScores(keras.layers.Layer):
    """A level's scores from its class-specific terms (per-class weights, wide path) and its
    class-generic ones (similarity to the category names), for a level where some classes have no
    training products.

    A softmax trained with such classes in only learns that they never occur, which is true of the
    training shops and false of the next shop: every step pushes their scores down, through their
    own weights and through the parts all classes share. So in training they are left out of the
    softmax, and at serving they are scored by the generic terms alone, less `offset` (calibrated
    stacking), as the zero-shot peer scores every class. The offset is a weight, so the trainer can
    set it after training (`eval_choice.choose_unseen_offset`) and the export keeps what it chose.
    """

    def __init__(self, seen: np.ndarray | None = None, n_classes: int = 0, offset: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self._initial = None if seen is None else np.asarray(seen, np.float32)
        self.n_classes = int(n_classes if seen is None else len(seen))
        self.initial_offset = float(offset)

    def build(self, input_shape) -> None:  # noqa: ANN001 (Keras signature)
        initial = self._initial
        self.seen = self.add_weight(
            name="seen", shape=(self.n_classes,), trainable=False,
            initializer=(lambda shape, dtype=None: tf.constant(initial, dtype)) if initial is not None else "zeros")
        self.offset = self.add_weight(name="offset", shape=(), trainable=False,
                                      initializer=keras.initializers.Constant(self.initial_offset))
        super().build(input_shape)

    def call(self, inputs: list[tf.Tensor], training: bool | None = None) -> tf.Tensor:
        specific, generic = inputs
        seen = tf.broadcast_to(self.seen > 0.5, tf.shape(specific))
        if training:
            return tf.where(seen, specific + generic, tf.fill(tf.shape(specific), -1e9))
        return tf.where(seen, specific + generic, generic - self.offset)

    def get_config(self) -> dict:
        return {**super().get_config(), "n_classes": self.n_classes, "offset": self.initial_offset}
