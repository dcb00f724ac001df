"""The model's categories: their layout, their names as scores, classes without training products, the names the decoder reads back."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from prodcat import features as F
from prodcat.config import ModelConfig, TextConfig
from prodcat.taxonomy import Taxonomy
from prodcat.trainer.layers import NameScores, UnseenClassScores
from prodcat.trainer.losses import compile_model
from prodcat.trainer.model import build_model, category_name_embeddings, seen_class_masks
from prodcat.trainer.sampling import CategoryLayout


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
