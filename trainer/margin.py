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
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf
from scipy import ndimage, sparse

from prodcat import features as F
from prodcat.config import MarginHeadConfig
from prodcat.trainer.statistics import inverse_document_frequency
from prodcat.trainer.text import char_bucket_offset

keras = tf.keras
_LOG = logging.getLogger("prodcat.trainer")
UNSEEN_SCORE = -1.0  # a class without training products: the score of a clear "no" in one-vs-rest
SINGLE_CLASS_SCORE = 1.0  # a level whose training products all share one class: always "yes"


@dataclasses.dataclass
class TrainingFeatures:
    """The training split as matrices: token counts per bucket, sentence embeddings, shop ids, and
    the class index per level (-1 where a product's category is shallower)."""

    counts: sparse.csr_matrix  # [products, token buckets]
    embeddings: np.ndarray | None  # [products, dim]
    merchants: sparse.csr_matrix | None  # [products, merchant buckets], 0/1
    labels: np.ndarray  # [products, levels]

    @classmethod
    def collect(cls, dataset: tf.data.Dataset, n_levels: int, token_buckets: int,
                merchant_buckets: int | None) -> TrainingFeatures:
        """One pass over (features, per-level labels) batches."""
        counts, embeddings, merchants, labels = [], [], [], []
        for features, batch_labels in dataset:
            counts.append(_csr(features[F.TOKENS], token_buckets))
            if F.TEXT_EMBEDDING in features:
                embeddings.append(features[F.TEXT_EMBEDDING].numpy().astype(np.float32))
            if merchant_buckets and F.MERCHANT in features:
                merchants.append(_csr(features[F.MERCHANT], merchant_buckets, binary=True))
            labels.append(np.stack([np.reshape(batch_labels[F.level_output(k)].numpy(), [-1])
                                    for k in range(1, n_levels + 1)], axis=1))
        return cls(sparse.vstack(counts).tocsr(), np.concatenate(embeddings) if embeddings else None,
                   sparse.vstack(merchants).tocsr() if merchants else None,
                   np.concatenate(labels).astype(np.int64) if labels else np.zeros((0, n_levels), np.int64))


def _csr(ids: tf.SparseTensor, width: int, binary: bool = False) -> sparse.csr_matrix:
    """A batch of sparse ids as a [rows, width] count (or 0/1) matrix."""
    rows = ids.indices[:, 0].numpy()
    matrix = sparse.csr_matrix((np.ones(rows.size, np.float32), (rows, ids.values.numpy())),
                               shape=(int(ids.dense_shape[0]), width))
    matrix.sum_duplicates()
    if binary:
        matrix.data[:] = 1.0
    return matrix


