"""Stricter floors for a product unlike the training data: the decoder serves it less deep, and the
threshold search counts those floors as fixed."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from decoding_fixtures import NO_SENSITIVE, _tiny_names

from prodcat import features as F
from prodcat.config import ThresholdConfig
from prodcat.taxonomy import Taxonomy
from prodcat.thresholds.search import TuningData, served_mask
from prodcat.trainer.decoding import HierarchicalDecoder

# Both products are decoded Toys > Kites > Stunt Kites at 0.9 / 0.99 / 0.999: every default floor passes.
PROBS = [tf.constant([[0.9, 0.1]] * 2), tf.constant([[0.99, 0.01]] * 2), tf.constant([[1.0]] * 2)]
# Row 0 is itself the training sample's product (cosine 1.0, far above its best name score 0.738);
# row 1 is nearer the names (0.738) than the sample (0.0): unlike the training data.
SENTENCE = tf.constant([[1.0, 1.2, 0.0], [0.0, 0.0, 1.0]])
SAMPLE = np.array([[1.0, 1.2, 0.0]], np.float32) / np.float32(np.hypot(1.0, 1.2))  # unit length, as trained


def _depths(tiny_google: Taxonomy, thresholds: ThresholdConfig, sample: np.ndarray | None = SAMPLE,
            names: list[np.ndarray] | None = None) -> list[int]:
    decoder = HierarchicalDecoder(tiny_google, thresholds, category_names=names or _tiny_names(), training_sample=sample)
    return decoder(PROBS, SENTENCE)[F.OUT_DEPTH].numpy().tolist()


def _thresholds(**update: object) -> ThresholdConfig:
    settings = dict(per_level=(0.3, 0.7, 0.9), per_level_unfamiliar=(0.7, 0.995, 0.9999), name_evidence=0.0,
                    name_fallback_below=0.0, name_evidence_margin=0.2, sensitive=NO_SENSITIVE)
    return ThresholdConfig(**{**settings, **update})


def test_a_product_unlike_the_training_data_is_served_less_deep(tiny_google: Taxonomy) -> None:
    """Level 2's 0.99 passes the floor 0.7 but not the unfamiliar 0.995: row 1 stops at level 1."""
    assert _depths(tiny_google, _thresholds()) == [3, 1]


@pytest.mark.parametrize("update", [{"per_level_unfamiliar": ()}, {"name_evidence_margin": 2.0}])
def test_without_unfamiliar_floors_or_with_everything_unfamiliar(tiny_google: Taxonomy, update: dict) -> None:
    """() turns the floors off; a margin no product clears makes every product unfamiliar."""
    expected = [3, 3] if "per_level_unfamiliar" in update else [1, 1]
    assert _depths(tiny_google, _thresholds(**update)) == expected


def test_a_model_without_a_training_sample_serves_everything_under_per_level(tiny_google: Taxonomy) -> None:
    """Familiarity needs the sample: without it no product is taken for unlike the training data."""
    assert _depths(tiny_google, _thresholds(), sample=None) == [3, 3]


def test_a_looser_unfamiliar_floor_never_loosens_per_level(tiny_google: Taxonomy) -> None:
    """The unfamiliar floor is the stricter of the two: 0.1 at every level changes nothing."""
    assert _depths(tiny_google, _thresholds(per_level=(0.3, 0.995, 0.9), per_level_unfamiliar=(0.1,))) == [1, 1]
    assert _thresholds(per_level=(0.3, 0.995), per_level_unfamiliar=(0.1, 0.5, 0.9999)).for_level_unfamiliar(3) == 0.9999


def test_familiarity_matches_the_name_evidence_weights(tiny_google: Taxonomy) -> None:
    """One test of familiarity serves both the names' weight and the floors: with name evidence on,
    the same row is the unfamiliar one."""
    thresholds = _thresholds(name_evidence=40.0, name_evidence_familiar=10.0)
    decoder = HierarchicalDecoder(tiny_google, thresholds, category_names=_tiny_names(), training_sample=SAMPLE)
    familiar, nearest = decoder.familiarity(SENTENCE)
    assert familiar.numpy().tolist() == [True, False]
    np.testing.assert_allclose(nearest.numpy(), [1.0, 0.0], atol=1e-6)


def test_the_threshold_search_counts_unfamiliar_floors_as_fixed(tiny_google: Taxonomy) -> None:
    """Tuning sees what serving will do: the unfamiliar product's nodes carry the stricter floors,
    so at per-level floors (0.3, 0.7, 0.9) it is served to level 1 only."""
    thresholds = _thresholds()
    leaf = tiny_google.level_ids(3)[0]
    path = tiny_google.ancestors(leaf)
    confidences = np.array([[0.9, 0.99, 0.999]] * 2, np.float32)
    data = TuningData.build(tiny_google, [leaf, leaf], [path, path], confidences, thresholds,
                            unfamiliar=np.array([False, True]))
    np.testing.assert_allclose(data.fixed_floors[1], [0.7, 0.995, 0.9999], rtol=1e-6)
    assert data.fixed_floors[0].tolist() == [0.0, 0.0, 0.0]
    assert served_mask(data, thresholds.per_level).sum(axis=1).tolist() == [3, 1]
