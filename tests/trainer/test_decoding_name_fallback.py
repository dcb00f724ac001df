"""The name fallback: unsure products take the path of the nearest category name (seen, unseen or `auto` classes)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from decoding_fixtures import NO_SENSITIVE, _random_probs, _tiny_names

from prodcat import features as F
from prodcat.config import ThresholdConfig
from prodcat.taxonomy import Taxonomy
from prodcat.trainer.decoding import HierarchicalDecoder


@pytest.mark.parametrize("beam_width", [1, 3])
def test_an_unsure_path_falls_back_to_the_nearest_category_name(tiny_google: Taxonomy, beam_width: int) -> None:
    """Row 0 is sure (every level >= 0.9): kept. Row 1 is unsure at level 1 (0.6 < 0.7): it takes
    the path of the name nearest its sentence embedding (Pots, a level-2 class, and its parent),
    with the model's own confidences for that path, so thresholds cut it as usual."""
    probs = [tf.constant([[0.9, 0.1], [0.6, 0.4]]), tf.constant([[0.9, 0.1], [0.95, 0.05]]), tf.constant([[1.0], [1.0]])]
    sentence = tf.constant([[1.0, 0.0, 0.0], [0.0, 0.2, 1.0]])
    thresholds = ThresholdConfig(per_level=(0.0,), name_evidence=0.0, name_fallback_below=0.7, sensitive=NO_SENSITIVE)
    decoder = HierarchicalDecoder(tiny_google, thresholds, beam_width=beam_width, category_names=_tiny_names())
    out = decoder(probs, sentence)
    paths = [p.decode() for p in out[F.OUT_CATEGORY_PATH].numpy()]
    assert paths == ["Toys > Kites > Stunt Kites", "Garden > Pots & Planters"]
    assert out[F.OUT_FULL_DEPTH].numpy().tolist() == [3, 2]
    np.testing.assert_allclose(out[F.OUT_LEVEL_CONFIDENCES][1].numpy(), [0.4, 0.05, 0.0], rtol=1e-6)
    cut = HierarchicalDecoder(tiny_google, thresholds.model_copy(update={"per_level": (0.3,)}), beam_width=beam_width,
                              category_names=_tiny_names())(probs, sentence)
    assert [p.decode() for p in cut[F.OUT_CATEGORY_PATH].numpy()] == ["Toys > Kites > Stunt Kites", "Garden"]

    unchanged = ["Toys > Kites > Stunt Kites"] * 2
    for off in (HierarchicalDecoder(tiny_google, thresholds.model_copy(update={"name_fallback_below": 0.0}),
                                    beam_width=beam_width, category_names=_tiny_names())(probs, sentence),
                decoder(probs),  # no sentence embedding (a model without the text encoder)
                HierarchicalDecoder(tiny_google, thresholds, beam_width=beam_width)(probs, sentence)):  # no names
        assert [p.decode() for p in off[F.OUT_CATEGORY_PATH].numpy()] == unchanged


@pytest.mark.parametrize("beam_width", [1, 3])
def test_the_name_fallback_hands_over_only_to_categories_training_never_had(tiny_google: Taxonomy,
                                                                            beam_width: int) -> None:
    """Both rows are unsure at level 1 (0.6 < 0.7). Row 0's nearest name is Toys, a trained class:
    the heads chose among the trained classes, so their path stands. Row 1's is Pots & Planters,
    which had no training products: it takes that path. With `name_fallback_classes` 'all', or
    without a record of the seen classes, row 0 is handed to Toys too."""
    probs = [tf.constant([[0.6, 0.4], [0.6, 0.4]]), tf.constant([[0.95, 0.05], [0.95, 0.05]]), tf.constant([[1.0], [1.0]])]
    sentence = tf.constant([[1.0, 0.0, 0.0], [0.0, 0.2, 1.0]])
    seen = [np.array([True, True]), np.array([True, False]), np.array([True])]
    thresholds = ThresholdConfig(per_level=(0.0,), name_evidence=0.0, name_fallback_below=0.7, name_fallback_classes="unseen",
                                 stop_where_labels_stop=False, sensitive=NO_SENSITIVE)

    def paths(thresholds: ThresholdConfig, seen_classes: list[np.ndarray] | None) -> list[str]:
        decoder = HierarchicalDecoder(tiny_google, thresholds, beam_width=beam_width, category_names=_tiny_names(),
                                      seen_classes=seen_classes)
        return [p.decode() for p in decoder(probs, sentence)[F.OUT_CATEGORY_PATH].numpy()]

    assert paths(thresholds, seen) == ["Toys > Kites > Stunt Kites", "Garden > Pots & Planters"]
    handed_over = ["Toys", "Garden > Pots & Planters"]
    assert paths(thresholds.model_copy(update={"name_fallback_classes": "all"}), seen) == handed_over
    assert paths(thresholds, None) == handed_over
    with pytest.raises(ValueError, match="do not fit"):
        paths(thresholds, seen[:2] + [np.array([True, True])])


