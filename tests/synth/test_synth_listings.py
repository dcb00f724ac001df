"""What a synthetic listing says: languages, marketplace fields, title noise, specialised shops, German names."""

from __future__ import annotations

import collections
import re

import pytest
from synth_fixtures import default_products, google  # noqa: F401 (fixtures)

from prodcat.synth import SynthConfig, generate, lexicon_languages
from prodcat.taxonomy import Taxonomy

SKU = re.compile(r"\b[A-Z]{2}-\d{3,4}\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def german(german_taxonomy: Taxonomy) -> Taxonomy:
    return german_taxonomy


def test_languages_follow_weights(default_products: list) -> None:
    config = SynthConfig()
    shares = collections.Counter(p.language for p in default_products)
    assert set(shares) == set(config.languages)
    for language, weight in zip(config.languages, config.language_weights):
        assert abs(shares[language] / len(default_products) - weight) < 0.04
    assert set(config.languages) <= set(lexicon_languages())


def test_listing_fields_look_like_a_marketplace(google: Taxonomy, default_products: list) -> None:
    for product in default_products[:500]:
        assert product.title and product.description and product.shop and product.vendor
        assert product.vendor in product.description  # vendor is the brand
        assert 1 <= len(product.tags) <= 4
    types = [p.product_type for p in default_products]
    assert 0.2 < sum(1 for t in types if not t) / len(types) < 0.6
    # English titles contain words of the category's name.
    english = [p for p in default_products if p.language == "en"][:300]
    hits = sum(
        any(w.lower() in p.title.lower() for w in google[p.category].name.split() if len(w) > 3)
        for p in english
    )
    assert hits / len(english) > 0.9


def test_noise_controls_title_corruption(google: Taxonomy) -> None:
    clean = generate(google, SynthConfig(n_products=300, noise=0.0))
    noisy = generate(google, SynthConfig(n_products=300, noise=1.0))
    assert not any(SKU.search(p.title) for p in clean)
    assert all(SKU.search(p.title) for p in noisy)
    default = generate(google, SynthConfig(n_products=300))
    assert 0.05 < sum(1 for p in default if SKU.search(p.title)) / 300 < 0.3


def test_shops_are_specialised(google: Taxonomy, default_products: list) -> None:
    all_tops = {google.ancestors(p.category)[0] for p in default_products}
    tops_by_shop: dict[str, set[str]] = collections.defaultdict(set)
    for product in default_products:
        tops_by_shop[product.shop].add(google.ancestors(product.category)[0])
    assert len(tops_by_shop) == SynthConfig().n_shops
    assert all(len(tops) < len(all_tops) / 2 for tops in tops_by_shop.values())
    assert all(name.split()[-1] in {"Store", "Shop", "Market", "Outlet", "Supply", "Emporium"} for name in tops_by_shop)
    # Brands belong to one shop each.
    shops_by_brand: dict[str, set[str]] = collections.defaultdict(set)
    for product in default_products:
        shops_by_brand[product.vendor].add(product.shop)
    assert all(len(shops) == 1 for shops in shops_by_brand.values())


def test_localized_names_for_german(google: Taxonomy, german: Taxonomy) -> None:
    config = SynthConfig(n_products=600, noise=0.0, languages=("en", "de"), language_weights=(0.5, 0.5))
    products = generate(google, config, localized={"de": german})
    checked = 0
    for product in products:
        de_node = german.get(product.category)
        if de_node is None or de_node.name == google[product.category].name:
            continue
        expected = german if product.language == "de" else google
        words = [w for w in expected[product.category].name.split() if len(w) > 3]
        if words:
            assert any(w in product.title for w in words), (product.language, product.title)
            checked += 1
    assert checked > 200
    assert any(p.language == "de" and " aus " in p.title for p in products)  # German template words