@dataclasses.dataclass
class MarginHead:
    """A fitted margin head: the feature layout and one table of SVM weights for every level.

    Rows of `weights`: the kept token buckets (ascending, so the word buckets come first), then
    the embedding's dimensions, then the shops seen in training. Columns: the classes with
    training products of every level side by side; `columns` maps each class of the taxonomy's
    levels (level 1 first) to its column, or to -1 (no training products).
    """

    row_map: np.ndarray  # [token buckets] -> token row, -1: not kept
    idf: np.ndarray  # [token rows]
    word_rows: int  # token rows below this are words/bigrams, the rest character n-grams
    embedding_dim: int
    merchant_map: np.ndarray  # [merchant buckets] -> shop row (after tokens and embedding), -1: unseen
    weights: np.ndarray  # [rows, seen classes]
    bias: np.ndarray  # [seen classes]
    columns: np.ndarray  # [sum of level sizes] -> column, -1
    level_sizes: list[int]
    fit_seconds: float = 0.0

    @property
    def token_rows(self) -> int:
        return int(self.idf.size)

    def summary(self) -> dict:
        return {"token_rows": self.token_rows, "embedding_dim": self.embedding_dim,
                "shops": int((self.merchant_map >= 0).sum()), "classes_per_level": self.classes_per_level(),
                "parameters": int(self.weights.size), "fit_seconds": round(self.fit_seconds, 1)}

    def classes_per_level(self) -> list[int]:
        bounds = np.cumsum([0, *self.level_sizes])
        return [int((self.columns[bounds[k]:bounds[k + 1]] >= 0).sum()) for k in range(len(self.level_sizes))]

    # -- the design matrix, exactly as MarginScores computes it
    def design(self, data: TrainingFeatures) -> sparse.csr_matrix:
        kept = np.flatnonzero(self.row_map >= 0)
        counts = data.counts[:, kept].tocsr().astype(np.float64)
        counts.data = 1.0 + np.log(counts.data)
        tfidf = counts.multiply(self.idf[None, :].astype(np.float64)).tocsr()
        blocks = [_l2_rows(tfidf[:, :self.word_rows]), _l2_rows(tfidf[:, self.word_rows:])]
        if self.embedding_dim:
            blocks.append(sparse.csr_matrix(_l2_dense(data.embeddings)))
        shops = np.flatnonzero(self.merchant_map >= 0)
        if shops.size:
            blocks.append(data.merchants[:, shops])
        return sparse.hstack(blocks).tocsr()

    @classmethod
    def fit(cls, data: TrainingFeatures, level_sizes: Sequence[int], config: MarginHeadConfig,
            seed: int = 0) -> MarginHead:
        """Chooses the features from the training split and fits one LinearSVC per level."""
        from sklearn.svm import LinearSVC

        started = time.time()
        buckets = data.counts.shape[1]
        document_frequency = np.asarray((data.counts > 0).sum(axis=0)).ravel()
        kept = np.flatnonzero(document_frequency >= config.min_df)
        kept = np.sort(kept[np.argsort(-document_frequency[kept], kind="stable")][:config.max_features])
        row_map = np.full(buckets, -1, np.int64)
        row_map[kept] = np.arange(kept.size)
        documents = data.counts.shape[0]
        idf = inverse_document_frequency(document_frequency[kept], documents)
        word_rows = int(np.searchsorted(kept, char_bucket_offset(buckets)))
        embedding_dim = 0 if data.embeddings is None else int(data.embeddings.shape[1])
        merchant_map = np.full(0 if data.merchants is None else data.merchants.shape[1], -1, np.int64)
        if data.merchants is not None:
            shops = np.flatnonzero(np.asarray(data.merchants.sum(axis=0)).ravel() > 0)
            merchant_map[shops] = kept.size + embedding_dim + np.arange(shops.size)
        head = cls(row_map, idf, word_rows, embedding_dim, merchant_map, np.zeros((0, 0), np.float32),
                   np.zeros(0, np.float32), np.zeros(0, np.int64), [int(n) for n in level_sizes])
        x = head.design(data)
        level_weights, level_bias, columns = [], [], []
        n_columns = 0
        for level, size in enumerate(level_sizes):
            y = data.labels[:, level]
            rows = y >= 0
            classes = np.unique(y[rows])
            level_columns = np.full(size, -1, np.int64)
            level_columns[classes] = n_columns + np.arange(classes.size)
            columns.append(level_columns)
            n_columns += classes.size
            if classes.size == 0:
                continue
            if classes.size == 1:  # nothing to separate: the one class always scores "yes"
                level_weights.append(np.zeros((x.shape[1], 1), np.float32))
                level_bias.append(np.full(1, SINGLE_CLASS_SCORE, np.float32))
                continue
            svm = LinearSVC(C=config.c, max_iter=config.max_iter, random_state=seed, dual=True)
            svm.fit(x[rows], y[rows])
            coef = svm.coef_ if classes.size > 2 else np.concatenate([-svm.coef_, svm.coef_])  # binary: one row
            bias = svm.intercept_ if classes.size > 2 else np.concatenate([-svm.intercept_, svm.intercept_])
            level_weights.append(coef.T.astype(np.float32))
            level_bias.append(bias.astype(np.float32))
        head.weights = (np.concatenate(level_weights, axis=1) if level_weights
                        else np.zeros((x.shape[1], 0), np.float32))
        head.bias = np.concatenate(level_bias) if level_bias else np.zeros(0, np.float32)
        head.columns = np.concatenate(columns)
        head.fit_seconds = time.time() - started
        return head

    def decision_function(self, data: TrainingFeatures) -> list[np.ndarray]:
        """Per level, every class's score (what MarginScores computes; for tests and tools)."""
        seen = self.design(data) @ self.weights + self.bias
        padded = np.concatenate([seen, np.full((seen.shape[0], 1), UNSEEN_SCORE, np.float32)], axis=1)
        full = padded[:, np.where(self.columns >= 0, self.columns, seen.shape[1])]
        return np.split(full, np.cumsum(self.level_sizes)[:-1], axis=1)


def _l2_rows(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    return sparse.diags(np.where(norms > 0, 1.0 / np.maximum(norms, 1e-30), 0.0)) @ matrix


def _l2_dense(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


# ----------------------------------------------------------------------------- serving graph
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
    probs, scores, labels = ([[] for _ in range(n_levels)] for _ in range(3))
    for features, batch_labels in eval_data:
        outputs = network({name: features[name] for name in network.input}, training=False)
        level_scores = scorer({name: features[name] for name in margin_inputs(features)})
        for k in range(n_levels):
            probs[k].append(outputs[F.level_output(k + 1)].numpy())
            scores[k].append(level_scores[k].numpy())
            labels[k].append(np.reshape(batch_labels[F.level_output(k + 1)].numpy(), [-1]))
    accuracy = {}
    for weight in sorted({float(w) for w in grid}):
        per_level = []
        for p, s, y in zip(probs, scores, labels):
            y = np.concatenate(y) if y else np.zeros(0, np.int64)
            valid = y >= 0
            if valid.any():
                mixed = np.log(np.maximum(np.concatenate(p)[valid], 1e-30)) + weight * np.concatenate(s)[valid]
                per_level.append(float((mixed.argmax(axis=1) == y[valid]).mean()))
        if per_level:
            accuracy[weight] = float(np.mean(per_level))
    if not accuracy:  # no labelled eval products: nothing to choose by
        return 0.0, {}
    return plateau_choice(accuracy), accuracy


def plateau_choice(accuracy: Mapping[float, float]) -> float:
    """The candidate whose accuracy, averaged with its neighbours' in the sorted grid (the ends
    repeated), is best, ties to the smaller: the middle of the best plateau rather than one eval
    split's luckiest point (a small eval split's peak is often noise where the test curve keeps climbing)."""
    weights = sorted(accuracy)
    smoothed = ndimage.uniform_filter1d(np.array([accuracy[w] for w in weights], np.float64), size=3, mode="nearest")
    best = int(np.argmax(np.round(smoothed, 9)))  # the first of equals: the smaller weight
    return weights[best]
