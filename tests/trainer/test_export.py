"""The serving export carries the model's weights and no optimizer state, nested models included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from prodcat.trainer.signatures import save_serving_model


def _trained_network() -> tf.keras.Model:
    inputs = tf.keras.Input((4,), name="x")
    network = tf.keras.Model(inputs, tf.keras.layers.Dense(3, name="dense")(inputs), name="network")
    network.compile(optimizer="adam", loss="mse")
    network.fit(np.ones((8, 4), np.float32), np.ones((8, 3), np.float32), verbose=0)
    return network


def _optimizer_keys(export_dir: Path) -> list[str]:
    reader = tf.train.load_checkpoint(str(export_dir / "variables" / "variables"))
    return [key for key in reader.get_variable_to_shape_map() if "optimizer" in key.lower()]


def test_no_optimizer_slots_in_the_export_of_a_wrapped_trained_network(tmp_path: Path) -> None:
    network = _trained_network()
    inputs = tf.keras.Input((4,), name="x")
    served = tf.keras.Model(inputs, network(inputs) * 2.0, name="served")  # as the margin head wraps it
    probe = np.arange(8, dtype=np.float32).reshape(2, 4)
    expected = served(probe).numpy()

    save_serving_model(served, str(tmp_path / "export"), signatures=None)

    assert _optimizer_keys(tmp_path / "export") == [], "Adam's slots are training state, not the model"
    restored = tf.keras.models.load_model(tmp_path / "export", compile=False)
    np.testing.assert_allclose(restored(probe).numpy(), expected, rtol=1e-6)


def test_no_optimizer_slots_in_the_export_of_a_trained_network(tmp_path: Path) -> None:
    network = _trained_network()
    save_serving_model(network, str(tmp_path / "export"), signatures=None)
    assert _optimizer_keys(tmp_path / "export") == []
