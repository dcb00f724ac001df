"""TF-IDF and the wide path: pooling, idf, wide features, WideLinear, and the wide path in a model."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from prodcat import features as F
from prodcat.config import ModelConfig, TextConfig
from prodcat.trainer.layers import HashedEmbeddingBag, WideLinear
from prodcat.trainer.losses import compile_model
from prodcat.trainer.model import build_model
from prodcat.trainer.statistics import WideFeatures, inverse_document_frequency


def test_tfidf_pooling_is_the_l2_normalised_idf_weighted_sum() -> None:
    table = np.arange(8 * 2, dtype=np.float32).reshape(8, 2)
    idf = np.array([1, 1, 4, 1, 1, 1, 1, 0.5], np.float32)
    layer = HashedEmbeddingBag(8, 2, idf=idf)
    layer.build(None)
    layer.table.assign(table)
    ids = tf.sparse.from_dense(tf.constant([[2, 7]], tf.int64))
    expected = (4 * table[2] + 0.5 * table[7]) / np.sqrt(4 ** 2 + 0.5 ** 2)
    np.testing.assert_allclose(layer(ids).numpy()[0], expected, rtol=1e-6)
    mean = HashedEmbeddingBag(8, 2)
    mean.build(None)
    mean.table.assign(table)
    np.testing.assert_allclose(mean(ids).numpy()[0], (table[2] + table[7]) / 2, rtol=1e-6)


def test_inverse_document_frequency_is_smoothed_and_rare_tokens_weigh_more() -> None:
    idf = inverse_document_frequency(np.array([0, 1, 10]), documents=10)
    np.testing.assert_allclose(idf, np.log(11 / np.array([1, 2, 11])) + 1, rtol=1e-6)
    assert idf[0] > idf[1] > idf[2] == 1.0


def test_wide_features_keep_the_most_frequent_buckets_seen_often_enough() -> None:
    df = np.array([0, 5, 1, 3, 9, 2, 0, 4])
    wide = WideFeatures.from_training_statistics(df, documents=10, class_counts=[np.array([3, 0, 1])],
                                                 max_features=3, min_df=2)
    # buckets with df >= 2: 1 (5), 3 (3), 4 (9), 5 (2), 7 (4); the 3 most frequent: 4, 1, 7 -> rows in bucket order
    assert wide.row_map.tolist() == [-1, 0, -1, -1, 1, -1, -1, 2]
    np.testing.assert_allclose(wide.idf, inverse_document_frequency(np.array([5, 9, 4]), 10), rtol=1e-6)
    assert wide.seen_classes[0].tolist() == [True, False, True]


def _wide_layer() -> WideLinear:
    wide = WideFeatures.from_training_statistics(np.array([3, 3, 1, 3]), 10, [np.array([1, 0, 2])], 8, 2)
    layer = WideLinear(wide)
    layer.build(None)
    return layer


def test_wide_linear_scores_the_tfidf_vector_and_leaves_unseen_classes_at_zero() -> None:
    layer = _wide_layer()  # buckets 0, 1, 3 kept (rows 0-2); classes 0 and 2 seen
    assert float(tf.reduce_sum(tf.abs(layer(tf.sparse.from_dense(tf.constant([[1, 3]], tf.int64)))[0]))) == 0.0, \
        "starts at zero: the deep model's scores are unchanged"
    layer.table.assign(np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], np.float32))
    ids = tf.sparse.from_dense(tf.constant([[1, 2, 3]], tf.int64))  # bucket 2 is too rare: no weight
    scores = layer(ids)[0].numpy()[0]
    # equal idf for buckets 1 and 3: the L2-normalised sum of their rows, (row 1 + row 2) / sqrt(2)
    np.testing.assert_allclose(scores, [(3 + 5) / np.sqrt(2), 0.0, (4 + 6) / np.sqrt(2)], rtol=1e-6)
    assert layer(tf.sparse.from_dense(tf.constant([[2]], tf.int64)))[0].numpy().tolist() == [[0.0, 0.0, 0.0]]


def test_wide_linear_saved_with_a_gain_of_1_still_loads() -> None:
    """Models exported while `model.wide_gain` existed record gain 1.0 (the only value shipped)."""
    layer = _wide_layer()
    restored = WideLinear.from_config({**layer.get_config(), "gain": 1.0})
    restored.build(None)
    restored.set_weights(layer.get_weights())
    ids = tf.sparse.from_dense(tf.constant([[1, 3]], tf.int64))
    np.testing.assert_allclose(restored(ids)[0].numpy(), layer(ids)[0].numpy())
    with pytest.raises((TypeError, ValueError), match="wide gain other than 1"):  # Keras re-raises as TypeError
        WideLinear.from_config({**layer.get_config(), "gain": 10.0})


def test_wide_path_learns_a_rare_code_and_round_trips(tmp_path) -> None:  # noqa: ANN001
    """A code seen in a few products points at its class through the wide path alone."""
    config = ModelConfig(hidden_units=(4,), level_hidden_units=0, label_semantics=False, ngram_features=False,
                         wide_path=True, learning_rate=0.05)
    tokens = np.array([[10, 1], [10, 2], [20, 1], [20, 2]] * 8, np.int64)
    labels = np.array([0, 0, 1, 1] * 8, np.int64)
    wide = WideFeatures.from_training_statistics(np.bincount(tokens.ravel(), minlength=32), len(tokens),
                                                 [np.array([16, 16, 0])], 32, 2)
    model = build_model([3], config, TextConfig(word_buckets=32), {F.TOKENS: None, F.TEXT_EMBEDDING: 4}, wide=wide)
    assert model.get_layer("wide_path").table.shape == (4, 2), "buckets 1, 2, 10, 20 x the 2 classes with products"
    compile_model(model, [None], config)
    features = {F.TOKENS: tf.sparse.from_dense(tf.constant(tokens)), F.TEXT_EMBEDDING: tf.zeros([len(tokens), 4])}
    model.fit(features, {F.level_output(1): labels}, epochs=30, batch_size=8, verbose=0)
    probs = model(features)[F.level_output(1)].numpy()
    assert (probs.argmax(axis=1) == labels).all(), "the embedding is all zeros: only the wide path can tell them apart"
    assert probs[:, 2].max() < 0.05, "a class without training products gets no wide score to grow"
    model.save(tmp_path / "wide")
    restored = tf.keras.models.load_model(tmp_path / "wide", compile=False)
    np.testing.assert_allclose(restored(features)[F.level_output(1)].numpy(), probs, atol=1e-6)


def test_no_wide_weights_for_a_level_without_training_products() -> None:
    """One table for all levels, columns only for classes with training products; a level without
    any gets no wide score (a zero-column table crashed multi-worker all-reduce)."""
    wide = WideFeatures.from_training_statistics(np.full(16, 3), 10, [np.array([2, 1]), np.array([0, 0, 0])], 8, 2)
    config = ModelConfig(hidden_units=(4,), level_hidden_units=0, label_semantics=False)
    model = build_model([2, 3], config, TextConfig(word_buckets=16), {F.TOKENS: None}, wide=wide)
    assert model.get_layer("wide_path").table.shape == (8, 2)
    names = [layer.name for layer in model.layers]
    assert "level_1_scores_with_wide" in names and "level_2_scores_with_wide" not in names
    nothing = WideFeatures.from_training_statistics(np.full(16, 3), 10, [np.array([0, 0]), np.array([0, 0, 0])], 8, 2)
    model = build_model([2, 3], config, TextConfig(word_buckets=16), {F.TOKENS: None}, wide=nothing)
    assert not [layer for layer in model.layers if isinstance(layer, WideLinear)]


def test_wide_path_scores_every_level_from_one_lookup() -> None:
    wide = WideFeatures.from_training_statistics(np.full(16, 3), 10, [np.array([2, 0]), np.array([0, 1, 1])], 8, 2)
    layer = WideLinear(wide)
    layer.build(None)
    layer.table.assign(np.arange(8 * 3, dtype=np.float32).reshape(8, 3))  # columns: L1 class 0, L2 classes 1, 2
    level_1, level_2 = (x.numpy()[0] for x in layer(tf.sparse.from_dense(tf.constant([[1]], tf.int64))))  # row 1
    assert level_1.tolist() == [3.0, 0.0] and level_2.tolist() == [0.0, 4.0, 5.0]
