"""The training statistics' sample of sentence embeddings (the decoder's reference for novel products)."""

from __future__ import annotations

import numpy as np

from prodcat.trainer.statistics import SentenceSample


def _stream(rows: int, batch: int) -> list[np.ndarray]:
    """Row i is i times a fixed direction plus a marker: its index can be read back."""
    data = np.zeros((rows, 3), np.float32)
    data[:, 0] = np.arange(rows) + 1.0
    data[:, 1] = 1.0
    return [data[i:i + batch] for i in range(0, rows, batch)]


def _indices(sample: np.ndarray) -> np.ndarray:
    return np.rint(sample[:, 0] / sample[:, 1]).astype(int) - 1  # the unit rows keep the ratio


def test_a_short_stream_is_kept_whole_and_unit_length() -> None:
    sample = SentenceSample(100)
    for batch in _stream(30, 7):
        sample.add(batch)
    kept = sample.embeddings()
    assert kept.shape == (30, 3)
    np.testing.assert_allclose(np.linalg.norm(kept, axis=1), 1.0, rtol=1e-6)
    assert sorted(_indices(kept)) == list(range(30))


def test_a_long_stream_is_sampled_uniformly_and_deterministically() -> None:
    def draw(seed: int) -> np.ndarray:
        sample = SentenceSample(200, seed)
        for batch in _stream(4000, 64):
            sample.add(batch)
        return _indices(sample.embeddings())

    first = draw(0)
    assert len(first) == 200 and len(set(first)) == 200  # 200 distinct products
    np.testing.assert_array_equal(first, draw(0))  # same seed, same sample
    assert not np.array_equal(first, draw(1))
    quarters = np.bincount(first // 1000, minlength=4)  # late products as likely as early ones
    assert quarters.min() > 30, quarters


def test_nothing_seen_is_no_sample() -> None:
    assert SentenceSample(10).embeddings() is None
