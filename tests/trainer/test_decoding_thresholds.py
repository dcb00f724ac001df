"""Where decoded paths stop: per-level thresholds, subtree overrides, sensitive floors, the end of the training labels."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from decoding_fixtures import NO_SENSITIVE

from prodcat import features as F
from prodcat.config import GOOGLE_SENSITIVE_PATHS, ThresholdConfig, ThresholdOverride
from prodcat.taxonomy import Taxonomy
from prodcat.trainer.decoding import HierarchicalDecoder
from prodcat.trainer.decoding_tables import ThresholdError, label_end_masks, threshold_vectors


def test_thresholds_truncate_exactly_as_configured(tiny_google: Taxonomy) -> None:
    probs = [tf.constant([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]]), tf.constant([[0.7, 0.3], [0.3, 0.7], [0.4, 0.6]]),
             tf.constant([[0.5], [0.5], [0.5]])]
    decoder = HierarchicalDecoder(tiny_google, ThresholdConfig(per_level=(0.6, 0.65, 0.55)))
    out = decoder(probs)
    # row 0: 0.9>=0.6, 0.7>=0.65, 0.5<0.55 -> depth 2. row 1: Garden 0.8, Pots 0.7 (leaf) -> depth 2.
    # row 2: level 1 best is Toys at 0.5 < 0.6 -> no prediction at all.
    assert out[F.OUT_DEPTH].numpy().tolist() == [2, 2, 0]
    assert out[F.OUT_FULL_DEPTH].numpy().tolist() == [3, 2, 3]
    assert [v.decode() for v in out[F.OUT_CATEGORY_ID].numpy()] == ["2", "5", ""]
    assert out[F.OUT_CATEGORY_PATH].numpy().tolist() == [b"Toys > Kites", b"Garden > Pots & Planters", b""]


def test_a_failed_level_stops_the_path_even_if_deeper_levels_pass(tiny_google: Taxonomy) -> None:
    decoder = HierarchicalDecoder(tiny_google, ThresholdConfig(per_level=(0.5, 0.9, 0.1)))
    out = decoder([tf.constant([[0.9, 0.1]]), tf.constant([[0.6, 0.4]]), tf.constant([[1.0]])])
    assert int(out[F.OUT_DEPTH][0]) == 1


def test_subtree_override_is_stricter_only_inside_the_subtree(tiny_google: Taxonomy) -> None:
    thresholds = ThresholdConfig(per_level=(0.5,), overrides=(ThresholdOverride(path="Toys > Kites", min_confidence=0.95),))
    vectors = threshold_vectors(tiny_google, thresholds)
    np.testing.assert_allclose(vectors[0], [0.5, 0.5])
    np.testing.assert_allclose(vectors[1], [0.95, 0.5])
    np.testing.assert_allclose(vectors[2], [0.95])
    decoder = HierarchicalDecoder(tiny_google, thresholds)
    out = decoder([tf.constant([[0.9, 0.1], [0.1, 0.9]]), tf.constant([[0.9, 0.1], [0.1, 0.9]]), tf.constant([[1.0], [1.0]])])
    assert out[F.OUT_DEPTH].numpy().tolist() == [1, 2]


def test_sensitive_override_on_the_real_taxonomy(google_taxonomy: Taxonomy) -> None:
    thresholds = ThresholdConfig(per_level=(0.2,), overrides=(ThresholdOverride(path="Religious & Ceremonial", min_confidence=0.9),),
                                 sensitive=NO_SENSITIVE)
    vectors = threshold_vectors(google_taxonomy, thresholds)
    religious = google_taxonomy.by_path("Religious & Ceremonial")
    for cid in google_taxonomy.subtree(religious.id):
        level = google_taxonomy[cid].level
        assert vectors[level - 1][google_taxonomy.level_index(level, cid)] == pytest.approx(0.9)
    assert int(np.isclose(vectors[0], 0.2).sum()) == 20


def test_unknown_override_path_is_a_clear_error(tiny_google: Taxonomy) -> None:
    with pytest.raises(ThresholdError, match="'Toys > Drones'"):
        threshold_vectors(tiny_google, ThresholdConfig(overrides=(ThresholdOverride(path="Toys > Drones", min_confidence=0.9),)))


def test_default_sensitive_subtrees_get_the_stricter_floor(google_taxonomy: Taxonomy) -> None:
    vectors = threshold_vectors(google_taxonomy, ThresholdConfig(per_level=(0.3,)))
    for path in GOOGLE_SENSITIVE_PATHS:
        node = google_taxonomy.by_path(path)
        assert node is not None, path
        for cid in google_taxonomy.subtree(node.id):
            level = google_taxonomy[cid].level
            assert vectors[level - 1][google_taxonomy.level_index(level, cid)] == pytest.approx(0.8)
    outside = google_taxonomy.by_path("Toys & Games")
    assert vectors[0][google_taxonomy.level_index(1, outside.id)] == pytest.approx(0.3)


def test_sensitive_paths_missing_from_a_taxonomy_are_skipped(tiny_google: Taxonomy) -> None:
    vectors = threshold_vectors(tiny_google, ThresholdConfig(per_level=(0.4,)))
    assert all(np.allclose(v, 0.4) for v in vectors)


# Toys > Kites > Stunt Kites had training products, Garden too but none deeper (Pots & Planters had none).
GARDEN_LABELS_END = [np.array([True, True]), np.array([True, False]), np.array([True])]


def test_the_training_labels_end_at_seen_classes_without_a_seen_child(tiny_google: Taxonomy) -> None:
    ends = label_end_masks(tiny_google, GARDEN_LABELS_END)
    assert [e.tolist() for e in ends] == [[False, True], [False, False], [True]]


@pytest.mark.parametrize("beam_width", [1, 3])
def test_a_path_ends_where_the_training_labels_of_its_subtree_end(tiny_google: Taxonomy, beam_width: int) -> None:
    """Both rows are sure all the way down; row 1's Pots & Planters lies below Garden, where the
    training labels stop: it ends at Garden, with Garden's confidence, unless told otherwise."""
    probs = [tf.constant([[0.9, 0.1], [0.1, 0.9]]), tf.constant([[0.9, 0.1], [0.1, 0.9]]), tf.constant([[1.0], [1.0]])]
    thresholds = ThresholdConfig(per_level=(0.0,), sensitive=NO_SENSITIVE)

    def decoded(thresholds: ThresholdConfig, seen: list[np.ndarray] | None) -> dict:
        return HierarchicalDecoder(tiny_google, thresholds, beam_width=beam_width, seen_classes=seen)(probs)

    out = decoded(thresholds, GARDEN_LABELS_END)
    assert [p.decode() for p in out[F.OUT_CATEGORY_PATH].numpy()] == ["Toys > Kites > Stunt Kites", "Garden"]
    assert out[F.OUT_FULL_DEPTH].numpy().tolist() == [3, 1]
    np.testing.assert_allclose(out[F.OUT_LEVEL_CONFIDENCES][1].numpy(), [0.9, 0.0, 0.0], rtol=1e-6)
    full = ["Toys > Kites > Stunt Kites", "Garden > Pots & Planters"]
    for off in (decoded(thresholds.model_copy(update={"stop_where_labels_stop": False}), GARDEN_LABELS_END),
                decoded(thresholds, None)):  # a model without a record of its training labels
        assert [p.decode() for p in off[F.OUT_CATEGORY_PATH].numpy()] == full
