"""Pluggable SavedModel text encoders (plain, signature-only, BERT-style with a preprocessor) and bad encoder configs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from text_encoder_fixtures import tiny_models  # noqa: F401 (fixture)

from prodcat.trainer.encoders.text import SavedModelTextEncoder, TextEncoderConfig, save_encoder, text_encoder


def test_saved_model_encoder_plain(tiny_models) -> None:
    enc = text_encoder(TextEncoderConfig(kind="saved_model", handle=tiny_models["bag"]))
    assert isinstance(enc, SavedModelTextEncoder) and enc.dim == 8
    texts = tf.constant(["Red Garden Hose", "red garden hose", "Blue kite", ""])
    out = enc(texts).numpy()
    assert out.shape == (4, 8) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], out[1])
    reference = tf.saved_model.load(tiny_models["bag"])
    np.testing.assert_allclose(out, reference(texts).numpy())

    by_signature = text_encoder({"kind": "saved_model", "handle": tiny_models["signature_only"], "output_key": "vector"})
    np.testing.assert_allclose(by_signature(texts).numpy(), out)

    capped = text_encoder({"kind": "saved_model", "handle": tiny_models["bag"], "max_tokens": 2})
    np.testing.assert_allclose(capped(tf.constant(["red garden hose"])).numpy(), enc(tf.constant(["red garden"])).numpy())


def test_saved_model_encoder_with_preprocessor(tiny_models, tmp_path: Path) -> None:
    cfg = {"kind": "saved_model", "handle": tiny_models["bert"], "preprocessor_handle": tiny_models["preprocessor"]}
    texts = tf.constant(["Red Garden Hose 50 m", "red garden hose 50 M", "Blue kite"])
    pooled = text_encoder(cfg)
    out = pooled(texts).numpy()
    assert pooled.dim == 6 and out.shape == (3, 6)
    np.testing.assert_allclose(out[0], out[1])
    np.testing.assert_allclose(text_encoder(cfg | {"output_key": "default"})(texts).numpy(), 2.0 * out, rtol=1e-6)
    # BERT-style packing to seq_length = max_tokens
    capped = text_encoder(cfg | {"max_tokens": 2})
    np.testing.assert_allclose(capped(texts[:1]).numpy(), pooled(tf.constant(["red garden"])).numpy(), rtol=1e-6)

    with pytest.raises(ValueError, match="output_key"):
        text_encoder(cfg | {"output_key": "no_such_output"})
    with pytest.raises(ValueError, match=r"\[batch, dim\]"):
        text_encoder(cfg | {"output_key": "sequence_output"})

    # the plugged encoder is itself a self-contained SavedModel
    save_encoder(pooled, str(tmp_path / "plugged"))
    reloaded = tf.saved_model.load(str(tmp_path / "plugged"))
    np.testing.assert_allclose(reloaded(texts).numpy(), out, rtol=1e-6)


def test_bad_configs(tmp_path: Path, tiny_models) -> None:
    with pytest.raises(ValueError, match="handle"):
        TextEncoderConfig(kind="saved_model")
    with pytest.raises(ValueError, match="kind"):
        TextEncoderConfig(kind="word2vec")
    with pytest.raises(ValueError, match="kind"):
        text_encoder({"kind": "bert"})
    with pytest.raises(ValueError, match="hndle"):
        text_encoder({"kind": "saved_model", "hndle": tiny_models["bag"]})
    with pytest.raises(ValueError, match="handle"):
        text_encoder({"kind": "use_multilingual", "handle": tiny_models["bag"]})
    with pytest.raises(ValueError, match="max_tokens"):
        TextEncoderConfig(max_tokens=0)
    missing = str(tmp_path / "no_such_model")
    with pytest.raises(ValueError, match=r"`handle`.*no_such_model.*does not exist"):
        text_encoder(TextEncoderConfig(kind="saved_model", handle=missing))
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(ValueError, match=r"`handle`.*no saved_model.pb"):
        text_encoder(TextEncoderConfig(kind="saved_model", handle=str(tmp_path / "empty_dir")))
    with pytest.raises(ValueError, match=r"`preprocessor_handle`.*does not exist"):
        text_encoder({"kind": "saved_model", "handle": tiny_models["bert"], "preprocessor_handle": missing})
    with pytest.raises(ValueError, match="text encoder config"):
        text_encoder("use_multilingual")
