"""Which categories the synthetic products get: valid, spread, skewed, chosen explicitly, on tiny trees."""

from __future__ import annotations

import collections

import pytest
from synth_fixtures import default_products, google, tiny  # noqa: F401 (fixtures)

from prodcat.synth import SynthConfig, generate, select_categories
from prodcat.taxonomy import Taxonomy


def test_categories_valid_spread_and_covered(google: Taxonomy, default_products: list) -> None:
    config = SynthConfig()
    assert len(default_products) == config.n_products
    assert len({p.id for p in default_products}) == len(default_products)
    counts = collections.Counter(p.category for p in default_products)
    assert len(counts) == config.n_categories
    assert all(cid in google and google.is_leaf(cid) for cid in counts)
    assert min(counts.values()) >= config.min_per_category
    tops = {google.ancestors(cid)[0] for cid in counts}
    assert len(tops) >= 15  # spread over most of the 21 level-1 subtrees
    levels = [google[cid].level for cid in counts]
    assert any(level <= 3 for level in levels) and any(level >= 4 for level in levels)
    assert set(select_categories(google, config)) == set(counts)


def test_class_frequencies_are_skewed(default_products: list) -> None:
    counts = sorted(collections.Counter(p.category for p in default_products).values(), reverse=True)
    assert counts[0] >= 10 * counts[-1]
    assert sum(counts[:4]) >= 0.3 * len(default_products)  # top 10% of classes: >= 30% of data
    assert sum(counts[-20:]) <= 0.25 * len(default_products)  # the tail half is rare


def test_explicit_categories_and_validation(google: Taxonomy) -> None:
    chosen = ("3237", "4", "5598")
    products = generate(google, SynthConfig(n_products=60, categories=chosen))
    assert {p.category for p in products} == set(chosen)
    with pytest.raises(ValueError, match="not in the taxonomy"):
        generate(google, SynthConfig(categories=("no-such-id",)))
    with pytest.raises(ValueError, match="language_weights"):
        generate(google, SynthConfig(languages=("en", "de"), language_weights=(1.0,)))
    with pytest.raises(ValueError):
        generate(google, SynthConfig(noise=1.5))


def test_tiny_taxonomy(tiny: Taxonomy) -> None:
    products = generate(tiny, SynthConfig(n_products=100, n_shops=3, images=True))
    counts = collections.Counter(p.category for p in products)
    assert set(counts) == {c.id for c in tiny.categories}  # fewer categories than asked: all used
    assert min(counts.values()) >= 5 and len(products) == 100
    ambiguous = generate(tiny, SynthConfig(n_products=60, ambiguous_titles=True))
    assert {p.category for p in ambiguous} == {c.id for c in tiny.categories}
    few = generate(tiny, SynthConfig(n_products=3))  # fewer products than categories
    assert len(few) == 3 and len({p.category for p in few}) == 3
