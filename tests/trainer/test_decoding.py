"""Hierarchy-consistent decoding and thresholds (TF ops of the serving graph)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from prodcat import features as F
from prodcat.config import GOOGLE_SENSITIVE_PATHS, SensitiveConfig, ThresholdConfig, ThresholdOverride
from prodcat.taxonomy import Taxonomy
from prodcat.trainer.decoding import HierarchicalDecoder
from prodcat.trainer.decoding_tables import ThresholdError, label_end_masks, threshold_vectors


NO_SENSITIVE = SensitiveConfig(paths=())


@pytest.fixture(scope="module")
def open_decoder(google_taxonomy: Taxonomy) -> HierarchicalDecoder:
    return HierarchicalDecoder(google_taxonomy, ThresholdConfig(per_level=(0.0,), sensitive=NO_SENSITIVE))


def _random_probs(taxonomy: Taxonomy, batch: int, seed: int, concentration: float) -> list[tf.Tensor]:
    rng = np.random.default_rng(seed)
    return [tf.constant(rng.dirichlet(np.full(n, concentration), size=batch).astype(np.float32))
            for n in taxonomy.level_sizes()]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), concentration=st.sampled_from([0.01, 0.1, 1.0, 10.0]))
def test_decoded_paths_are_always_paths_of_the_taxonomy(google_taxonomy: Taxonomy, open_decoder: HierarchicalDecoder,
                                                        seed: int, concentration: float) -> None:
    out = open_decoder(_random_probs(google_taxonomy, 16, seed, concentration))
    for row in range(16):
        ids = [v.decode() for v in out[F.OUT_LEVEL_IDS][row].numpy()]
        full = int(out[F.OUT_FULL_DEPTH][row])
        path = ids[:full]
        assert all(not v for v in ids[full:])
        assert google_taxonomy.ancestors(path[-1]) == path, "each level is a child of the previous one"
        assert google_taxonomy.is_leaf(path[-1]), "greedy decoding continues until a leaf"
        assert int(out[F.OUT_DEPTH][row]) == full, "with zero thresholds nothing is cut"


def test_greedy_picks_best_child_not_best_overall(tiny_google: Taxonomy) -> None:
    decoder = HierarchicalDecoder(tiny_google, ThresholdConfig(per_level=(0.0,)))
    # level 1: Toys(0.6) Garden(0.4); level 2: Kites(0.1) Pots(0.9) -> Pots is not under Toys.
    out = decoder([tf.constant([[0.6, 0.4]]), tf.constant([[0.1, 0.9]]), tf.constant([[1.0]])])
    assert out[F.OUT_CATEGORY_PATH][0].numpy().decode() == "Toys > Kites > Stunt Kites"
    np.testing.assert_allclose(out[F.OUT_LEVEL_CONFIDENCES][0].numpy(), [0.6, 0.1, 1.0], rtol=1e-6)


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


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), width=st.sampled_from([2, 4, 8]))
def test_beam_search_paths_are_always_paths_of_the_taxonomy(google_taxonomy: Taxonomy, seed: int, width: int) -> None:
    probs = _random_probs(google_taxonomy, 8, seed, 0.3)
    out = HierarchicalDecoder(google_taxonomy, ThresholdConfig(per_level=(0.0,), sensitive=NO_SENSITIVE), beam_width=width)(probs)
    for row in range(8):
        ids = [v.decode() for v in out[F.OUT_LEVEL_IDS][row].numpy()]
        full = int(out[F.OUT_FULL_DEPTH][row])
        path = ids[:full]
        assert all(not v for v in ids[full:])
        assert google_taxonomy.ancestors(path[-1]) == path and google_taxonomy.is_leaf(path[-1])


def test_beam_search_with_a_wide_beam_finds_the_most_probable_leaf(tiny_google: Taxonomy) -> None:
    rng = np.random.default_rng(1)
    probs = [tf.constant(rng.dirichlet(np.ones(n), size=16).astype(np.float32)) for n in tiny_google.level_sizes()]
    out = HierarchicalDecoder(tiny_google, ThresholdConfig(per_level=(0.0,), sensitive=NO_SENSITIVE), beam_width=8)(probs)
    leaves = [c.id for c in tiny_google.categories if tiny_google.is_leaf(c.id)]
    for row in range(16):
        def score(leaf: str) -> float:
            return float(np.prod([probs[k].numpy()[row, tiny_google.level_index(k + 1, cid)]
                                  for k, cid in enumerate(tiny_google.ancestors(leaf))]))
        best = max(leaves, key=score)
        assert out[F.OUT_LEVEL_IDS][row].numpy()[tiny_google[best].level - 1].decode() == best


def test_beam_search_finds_the_better_path_greedy_misses(tiny_google: Taxonomy) -> None:
    # Greedy takes Toys (0.55) then its only child Kites (0.2); Garden (0.45) > Pots (0.9) scores 0.405 > 0.11.
    probs = [tf.constant([[0.55, 0.45]]), tf.constant([[0.2, 0.9]]), tf.constant([[0.5]])]
    thresholds = ThresholdConfig(per_level=(0.0,), sensitive=NO_SENSITIVE)
    greedy = HierarchicalDecoder(tiny_google, thresholds)(probs)
    beam = HierarchicalDecoder(tiny_google, thresholds, beam_width=2)(probs)
    assert greedy[F.OUT_CATEGORY_PATH][0].numpy().decode() == "Toys > Kites > Stunt Kites"
    assert beam[F.OUT_CATEGORY_PATH][0].numpy().decode() == "Garden > Pots & Planters"


@pytest.mark.parametrize("width", [1, 3])
def test_the_decoder_traced_into_a_graph_answers_as_it_does_eagerly(google_taxonomy: Taxonomy, width: int) -> None:
    """The serving signatures are tf.functions: the decoder must trace (Python scalars meet int64 tensors there)."""
    decoder = HierarchicalDecoder(google_taxonomy, ThresholdConfig(per_level=(0.3,)), beam_width=width)
    probs = _random_probs(google_taxonomy, 8, 7, 0.3)
    traced = tf.function(decoder.__call__)(probs)
    eager = decoder(probs)
    for name, value in eager.items():
        np.testing.assert_array_equal(traced[name].numpy(), value.numpy(), err_msg=name)


def _tiny_names() -> list[np.ndarray]:
    """Path-name embeddings of the tiny tree: Toys, Garden | Kites, Pots | Stunt Kites."""
    return [np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float32),
            np.array([[0.9, 0.0, 0.1], [0.0, 2.0, 2.0]], np.float32),  # |Pots| = 2.8: cosine, not dot product
            np.array([[1.0, 0.0, 0.1]], np.float32)]


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
    thresholds = ThresholdConfig(per_level=(0.0,), name_evidence=0.0, name_fallback_below=0.7, name_fallback_classes="auto",
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


@pytest.mark.parametrize("beam_width", [1, 3])
def test_name_evidence_decides_where_the_heads_are_unsure(tiny_google: Taxonomy, beam_width: int) -> None:
    """Both products' words are a little nearer Garden's subtree than Toys' (0.738 against 0.610
    after the level penalty). Row 0's heads lean to Toys at 0.6: the names tip it to Garden. Row
    1's heads are sure of Toys (0.999): 40 x 0.128 does not outweigh them. The level-1 confidence
    is the product of the two, renormalized. (Row 0's heads give Pots the more level-2 probability,
    as heads unsure of level 1 do: beam search weighs whole paths.)"""
    probs = [tf.constant([[0.6, 0.4], [0.999, 0.001]]), tf.constant([[0.45, 0.55], [0.9, 0.1]]), tf.constant([[1.0], [1.0]])]
    sentence = tf.constant([[1.0, 1.2, 0.0], [1.0, 1.2, 0.0]])
    thresholds = ThresholdConfig(per_level=(0.0,), name_evidence=40.0, name_fallback_below=0.0, sensitive=NO_SENSITIVE)
    decoder = HierarchicalDecoder(tiny_google, thresholds, beam_width=beam_width, category_names=_tiny_names())
    out = decoder(probs, sentence)
    assert [p.decode() for p in out[F.OUT_CATEGORY_PATH].numpy()] == ["Garden > Pots & Planters",
                                                                      "Toys > Kites > Stunt Kites"]
    query = np.array([1.0, 1.2, 0.0]) / np.linalg.norm([1.0, 1.2, 0.0])
    cosine = [_tiny_names()[k] @ query / np.linalg.norm(_tiny_names()[k], axis=1) - 0.03 * (k + 1) for k in range(3)]
    subtree = np.array([max(cosine[0][0], cosine[1][0], cosine[2][0]), max(cosine[0][1], cosine[1][1])])
    expected = np.array([0.6, 0.4]) * np.exp(40.0 * subtree)
    np.testing.assert_allclose(out[F.OUT_LEVEL_CONFIDENCES][0, 0].numpy(), expected[1] / expected.sum(), rtol=1e-4)

    off = HierarchicalDecoder(tiny_google, thresholds.model_copy(update={"name_evidence": 0.0}), beam_width=beam_width,
                              category_names=_tiny_names())(probs, sentence)
    assert [p.decode() for p in off[F.OUT_CATEGORY_PATH].numpy()] == ["Toys > Kites > Stunt Kites"] * 2
    np.testing.assert_allclose(off[F.OUT_LEVEL_CONFIDENCES][:, 0].numpy(), [0.6, 0.999], rtol=1e-6)


def test_subtree_name_scores_are_the_best_score_below_each_category(google_taxonomy: Taxonomy) -> None:
    """A category is as near as its nearest descendant (itself included), each cosine less the
    level penalty: checked against a brute-force walk of the real taxonomy."""
    rng = np.random.default_rng(11)
    names = [rng.normal(size=(n, 6)).astype(np.float32) for n in google_taxonomy.level_sizes()]
    decoder = HierarchicalDecoder(google_taxonomy, ThresholdConfig(sensitive=NO_SENSITIVE), category_names=names)
    sentence = rng.normal(size=(4, 6)).astype(np.float32)
    got = [s.numpy() for s in decoder.name_scores.subtree_scores(tf.constant(sentence))]
    query = sentence / np.linalg.norm(sentence, axis=1, keepdims=True)
    own = {}
    for k in range(google_taxonomy.depth):
        cos = query @ (names[k] / np.linalg.norm(names[k], axis=1, keepdims=True)).T - 0.03 * (k + 1)
        for j, cid in enumerate(google_taxonomy.level_ids(k + 1)):
            own[cid] = cos[:, j]
    for level in (1, 2, google_taxonomy.depth - 1):
        for j, cid in enumerate(google_taxonomy.level_ids(level)[:40]):
            expected = np.max([own[d] for d in google_taxonomy.subtree(cid)], axis=0)
            np.testing.assert_allclose(got[level - 1][:, j], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("beam_width", [1, 3])
def test_products_like_the_training_data_weigh_the_names_less(tiny_google: Taxonomy, beam_width: int) -> None:
    """The heads lean to Toys (0.8); the words are 0.128 nearer Garden's names. A product that
    is itself a training product (cosine 1.0, more than the margin 0.2 above its best name score
    0.738) gets the familiar weight 10, too little to outweigh the heads; the same product with
    no training product near it gets 40, and Garden."""
    probs = [tf.constant([[0.8, 0.2]]), tf.constant([[0.3, 0.7]]), tf.constant([[1.0]])]
    sentence = tf.constant([[1.0, 1.2, 0.0]])
    thresholds = ThresholdConfig(per_level=(0.0,), name_evidence=40.0, name_evidence_familiar=10.0,
                                 name_evidence_margin=0.2, name_fallback_below=0.0, sensitive=NO_SENSITIVE)

    def path(sample: list[list[float]]) -> str:
        decoder = HierarchicalDecoder(tiny_google, thresholds, beam_width=beam_width, category_names=_tiny_names(),
                                      training_sample=np.array(sample, np.float32))
        return decoder(probs, sentence)[F.OUT_CATEGORY_PATH].numpy()[0].decode()

    assert path([[1.0, 1.2, 0.0]]) == "Toys > Kites > Stunt Kites"
    assert path([[0.0, 0.0, 1.0]]) == "Garden > Pots & Planters"
