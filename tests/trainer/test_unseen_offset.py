"""How far categories without training products are held back, chosen on the eval split
(`model.unseen_class_offset: null`), and kept in the saved model."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from prodcat import features as F
from prodcat.config import ModelConfig, TextConfig
from prodcat.trainer.eval_choice import choose_unseen_offset, mean_level_accuracy, unseen_class_layers
from prodcat.trainer.losses import compile_model
from prodcat.trainer.model import build_model

GRID = (0.0, 1.5, 3.0, 4.5, 6.0, 9.0, 12.0, 20.0)


def _trained_on_two_of_three_classes() -> tf.keras.Model:
    """Classes 0 and 1 have training products, class 2 only its name (unit vector 2)."""
    names = [np.eye(4, dtype=np.float32)[:3]]
    config = ModelConfig(hidden_units=(8,), level_hidden_units=0, ngram_features=False, wide_path=False,
                         merchant_feature=False, learning_rate=0.02, unseen_class_offset=None, seed=3)
    tf.keras.utils.set_random_seed(3)
    model = build_model([3], config, TextConfig(word_buckets=16), {F.TEXT_EMBEDDING: 4}, label_embeddings=names,
                        seen_classes=[np.array([True, True, False])])
    compile_model(model, [None], config)
    embeddings = np.array([[1.0, 0.1, 0.0, 0.0], [0.1, 1.0, 0.0, 0.0]] * 32, np.float32)
    labels = np.array([0, 1] * 32, np.int64)
    model.fit({F.TEXT_EMBEDDING: embeddings}, {F.level_output(1): labels}, epochs=20, batch_size=16, verbose=0)
    return model


def _eval_split(embeddings: list[list[float]], labels: list[int]) -> tf.data.Dataset:
    features = {F.TEXT_EMBEDDING: np.array(embeddings, np.float32)}
    return tf.data.Dataset.from_tensor_slices((features, {F.level_output(1): np.array(labels, np.int64)})).batch(4)


def test_the_eval_split_sets_how_far_unseen_categories_are_held_back(tmp_path) -> None:  # noqa: ANN001
    model = _trained_on_two_of_three_classes()
    # products of trained class 0 whose words lean towards the name of class 2
    held_back, accuracy = choose_unseen_offset(
        model, _eval_split([[0.6, 0.0, 0.8, 0.0]] * 6 + [[0.1, 1.0, 0.0, 0.0]] * 2, [0] * 6 + [1] * 2), 1, GRID)
    assert accuracy[0.0] < 1.0 and accuracy[held_back] == 1.0, accuracy
    # products that are what the name of class 2 says, and are labelled so
    let_in, accuracy_new = choose_unseen_offset(
        model, _eval_split([[0.0, 0.1, 1.0, 0.0]] * 6 + [[0.1, 1.0, 0.0, 0.0]] * 2, [2] * 6 + [1] * 2), 1, GRID)
    assert accuracy_new[let_in] == 1.0 and accuracy_new[max(GRID)] < 1.0, accuracy_new
    assert let_in < held_back

    # the model keeps the offset chosen last, and so does its saved copy
    [layer] = unseen_class_layers(model)
    assert float(layer.offset.numpy()) == let_in
    probe = {F.TEXT_EMBEDDING: tf.constant([[0.6, 0.0, 0.8, 0.0], [0.0, 0.1, 1.0, 0.0]])}
    model.save(tmp_path / "model")
    restored = tf.keras.models.load_model(tmp_path / "model", compile=False)
    assert float(unseen_class_layers(restored)[0].offset.numpy()) == let_in
    np.testing.assert_allclose(restored(probe)[F.level_output(1)].numpy(), model(probe)[F.level_output(1)].numpy(),
                               atol=1e-6)


def test_a_model_without_unseen_categories_has_no_offset_to_choose() -> None:
    config = ModelConfig(hidden_units=(4,), level_hidden_units=0, ngram_features=False, wide_path=False,
                         merchant_feature=False, label_semantics=False)
    model = build_model([2], config, TextConfig(word_buckets=16), {F.TEXT_EMBEDDING: 4})
    assert choose_unseen_offset(model, _eval_split([[1.0, 0.0, 0.0, 0.0]], [0]), 1, GRID) == (None, {})
    # every category had training products: the offset would change nothing
    every_class_seen = build_model(
        [2], config.model_copy(update={"label_semantics": True}), TextConfig(word_buckets=16), {F.TEXT_EMBEDDING: 4},
        label_embeddings=[np.eye(4, dtype=np.float32)[:2]], seen_classes=[np.array([True, True])])
    assert unseen_class_layers(every_class_seen)
    assert choose_unseen_offset(every_class_seen, _eval_split([[1.0, 0.0, 0.0, 0.0]], [0]), 1, GRID) == (None, {})


def test_mean_level_accuracy_counts_labelled_products_only() -> None:
    scores = [np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), np.array([[0.1, 0.9], [0.7, 0.3], [0.5, 0.5]])]
    labels = [np.array([0, 1, 1]), np.array([1, -1, -1])]
    assert mean_level_accuracy(scores, labels) == (2 / 3 + 1.0) / 2
    assert mean_level_accuracy(scores, [np.array([-1, -1, -1])] * 2) is None
