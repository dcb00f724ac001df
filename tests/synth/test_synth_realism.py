"""The demo's realism knobs: label noise, sibling overlap, short titles, one-off sellers."""

from __future__ import annotations

import collections
import dataclasses

import pytest
from synth_fixtures import _digest
from synth_fixtures import google  # noqa: F401 (fixture)

from prodcat.synth import SynthConfig, ambiguous_pairs, generate, select_categories
from prodcat.taxonomy import Taxonomy


REALISM = dict(sibling_overlap=0.3, short_titles=0.4, one_off_sellers=0.2, label_noise=0.05)  # the demo's


def test_realism_is_deterministic_and_changes_the_output(google: Taxonomy) -> None:
    config = SynthConfig(n_products=600, **REALISM)
    first, second = generate(google, config), generate(google, config)
    assert _digest(first) == _digest(second)
    assert _digest(first) != _digest(generate(google, SynthConfig(n_products=600)))
    with pytest.raises(ValueError, match="label_noise"):
        generate(google, SynthConfig(label_noise=1.5))


def test_label_noise_relabels_that_share_and_nothing_else(google: Taxonomy) -> None:
    clean = generate(google, SynthConfig(n_products=1000))
    noisy = generate(google, SynthConfig(n_products=1000, label_noise=0.05))
    labelled = {p.category for p in clean}
    changed = [(a.category, b.category) for a, b in zip(clean, noisy) if a.category != b.category]
    assert len(changed) == 50  # exactly round(0.05 * 1000), marked nowhere
    assert [dataclasses.replace(p, category=None) for p in clean] == [dataclasses.replace(p, category=None) for p in noisy]
    tops = collections.Counter(google.ancestors(c)[0] for c in labelled)
    for true, wrong in changed:
        assert wrong in labelled
        if tops[google.ancestors(true)[0]] > 1:  # a near mistake when the subtree has another category
            assert google.ancestors(wrong)[0] == google.ancestors(true)[0]


def test_sibling_overlap_borrows_the_siblings_words(google: Taxonomy) -> None:
    base = SynthConfig(n_products=1200, n_categories=8, min_per_category=50, noise=0.0, sibling_overlap=0.5)
    pairs = ambiguous_pairs(google, base)
    assert all(len(pair) == 2 and google[pair[0]].parent == google[pair[1]].parent for pair in pairs)
    assert select_categories(google, base) == [c for pair in pairs for c in pair]  # drawn in sibling pairs
    chosen = tuple(c for pair in pairs for c in pair)

    def borrowed(config: SynthConfig) -> list[float]:
        products = [p for p in generate(google, config) if p.language == "en"]
        shares = []
        for a, b in pairs + [pair[::-1] for pair in pairs]:
            own = set(google[a].name.split()) | set(google[google[a].parent].name.split())
            only_b = set(google[b].name.split()) - own
            titles = [set(p.title.split()) for p in products if p.category == a]
            if only_b and titles:
                shares.append(sum(bool(only_b & t) for t in titles) / len(titles))
        assert len(shares) >= 4
        return shares

    assert all(0.05 < share < 0.5 for share in borrowed(dataclasses.replace(base, categories=chosen)))
    assert not any(borrowed(dataclasses.replace(base, categories=chosen, sibling_overlap=0.0)))


def test_short_titles_are_terse_and_bare(google: Taxonomy) -> None:
    products = generate(google, SynthConfig(n_products=1000, short_titles=0.3))
    terse = [p for p in products if not p.tags]
    assert 0.25 < len(terse) / len(products) < 0.35
    assert all(not p.product_type and not p.collections for p in terse)
    assert all(len(p.title.split()) <= 4 and p.vendor in p.title.split() for p in terse if p.language == "en")
    named = [any(w in p.title.split() for w in google[p.category].name.split()) for p in terse]
    assert 0.3 < sum(named) / len(named) < 0.7  # half name one category word, half none
    assert all(p.tags for p in generate(google, SynthConfig(n_products=300)))


def test_one_off_sellers_have_one_product_and_brand_each(google: Taxonomy) -> None:
    config = SynthConfig(n_products=1000, one_off_sellers=0.15)
    products = generate(google, config)
    per_shop = collections.Counter(p.shop for p in products)
    one_off = {shop for shop, count in per_shop.items() if count == 1}
    assert len(per_shop) == config.n_shops + len(one_off)
    assert 110 < len(one_off) < 190
    regular_brands = {p.vendor for p in products if p.shop not in one_off}
    assert not {p.vendor for p in products if p.shop in one_off} & regular_brands
    plain = generate(google, dataclasses.replace(config, one_off_sellers=0.0))
    assert [(p.category, p.language) for p in plain] == [(p.category, p.language) for p in products]
    assert not {p.shop for p in plain} & one_off
