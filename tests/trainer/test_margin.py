"""The margin head: liblinear's SVMs, recomputed exactly in the serving graph, mixed with the network."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from scipy import sparse
from sklearn.svm import LinearSVC

from prodcat import features as F
from prodcat.config import MarginHeadConfig, ModelConfig, TextConfig
from prodcat.trainer.eval_choice import plateau_choice
from prodcat.trainer.margin import (
    UNSEEN_SCORE, MarginHead, MarginScores, MixedScores, TrainingFeatures, choose_weight, mixed_layers, with_margin_head,
)
from prodcat.trainer.model import build_model, category_name_embeddings
from prodcat.trainer.text import char_bucket_offset, hashed_tokens

BUCKETS, SHOPS, DIM = 256, 16, 4
LEVEL_SIZES = [3, 4]
# level-2 class -> its level-1 class; level-1 class 2 has no training products
PARENT = {0: 0, 1: 0, 2: 1, 3: 1}


def _products(n: int, seed: int = 0) -> tuple[dict, np.ndarray]:
    """Token ids whose words tell the level-2 class, noisy character n-grams, an embedding, a shop."""
    rng = np.random.default_rng(seed)
    offset = char_bucket_offset(BUCKETS)
    rows, labels = [], []
    for _ in range(n):
        leaf = int(rng.integers(0, 4))
        words = [10 + leaf, 10 + leaf, int(rng.integers(20, 60))]  # a repeated telling word: counts matter
        chars = [offset + 3 * leaf + int(rng.integers(0, 3)), offset + int(rng.integers(40, 100))]
        rows.append(words + chars)
        labels.append([PARENT[leaf], leaf])
    tokens = tf.sparse.from_dense(tf.constant(rows, tf.int64))
    embedding = rng.normal(size=(n, DIM)).astype(np.float32) + np.array(labels)[:, 1:2]
    shops = tf.sparse.from_dense(tf.constant(rng.integers(1, SHOPS - 1, size=(n, 1)), tf.int64))  # not 0 (dropped), not the last (unseen)
    return {F.TOKENS: tokens, F.TEXT_EMBEDDING: tf.constant(embedding), F.MERCHANT: shops}, np.array(labels, np.int64)


def _dataset(features: dict, labels: np.ndarray, batch: int = 16) -> tf.data.Dataset:
    y = {F.level_output(k + 1): labels[:, k] for k in range(labels.shape[1])}
    return tf.data.Dataset.from_tensor_slices((features, y)).batch(batch)


def _fitted(n: int = 120, **config) -> tuple[MarginHead, TrainingFeatures, dict, np.ndarray]:
    features, labels = _products(n)
    data = TrainingFeatures.collect(_dataset(features, labels), 2, BUCKETS, SHOPS)
    return MarginHead.fit(data, LEVEL_SIZES, MarginHeadConfig(**config)), data, features, labels


def test_design_matrix_is_sublinear_tfidf_in_two_l2_blocks_then_embedding_then_shop() -> None:
    head, data, _, _ = _fitted()
    x = head.design(data).toarray()
    words, chars = x[:, :head.word_rows], x[:, head.word_rows:head.token_rows]
    np.testing.assert_allclose(np.linalg.norm(words, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(chars, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(x[:, head.token_rows:head.token_rows + DIM], axis=1), 1.0, rtol=1e-6)
    assert set(np.unique(x[:, head.token_rows + DIM:])) == {0.0, 1.0}
    assert (x[:, head.token_rows + DIM:].sum(axis=1) == 1).all(), "one shop each"
    assert head.summary()["shops"] == SHOPS - 2
    # product 0 has its telling word twice: weight (1 + log 2) * idf before normalisation
    kept = np.flatnonzero(head.row_map >= 0)
    counts = data.counts[0].toarray().ravel()[kept]
    expected = np.where(counts > 0, (1 + np.log(np.maximum(counts, 1))) * head.idf, 0.0)[:head.word_rows]
    np.testing.assert_allclose(words[0], expected / np.linalg.norm(expected), rtol=1e-5)


def test_each_level_is_liblinears_svm_on_that_matrix() -> None:
    head, data, _, labels = _fitted()
    x = head.design(data)
    reference = LinearSVC(C=1.0, random_state=0, dual=True).fit(x, labels[:, 1])
    np.testing.assert_allclose(head.decision_function(data)[1], reference.decision_function(x), rtol=1e-4, atol=1e-5)
    level1 = head.decision_function(data)[0]
    assert (level1[:, 2] == UNSEEN_SCORE).all(), "a class without training products scores a clear no"
    assert (level1[:, :2].argmax(axis=1) == labels[:, 0]).mean() > 0.95
    assert head.classes_per_level() == [2, 4]


def test_the_serving_graph_scores_exactly_as_the_fitted_svms() -> None:
    head, _, _, _ = _fitted()
    features, labels = _products(40, seed=7)  # new products, new shops
    features[F.MERCHANT] = tf.sparse.from_dense(tf.constant([[3]] * 20 + [[SHOPS - 1]] * 20, tf.int64))
    data = TrainingFeatures.collect(_dataset(features, labels), 2, BUCKETS, SHOPS)  # the last shop: never seen
    layer = MarginScores(head)
    graph = layer({name: features[name] for name in (F.TOKENS, F.TEXT_EMBEDDING, F.MERCHANT)})
    for got, want in zip(graph, head.decision_function(data)):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-4)


def test_a_level_with_one_class_always_says_yes_and_binary_levels_score_both_sides() -> None:
    features, labels = _products(60)
    labels[:, 0] = 0  # level 1: one class
    labels[:, 1] = labels[:, 1] % 2  # level 2: two classes
    data = TrainingFeatures.collect(_dataset(features, labels), 2, BUCKETS, SHOPS)
    head = MarginHead.fit(data, LEVEL_SIZES, MarginHeadConfig())
    level1, level2 = head.decision_function(data)
    assert (level1[:, 0] == 1.0).all() and (level1[:, 1:] == UNSEEN_SCORE).all()
    np.testing.assert_allclose(level2[:, 0], -level2[:, 1], rtol=1e-6)
    assert (level2[:, :2].argmax(axis=1) == labels[:, 1]).mean() > 0.9


def test_mixing_is_softmax_of_log_probs_plus_weighted_scores() -> None:
    probs = tf.constant([[0.7, 0.2, 0.1]])
    scores = tf.constant([[-1.0, 1.0, -1.0]])
    layer = MixedScores(2.0)
    expected = np.exp(np.log([0.7, 0.2, 0.1]) + 2.0 * np.array([-1.0, 1.0, -1.0]))
    np.testing.assert_allclose(layer([probs, scores]).numpy()[0], expected / expected.sum(), rtol=1e-5)
    layer.weight.assign(0.0)
    np.testing.assert_allclose(layer([probs, scores]).numpy(), probs.numpy(), rtol=1e-5)


def test_wrapped_model_round_trips_keeps_name_embeddings_and_the_chosen_weight(tmp_path) -> None:  # noqa: ANN001
    head, _, features, labels = _fitted()
    dims = {F.TOKENS: None, F.MERCHANT: None, F.TEXT_EMBEDDING: DIM}
    names = [np.eye(3, DIM, dtype=np.float32), np.eye(4, DIM, dtype=np.float32)]
    network = build_model(LEVEL_SIZES, ModelConfig(hidden_units=(8,), level_hidden_units=0),
                          TextConfig(word_buckets=BUCKETS, merchant_buckets=SHOPS), dims, label_embeddings=names)
    served = with_margin_head(network, head, 2)
    assert len(mixed_layers(served)) == 2
    assert category_name_embeddings(served, LEVEL_SIZES) is not None, "the name fallback finds the nested network's names"
    weight, accuracy = choose_weight(network, served.get_layer("margin_scores"), _dataset(features, labels), 2,
                                     (0.0, 1.0, 8.0))
    assert set(accuracy) == {0.0, 1.0, 8.0}
    assert weight > 0.0 and accuracy[weight] > accuracy[0.0], "an untrained network: the SVMs carry the accuracy"
    for layer in mixed_layers(served):
        layer.weight.assign(weight)
    out = served(features)
    predicted = out[F.level_output(2)].numpy().argmax(axis=1)
    assert (predicted == labels[:, 1]).mean() > 0.95
    served.save(tmp_path / "served")
    restored = tf.keras.models.load_model(tmp_path / "served", compile=False)
    assert [type(layer) for layer in mixed_layers(restored)] == [MixedScores, MixedScores], "restored as prodcat's layers"
    assert isinstance(restored.get_layer("margin_scores"), MarginScores)
    np.testing.assert_allclose(restored(features)[F.level_output(2)].numpy(), out[F.level_output(2)].numpy(), atol=1e-6)


def test_transform_hashes_words_below_and_character_ngrams_above_the_offset() -> None:
    ids = hashed_tokens(tf.constant(["red kite"]), 64, (2, 3), 16).values.numpy()
    words = hashed_tokens(tf.constant(["red kite"]), 64, (), 16).values.numpy()
    offset = char_bucket_offset(64)
    assert len(words) == 3 and (words < offset).all(), "two words and a bigram"
    assert (ids[:3] == words).all() and (ids[3:] >= offset).all() and len(ids) > 3


def test_tokens_collected_as_counts_per_product() -> None:
    features, labels = _products(5)
    data = TrainingFeatures.collect(_dataset(features, labels, batch=2), 2, BUCKETS, SHOPS)
    assert data.counts.shape == (5, BUCKETS) and isinstance(data.counts, sparse.csr_matrix)
    assert data.counts[0, 10 + labels[0, 1]] == 2.0, "the telling word twice"
    assert data.embeddings.shape == (5, DIM) and data.merchants.shape == (5, SHOPS)
    np.testing.assert_array_equal(data.labels, labels)


def test_the_weight_is_the_middle_of_the_best_plateau_not_a_lone_peak():
    # MWPD's eval split: a lone best point at 8, the test split's best around 32
    accuracy = {0.0: 0.885, 1.0: 0.892, 2.0: 0.895, 4.0: 0.899, 8.0: 0.906, 16.0: 0.904, 32.0: 0.903, 64.0: 0.903}
    assert plateau_choice(accuracy) == 16.0
    # a plateau that reaches the grid's end: its middle, not the end
    accuracy = {0.0: 0.8907, 1.0: 0.895, 2.0: 0.8973, 4.0: 0.9017, 8.0: 0.902, 16.0: 0.9027, 32.0: 0.9033, 64.0: 0.9027}
    assert plateau_choice(accuracy) == 32.0
    assert plateau_choice({0.0: 0.5, 1.0: 0.9, 2.0: 0.9, 4.0: 0.5}) == 1.0, "ties go to the smaller weight"
    assert plateau_choice({0.0: 0.9, 1.0: 0.2, 2.0: 0.2}) == 0.0, "the network alone when the SVMs only hurt"
    assert plateau_choice({4.0: 0.7}) == 4.0
