"""The assembled model: save and reload, determinism, shop dropout, inputs without n-grams, the per-level loss."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from prodcat import features as F
from prodcat.config import ModelConfig, TextConfig
from prodcat.trainer.losses import MaskedLevelLoss
from prodcat.trainer.model import build_model


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


def test_without_ngram_features_the_model_reads_only_the_embeddings() -> None:
    dims = {F.TOKENS: None, F.MERCHANT: None, F.TEXT_EMBEDDING: 4}
    config = ModelConfig(hidden_units=(8,), level_hidden_units=4, label_semantics=False, ngram_features=False,
                         merchant_feature=False)
    model = build_model([2, 3], config, TextConfig(word_buckets=64, merchant_buckets=16), dims)
    assert list(model.input.keys()) == [F.TEXT_EMBEDDING]


def test_level_loss_is_class_weighted_cross_entropy_over_labelled_products() -> None:
    """Products of shallower categories (-1) count nothing; class weights scale a product's loss."""
    probs = tf.nn.softmax(tf.constant([[2.0, 0.0, -1.0], [0.0, 0.5, 0.0], [5.0, 0.0, 0.0], [1.0, 1.0, 1.0]]))
    labels = tf.constant([0, 0, 0, -1], tf.int64)
    xent = MaskedLevelLoss().call(labels, probs).numpy()
    np.testing.assert_allclose(xent[:3], -np.log(probs.numpy()[:3, 0]), rtol=1e-5)
    assert xent[3] == 0.0
    weighted = MaskedLevelLoss([2.0, 1.0, 1.0]).call(labels, probs).numpy()
    np.testing.assert_allclose(weighted, 2 * xent, rtol=1e-6)
