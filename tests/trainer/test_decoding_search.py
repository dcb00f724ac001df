"""Greedy and beam search decode paths of the taxonomy, eagerly and traced into a graph."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from decoding_fixtures import NO_SENSITIVE, _random_probs
from hypothesis import given, settings
from hypothesis import strategies as st

from prodcat import features as F
from prodcat.config import ThresholdConfig
from prodcat.taxonomy import Taxonomy
from prodcat.trainer.decoding import HierarchicalDecoder


@pytest.fixture(scope="module")
def open_decoder(google_taxonomy: Taxonomy) -> HierarchicalDecoder:
    return HierarchicalDecoder(google_taxonomy, ThresholdConfig(per_level=(0.0,), sensitive=NO_SENSITIVE))


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