@pytest.mark.parametrize("penalty", [0.0, 0.03, 0.2])
def test_name_fallback_paths_are_paths_of_the_real_taxonomy(google_taxonomy: Taxonomy, penalty: float) -> None:
    """Every product unsure (floor 1.0): each gets the ancestors of its nearest category name, at
    whatever level that category is, each level's cosine lowered by `name_level_penalty` per level
    (a large penalty keeps matches near the top)."""
    rng = np.random.default_rng(7)
    names = [rng.normal(size=(n, 8)).astype(np.float32) for n in google_taxonomy.level_sizes()]
    thresholds = ThresholdConfig(per_level=(0.0,), name_evidence=0.0, name_fallback_below=1.0, name_level_penalty=penalty, sensitive=NO_SENSITIVE)
    decoder = HierarchicalDecoder(google_taxonomy, thresholds, category_names=names)
    sentence = rng.normal(size=(32, 8)).astype(np.float32)
    out = decoder(_random_probs(google_taxonomy, 32, 3, 1.0), tf.constant(sentence))
    flat = np.concatenate(names)
    flat_ids = [c for k in range(1, google_taxonomy.depth + 1) for c in google_taxonomy.level_ids(k)]
    levels = np.array([google_taxonomy[c].level for c in flat_ids])
    cosine = (sentence / np.linalg.norm(sentence, axis=1, keepdims=True)) @ (flat / np.linalg.norm(flat, axis=1, keepdims=True)).T
    depths = []
    for row in range(32):
        full = int(out[F.OUT_FULL_DEPTH][row])
        path = [v.decode() for v in out[F.OUT_LEVEL_IDS][row].numpy()[:full]]
        assert path == google_taxonomy.ancestors(flat_ids[int((cosine[row] - penalty * levels).argmax())])
        depths.append(full)
    if penalty == 0.0:
        assert np.mean(depths) > 3  # most names are deep ones
    if penalty == 0.2:
        assert np.mean(depths) < 2


@pytest.mark.parametrize("beam_width", [1, 3])
def test_auto_hands_a_product_to_a_trained_category_only_when_it_is_unlike_the_training_products(
        tiny_google: Taxonomy, beam_width: int) -> None:
    """Both rows are unsure at level 1 (0.6 < 0.7). Row 0's nearest name is Toys, a trained class,
    at cosine 0.5 (0.47 after the level penalty). `auto` keeps the heads' path while a training
    product is nearer to row 0 than that by more than the margin (cosine 1.0 > 0.47 + 0.25), and
    hands row 0 to Toys when none is; row 1 goes to the untrained Pots & Planters either way."""
    probs = [tf.constant([[0.6, 0.4], [0.6, 0.4]]), tf.constant([[0.95, 0.05], [0.95, 0.05]]), tf.constant([[1.0], [1.0]])]
    row_0 = [0.5, 0.0, -np.sqrt(0.75)]
    sentence = tf.constant([row_0, [0.0, 0.2, 1.0]])
    seen = [np.array([True, True]), np.array([True, False]), np.array([True])]
    thresholds = ThresholdConfig(per_level=(0.0,), per_level_unfamiliar=(), name_evidence=0.0, name_fallback_below=0.7,
                                 name_fallback_classes="auto",
                                 name_level_penalty=0.03, novel_margin=0.25, stop_where_labels_stop=False,
                                 sensitive=NO_SENSITIVE)
    like_row_0 = np.array([row_0], np.float32)
    unlike_both = np.array([[0.0, -1.0, 0.0]], np.float32)

    def paths(sample: np.ndarray | None, margin: float = 0.25) -> list[str]:
        decoder = HierarchicalDecoder(tiny_google, thresholds.model_copy(update={"novel_margin": margin}),
                                      beam_width=beam_width, category_names=_tiny_names(), seen_classes=seen,
                                      training_sample=sample)
        return [p.decode() for p in decoder(probs, sentence)[F.OUT_CATEGORY_PATH].numpy()]

    assert paths(like_row_0) == ["Toys > Kites > Stunt Kites", "Garden > Pots & Planters"]
    assert paths(unlike_both) == ["Toys", "Garden > Pots & Planters"]
    assert paths(like_row_0, margin=0.6) == ["Toys", "Garden > Pots & Planters"]  # 0.47 + 0.6 > 1.0
    assert paths(None) == paths(like_row_0)  # no sample (an older model): as `unseen`
