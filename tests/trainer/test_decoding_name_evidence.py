"""Name evidence: the cosine to category names reweighs the heads' level probabilities where they are unsure."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from decoding_fixtures import NO_SENSITIVE, _tiny_names

from prodcat import features as F
from prodcat.config import ThresholdConfig
from prodcat.taxonomy import Taxonomy
from prodcat.trainer.decoding import HierarchicalDecoder


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
    thresholds = ThresholdConfig(per_level=(0.0,), per_level_unfamiliar=(), name_evidence=40.0, name_evidence_familiar=10.0,
                                 name_evidence_margin=0.2, name_fallback_below=0.0, sensitive=NO_SENSITIVE)

    def path(sample: list[list[float]]) -> str:
        decoder = HierarchicalDecoder(tiny_google, thresholds, beam_width=beam_width, category_names=_tiny_names(),
                                      training_sample=np.array(sample, np.float32))
        return decoder(probs, sentence)[F.OUT_CATEGORY_PATH].numpy()[0].decode()

    assert path([[1.0, 1.2, 0.0]]) == "Toys > Kites > Stunt Kites"
    assert path([[0.0, 0.0, 1.0]]) == "Garden > Pots & Planters"


@pytest.mark.parametrize("beam_width", [1, 3])
def test_the_nearer_of_the_two_texts_counts_against_the_names(tiny_google: Taxonomy, beam_width: int) -> None:
    """The heads lean to Toys (0.6). The long text (title and description) is a little nearer
    Toys' names; the short one (title, vendor, collections) names Garden outright: its cosine
    wins at Garden's categories and tips the product there. Given as the long text's second
    copy, the short text changes nothing; scores are the elementwise larger cosine."""
    probs = [tf.constant([[0.6, 0.4]]), tf.constant([[0.55, 0.45]]), tf.constant([[1.0]])]
    sentence = tf.constant([[1.2, 1.0, 0.0]])
    short = tf.constant([[0.0, 1.0, 0.0]])
    thresholds = ThresholdConfig(per_level=(0.0,), name_evidence=40.0, name_fallback_below=0.0, sensitive=NO_SENSITIVE)
    decoder = HierarchicalDecoder(tiny_google, thresholds, beam_width=beam_width, category_names=_tiny_names())

    def path(*texts: tf.Tensor) -> str:
        return decoder(probs, *texts)[F.OUT_CATEGORY_PATH].numpy()[0].decode()

    assert path(sentence) == "Toys > Kites > Stunt Kites"
    assert path(sentence, short) == "Garden > Pots & Planters"
    assert path(sentence, sentence) == path(sentence)
    both = [s.numpy() for s in decoder.name_scores.level_scores(sentence, short)]
    each = [np.maximum(a.numpy(), b.numpy()) for a, b in zip(decoder.name_scores.level_scores(sentence),
                                                            decoder.name_scores.level_scores(short))]
    for got, expected in zip(both, each):
        np.testing.assert_allclose(got, expected, rtol=1e-6)
