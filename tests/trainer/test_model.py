"""The hierarchical model's building blocks that are not covered by the pipeline tests."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from prodcat import features as F
from prodcat.config import ModelConfig, TextConfig
from prodcat.taxonomy import Taxonomy
from prodcat.trainer.layers import HashedEmbeddingBag, NameScores, UnseenClassScores, WideLinear
from prodcat.trainer.losses import MaskedLevelLoss, compile_model
from prodcat.trainer.model import build_model, category_name_embeddings, seen_class_masks
from prodcat.trainer.sampling import CategoryLayout
from prodcat.trainer.statistics import WideFeatures, inverse_document_frequency


def _features(batch: int) -> dict[str, tf.Tensor]:
    tokens = tf.sparse.from_dense(tf.constant([[1, 2]] * batch, tf.int64))
    merchant = tf.sparse.from_dense(tf.constant([[5]] * batch, tf.int64))
    return {F.TOKENS: tokens, F.MERCHANT: merchant, F.TEXT_EMBEDDING: tf.ones([batch, 4])}


def test_model_round_trips_and_is_deterministic_at_inference(tmp_path) -> None:  # noqa: ANN001
    dims = {F.TOKENS: None, F.MERCHANT: None, F.TEXT_EMBEDDING: 4}
    config = ModelConfig(hidden_units=(8,), level_hidden_units=4, label_semantics=False)
    model = build_model([2, 3], config, TextConfig(word_buckets=64, merchant_buckets=16), dims)
    features = _features(4)
    first, second = model(features, training=False), model(features, training=False)
    np.testing.assert_array_equal(first[F.level_output(2)].numpy(), second[F.level_output(2)].numpy())
    model.save(tmp_path / "model")
    restored = tf.keras.models.load_model(tmp_path / "model")
    np.testing.assert_allclose(restored(features)[F.level_output(2)].numpy(), first[F.level_output(2)].numpy(), atol=1e-6)


def test_training_hides_the_shop_of_a_share_of_products_as_a_new_shop_would_look() -> None:
    dims = {F.TOKENS: None, F.MERCHANT: None, F.TEXT_EMBEDDING: 4}
    config = ModelConfig(hidden_units=(8,), level_hidden_units=4, label_semantics=False, merchant_dropout=0.5)
    model = build_model([2, 3], config, TextConfig(word_buckets=64, merchant_buckets=16), dims)
    shop = model.get_layer("merchant_embedding")
    shop.table.assign(tf.ones_like(shop.table))  # a trained shop: a non-zero embedding
    hidden = keras_function(model, "merchant_dropout")
    features = _features(2000)
    trained = hidden(features, training=True)
    zero = np.all(trained == 0.0, axis=1)
    assert 0.4 < zero.mean() < 0.6  # whole embeddings hidden, not single dimensions
    assert np.all(trained[~zero] > 0.0)
    assert not np.any(np.all(hidden(features, training=False) == 0.0, axis=1))  # serving sees every shop


def keras_function(model, layer_name: str):  # noqa: ANN001, ANN201
    """The output of one layer of `model` for its inputs."""
    sub = tf.keras.Model(model.inputs, model.get_layer(layer_name).output)
    return lambda features, training: sub(features, training=training).numpy()


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


def test_without_ngram_features_the_model_reads_only_the_embeddings() -> None:
    dims = {F.TOKENS: None, F.MERCHANT: None, F.TEXT_EMBEDDING: 4}
    config = ModelConfig(hidden_units=(8,), level_hidden_units=4, label_semantics=False, ngram_features=False,
                         merchant_feature=False)
    model = build_model([2, 3], config, TextConfig(word_buckets=64, merchant_buckets=16), dims)
    assert list(model.input.keys()) == [F.TEXT_EMBEDDING]


def _tiny_taxonomy() -> Taxonomy:
    return Taxonomy.from_paths(["A", "A > A1", "A > A2", "A > A1 > A1x", "B", "B > B1"])


def test_category_layout_puts_each_product_on_its_own_category() -> None:
    taxonomy = _tiny_taxonomy()
    layout = CategoryLayout.from_taxonomy(taxonomy)
    assert layout.size == len(taxonomy) and list(layout.offsets) == [0, 2, 5]
    # products labelled A (depth 1), A > A2 (depth 2), A > A1 > A1x (depth 3), no label
    labels = [tf.constant([0, 0, 0, -1], tf.int64), tf.constant([-1, 1, 0, -1], tf.int64),
              tf.constant([-1, -1, 0, -1], tf.int64)]
    own = layout.category_label(labels).numpy().tolist()
    order = [cid for k in (1, 2, 3) for cid in taxonomy.level_ids(k)]
    names = [taxonomy[order[i]].name if i >= 0 else None for i in own]
    assert names == ["A", "A2", "A1x", None]


def test_label_prior_adds_the_plain_zero_shot_similarity_per_level() -> None:
    names = [np.eye(4, dtype=np.float32)[:2], np.eye(4, dtype=np.float32)[:3]]
    dims = {F.TOKENS: None, F.TEXT_EMBEDDING: 4}
    config = ModelConfig(hidden_units=(8,), level_hidden_units=4, label_prior=True)
    model = build_model([2, 3], config, TextConfig(word_buckets=64), dims, label_embeddings=names)
    scores = model.get_layer("level_2_name_scores")
    assert scores.trainable_weights == [scores.scales], "only the scales are learned, never the names"
    assert scores.n_inputs == 2, "the heads' query and the sentence embedding (the prior)"
    query, sentence = tf.constant([[2.0, 0.0, 0.0, 0.0]]), tf.constant([[0.0, 3.0, 0.0, 4.0]])
    scores.scales.assign([10.0, 5.0])
    # 10 * cos(query, name) + 5 * cos(sentence, name), in one product with the names
    np.testing.assert_allclose(scores([query, sentence]).numpy(), [[10.0, 5 * 0.6, 0.0]], rtol=1e-5)
    without = build_model([2, 3], ModelConfig(hidden_units=(8,), level_hidden_units=4, label_prior=False),
                          TextConfig(word_buckets=64), dims, label_embeddings=names)
    assert without.get_layer("level_2_name_scores").n_inputs == 1


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


def test_classes_without_training_products_are_scored_by_their_names_alone(tmp_path) -> None:  # noqa: ANN001
    """Left out of the training softmax (nothing teaches the heads they never occur); at serving
    their score is the similarity to their name, far above what the same class gets trained in."""
    names = [np.eye(4, dtype=np.float32)[:3]]
    config = ModelConfig(hidden_units=(8,), level_hidden_units=0, ngram_features=False, wide_path=False,
                         merchant_feature=False, learning_rate=0.02, unseen_class_offset=0.0)
    seen = [np.array([True, True, False])]
    model = build_model([3], config, TextConfig(word_buckets=16), {F.TEXT_EMBEDDING: 4}, label_embeddings=names,
                        seen_classes=seen)
    compile_model(model, [None], config)
    # trained on products of classes 0 and 1 only, each pointing at its own name
    embeddings = np.array([[1.0, 0.1, 0.0, 0.0], [0.1, 1.0, 0.0, 0.0]] * 32, np.float32)
    labels = np.array([0, 1] * 32, np.int64)
    model.fit({F.TEXT_EMBEDDING: embeddings}, {F.level_output(1): labels}, epochs=20, batch_size=16, verbose=0)
    during_training = model({F.TEXT_EMBEDDING: embeddings[:2]}, training=True)[F.level_output(1)].numpy()
    assert during_training[:, 2].max() == 0.0, "class 2 is not in the training softmax"
    product_of_class_2 = {F.TEXT_EMBEDDING: tf.constant([[0.0, 0.0, 1.0, 0.0]])}
    probs = model(product_of_class_2)[F.level_output(1)].numpy()[0]
    assert probs[2] > 0.0, "scored at serving"
    assert model({F.TEXT_EMBEDDING: embeddings[:2]})[F.level_output(1)].numpy().argmax(axis=1).tolist() == [0, 1]

    trained = build_model([3], config.model_copy(update={"unseen_classes": "trained"}), TextConfig(word_buckets=16),
                          {F.TEXT_EMBEDDING: 4}, label_embeddings=names, seen_classes=seen)
    compile_model(trained, [None], config)
    trained.fit({F.TEXT_EMBEDDING: embeddings}, {F.level_output(1): labels}, epochs=20, batch_size=16, verbose=0)
    taught_to_lose = trained(product_of_class_2)[F.level_output(1)].numpy()[0, 2]
    assert taught_to_lose < probs[2] / 2, f"kept in the softmax, the class is taught to lose: {taught_to_lose} vs {probs[2]}"

    model.save(tmp_path / "unseen")
    restored = tf.keras.models.load_model(tmp_path / "unseen", compile=False)
    np.testing.assert_allclose(restored(product_of_class_2)[F.level_output(1)].numpy()[0], probs, atol=1e-6)


def test_every_class_seen_keeps_the_plain_sum_of_scores() -> None:
    layer = UnseenClassScores(np.array([True, True]), offset=3.0)
    specific, generic = tf.constant([[1.0, 2.0]]), tf.constant([[0.5, -4.0]])
    for training in (False, True):
        np.testing.assert_allclose(layer([specific, generic], training=training).numpy(), [[1.5, -2.0]])


def test_the_model_records_which_classes_had_training_products(tmp_path) -> None:  # noqa: ANN001
    """Every level's record, a level where every class was seen included, read back from the
    model, its saved copy and the margin head's wrapper's nested network alike; none where the
    model keeps unseen classes in training."""
    names = [np.eye(4, dtype=np.float32)[:2], np.eye(4, dtype=np.float32)[:3]]
    seen = [np.array([True, True]), np.array([True, False, True])]
    config = ModelConfig(hidden_units=(4,), level_hidden_units=0)
    dims = {F.TOKENS: None, F.TEXT_EMBEDDING: 4}
    model = build_model([2, 3], config, TextConfig(word_buckets=16), dims, label_embeddings=names, seen_classes=seen)
    model.save(tmp_path / "model")
    restored = tf.keras.models.load_model(tmp_path / "model", compile=False)
    nested = tf.keras.Model(model.input, model(model.input))
    for recorded in (model, restored, nested):
        assert [m.tolist() for m in seen_class_masks(recorded, [2, 3])] == [s.tolist() for s in seen]
    trained = build_model([2, 3], config.model_copy(update={"unseen_classes": "trained"}), TextConfig(word_buckets=16),
                          dims, label_embeddings=names, seen_classes=seen)
    assert seen_class_masks(trained, [2, 3]) is None


def test_unseen_class_scores_are_the_name_scores_less_the_offset_and_absent_in_training() -> None:
    layer = UnseenClassScores(np.array([True, True, False]), offset=3.0)
    specific, generic = tf.constant([[1.0, 2.0, 3.0]]), tf.constant([[0.5, 0.5, 4.0]])
    np.testing.assert_allclose(layer([specific, generic]).numpy(), [[1.5, 2.5, 1.0]])
    in_training = layer([specific, generic], training=True).numpy()
    np.testing.assert_allclose(in_training[:, :2], [[1.5, 2.5]])
    assert in_training[0, 2] <= -1e8, "left out of the training softmax"


def test_name_score_layers_round_trip_through_a_saved_keras_model(tmp_path) -> None:
    """NameScores keeps its weights and outputs."""
    names = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float32)
    keras = tf.keras
    query, sentence = keras.Input(shape=(3,), name="query"), keras.Input(shape=(3,), name="sentence")
    current = NameScores(names, n_inputs=2, name="current")
    model = keras.Model([query, sentence], [current([query, sentence])])
    assert sorted(w.name.split("/")[-1].split(":")[0] for w in current.weights) == ["label_embeddings", "scales"]
    assert current.trainable_weights == [current.scales]
    current.scales.assign([2.0, 3.0])
    x = [tf.constant([[3.0, 4.0, 0.0]]), tf.constant([[0.0, 1.0, 0.0]])]
    want = model(x).numpy()
    np.testing.assert_allclose(want, [[2 * 0.6, 2 * 0.8 + 3.0]], rtol=1e-5)
    model.save(tmp_path / "names")
    restored = tf.keras.models.load_model(tmp_path / "names")
    np.testing.assert_allclose(restored(x).numpy(), want, rtol=1e-6)
    assert restored.get_layer("current").get_config()["n_inputs"] == 2


def test_level_loss_is_class_weighted_cross_entropy_over_labelled_products() -> None:
    """Products of shallower categories (-1) count nothing; class weights scale a product's loss."""
    probs = tf.nn.softmax(tf.constant([[2.0, 0.0, -1.0], [0.0, 0.5, 0.0], [5.0, 0.0, 0.0], [1.0, 1.0, 1.0]]))
    labels = tf.constant([0, 0, 0, -1], tf.int64)
    xent = MaskedLevelLoss().call(labels, probs).numpy()
    np.testing.assert_allclose(xent[:3], -np.log(probs.numpy()[:3, 0]), rtol=1e-5)
    assert xent[3] == 0.0
    weighted = MaskedLevelLoss([2.0, 1.0, 1.0]).call(labels, probs).numpy()
    np.testing.assert_allclose(weighted, 2 * xent, rtol=1e-6)


def test_the_decoder_reads_each_levels_category_names_from_the_trained_model(tmp_path) -> None:  # noqa: ANN001
    """A reloaded Keras model gives them back too; no label semantics, no names."""
    taxonomy = _tiny_taxonomy()
    sizes = taxonomy.level_sizes()
    rng = np.random.default_rng(0)
    names = [rng.normal(size=(n, 4)).astype(np.float32) for n in sizes]
    dims = {F.TOKENS: None, F.TEXT_EMBEDDING: 4}
    config = ModelConfig(hidden_units=(8,), level_hidden_units=0)
    per_level = build_model(sizes, config, TextConfig(word_buckets=64), dims, label_embeddings=names)
    per_level.save(tmp_path / "per_level")
    restored = tf.keras.models.load_model(tmp_path / "per_level", compile=False)
    for model in (per_level, restored):
        got = category_name_embeddings(model, sizes)
        assert [np.asarray(g).tolist() for g in got] == [n.tolist() for n in names]
    plain = build_model(sizes, config.model_copy(update={"label_semantics": False}), TextConfig(word_buckets=64), dims)
    assert category_name_embeddings(plain, sizes) is None
