"""What the trainer learns from one pass over the training data before it builds the model:
class counts, token document frequencies, and from them idf weights, class weights and the
wide path's vocabulary."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from prodcat import features as F
from prodcat.trainer.sampling import CATEGORY_LABEL


def inverse_document_frequency(document_frequency: np.ndarray, documents: int) -> np.ndarray:
    """Smoothed idf per bucket (scikit-learn's `smooth_idf`): log((1 + n) / (1 + df)) + 1."""
    return (np.log((1.0 + documents) / (1.0 + document_frequency)) + 1.0).astype(np.float32)


def class_weights(counts: np.ndarray, scheme: str) -> list[float] | None:
    """Smoothed inverse-frequency weights, scaled so the average training product weighs 1.

    Rare categories get more weight, but `inverse_sqrt` keeps a class with 5 examples from
    outweighing one with 5,000 by a factor of 1,000.
    """
    if scheme == "none" or counts.sum() == 0:
        return None
    power = 0.5 if scheme == "inverse_sqrt" else 1.0
    weights = np.where(counts > 0, 1.0 / np.maximum(counts, 1) ** power, 0.0)
    weights *= counts.sum() / max((weights * counts).sum(), 1e-12)
    return weights.astype(np.float32).tolist()


class WideFeatures:
    """What the wide path remembers: which hashed n-gram buckets get a weight per class (the ones
    in enough training products, most frequent first) with their idf, and per output the classes
    that have training products.

    Only seen buckets and seen classes get weights: a table over every bucket and every category
    of a large taxonomy would be billions of parameters, most of which no product could move.
    """

    def __init__(self, row_map: np.ndarray, idf: np.ndarray, seen_classes: Sequence[np.ndarray]) -> None:
        self.row_map = np.asarray(row_map, np.int64)
        self.idf = np.asarray(idf, np.float32)
        self.seen_classes = [np.asarray(s, bool) for s in seen_classes]

    @classmethod
    def from_training_statistics(
        cls, document_frequency: np.ndarray, documents: int, class_counts: Sequence[np.ndarray],
        max_features: int, min_df: int,
    ) -> WideFeatures:
        """Buckets in at least `min_df` training products, at most `max_features` of them."""
        df = np.asarray(document_frequency)
        kept = np.flatnonzero(df >= min_df)
        kept = kept[np.argsort(-df[kept], kind="stable")][:max_features]
        kept.sort()
        row_map = np.full(df.size, -1, np.int64)
        row_map[kept] = np.arange(kept.size)
        idf = inverse_document_frequency(df[kept], documents)
        return cls(row_map, idf, [np.asarray(c) > 0 for c in class_counts])

    @property
    def rows(self) -> int:
        return int(self.idf.size)


@dataclasses.dataclass
class TrainingStatistics:
    """One pass over (features, per-level labels) batches of the training split."""

    level_counts: list[np.ndarray]  # per level, training products per class
    category_counts: np.ndarray  # per category, products labelled with it (zeros without CATEGORY_LABEL)
    batches: int
    document_frequency: np.ndarray | None  # per token bucket, training products that have it
    documents: int
    sentence_sample: np.ndarray | None = None  # unit sentence embeddings of a uniform sample of training products

    @classmethod
    def collect(cls, dataset: tf.data.Dataset, level_sizes: Sequence[int], token_buckets: int = 0,
                sample_size: int = 0, seed: int = 0) -> TrainingStatistics:
        """Counts classes (and, when the labels carry it, each product's own category); with
        `token_buckets`, also the document frequency of every token bucket; with `sample_size`,
        keeps the sentence embeddings of that many training products drawn uniformly."""
        sample = SentenceSample(sample_size, seed) if sample_size else None
        counts = [np.zeros(size, dtype=np.int64) for size in level_sizes]
        categories = np.zeros(int(sum(level_sizes)), dtype=np.int64)
        document_frequency = np.zeros(token_buckets, dtype=np.int64) if token_buckets else None
        batches = documents = 0
        for features, labels in dataset:
            batches += 1
            if sample is not None and F.TEXT_EMBEDDING in features:
                sample.add(features[F.TEXT_EMBEDDING].numpy())
            for k, size in enumerate(level_sizes, start=1):
                values = np.reshape(labels[F.level_output(k)].numpy(), [-1])
                counts[k - 1] += np.bincount(values[values >= 0], minlength=size)
            if CATEGORY_LABEL in labels:
                values = np.reshape(labels[CATEGORY_LABEL].numpy(), [-1])
                categories += np.bincount(values[values >= 0], minlength=categories.size)
            if document_frequency is not None:
                tokens = features[F.TOKENS]
                documents += int(tokens.dense_shape[0])
                pairs = np.unique(np.stack([tokens.indices[:, 0].numpy(), tokens.values.numpy()], axis=1), axis=0)
                document_frequency += np.bincount(pairs[:, 1], minlength=token_buckets)
        return cls(counts, categories, batches, document_frequency, documents,
                   sample.embeddings() if sample is not None else None)

    def token_idf(self) -> np.ndarray:
        """The idf of every token bucket (needs the document frequencies)."""
        if self.document_frequency is None:
            raise ValueError("token idf needs the document frequencies: collect with token_buckets")
        return inverse_document_frequency(self.document_frequency, self.documents)

    def wide_features(self, class_counts: Sequence[np.ndarray], max_features: int, min_df: int) -> WideFeatures:
        """The wide path's buckets and, per output of `class_counts`, its classes with products."""
        if self.document_frequency is None:
            raise ValueError("the wide path needs the document frequencies: collect with token_buckets")
        return WideFeatures.from_training_statistics(self.document_frequency, self.documents, class_counts,
                                                     max_features, min_df)


class SentenceSample:
    """A uniform sample of a stream of sentence embeddings (reservoir sampling), unit length:
    what the decoder compares a product with to tell whether it is like the training data."""

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        self.rows: np.ndarray | None = None
        self.seen = 0
        self.rng = np.random.default_rng(seed)

    def add(self, batch: np.ndarray) -> None:
        batch = np.asarray(batch, np.float32).reshape(len(batch), -1)
        if self.rows is None:
            self.rows = np.zeros((self.size, batch.shape[1]), np.float32)
        for row in batch:
            slot = self.seen if self.seen < self.size else int(self.rng.integers(0, self.seen + 1))
            if slot < self.size:
                self.rows[slot] = row
            self.seen += 1

    def embeddings(self) -> np.ndarray | None:
        """The sampled rows, unit length ([min(size, seen), dim]); None before any row."""
        if self.rows is None or self.seen == 0:
            return None
        rows = self.rows[:min(self.size, self.seen)]
        return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
