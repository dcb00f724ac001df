"""The hierarchical model's building blocks that are not covered by the pipeline tests."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from prodcat import features as F
from prodcat.config import ModelConfig, TextConfig
from prodcat.trainer.model import PathDropout, build_model


def test_path_dropout_hides_whole_rows_in_training_only() -> None:
    layer = PathDropout(0.5, seed=1)
    x = tf.ones([2000, 8])
    assert np.array_equal(layer(x, training=False).numpy(), x.numpy())
    hidden = layer(x, training=True).numpy()
    row_sums = hidden.sum(axis=1)
    assert set(np.unique(row_sums)) == {0.0, 8.0}, "a product's vector is kept or hidden as a whole, not rescaled"
    assert 0.45 < np.mean(row_sums == 0.0) < 0.55


def _features(batch: int) -> dict[str, tf.Tensor]:
    tokens = tf.sparse.from_dense(tf.constant([[1, 2]] * batch, tf.int64))
    merchant = tf.sparse.from_dense(tf.constant([[5]] * batch, tf.int64))
    return {F.TOKENS: tokens, F.MERCHANT: merchant, F.TEXT_EMBEDDING: tf.ones([batch, 4])}


def test_model_with_path_dropout_round_trips_and_is_deterministic_at_inference(tmp_path) -> None:  # noqa: ANN001
    dims = {F.TOKENS: None, F.MERCHANT: None, F.TEXT_EMBEDDING: 4}
    config = ModelConfig(hidden_units=(8,), level_hidden_units=4, memorizing_path_dropout=0.5, label_semantics=False)
    model = build_model([2, 3], config, TextConfig(word_buckets=64, merchant_buckets=16), dims)
    assert "memorizing_path_dropout" in [layer.name for layer in model.layers]
    features = _features(4)
    first, second = model(features, training=False), model(features, training=False)
    np.testing.assert_array_equal(first[F.level_output(2)].numpy(), second[F.level_output(2)].numpy())
    model.save(tmp_path / "model")
    restored = tf.keras.models.load_model(tmp_path / "model")
    np.testing.assert_allclose(restored(features)[F.level_output(2)].numpy(), first[F.level_output(2)].numpy(), atol=1e-6)


def test_no_path_dropout_without_the_sentence_embedding() -> None:
    """Without the multilingual embedding there is nothing else to learn from: the layer is left out."""
    config = ModelConfig(hidden_units=(8,), level_hidden_units=4, memorizing_path_dropout=0.5)
    model = build_model([2, 3], config, TextConfig(word_buckets=64), {F.TOKENS: None})
    assert "memorizing_path_dropout" not in [layer.name for layer in model.layers]
