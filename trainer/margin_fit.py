"""The margin head's fit: per-level linear SVMs (liblinear) on the training split, in numpy.

One job: collect the training split as matrices (`TrainingFeatures`), build the margin head's
design matrix from them (sublinear TF-IDF in two L2-normalised blocks, the sentence embedding, the
shop) and fit one LinearSVC per taxonomy level (`MarginHead`), before the network trains. The
serving graph recomputes the same features in TF ops (margin_scores.py); why there is a margin
head at all, and how it is mixed with the network: margin.py.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from scipy import sparse

from prodcat import features as F
from prodcat.config import MarginHeadConfig
from prodcat.trainer.statistics import inverse_document_frequency
from prodcat.trainer.text import char_bucket_offset

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
