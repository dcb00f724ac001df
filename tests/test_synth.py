"""Tests for the synthetic listing generator (prodcat.synth)."""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from prodcat.readers import read_products
from prodcat.synth import (
    SynthConfig,
    ambiguous_pairs,
    generate,
    lexicon_languages,
    select_categories,
    write_demo_dataset,
)
from prodcat.taxonomy import Taxonomy

SKU = re.compile(r"\b[A-Z]{2}-\d{3,4}\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def google(google_taxonomy: Taxonomy) -> Taxonomy:
    return google_taxonomy


@pytest.fixture(scope="module")
def german(german_taxonomy: Taxonomy) -> Taxonomy:
    return german_taxonomy


@pytest.fixture(scope="module")
def tiny() -> Taxonomy:
    return Taxonomy.from_paths(["A > A1", "A > A2", "B > B1", "B > B2"])  # 6 nodes, depth 2


@pytest.fixture(scope="module")
def default_products(google: Taxonomy) -> list:
    return generate(google, SynthConfig())


def _digest(products: list) -> str:
    text = "\n".join(json.dumps(p.to_json_dict(), ensure_ascii=False, sort_keys=True) for p in products)
    return hashlib.sha256(text.encode()).hexdigest()


def _decode(image: bytes) -> np.ndarray:
    """Decodes a PNG into simple features: a hue histogram of saturated pixels + a coarse layout."""
    with Image.open(io.BytesIO(image)) as img:
        assert img.format == "PNG"
        assert img.mode == "RGB" and img.size == (64, 64)
        hsv = np.asarray(img.convert("HSV")).reshape(-1, 3)
        hues = np.bincount(hsv[hsv[:, 1] > 90, 0] // 11, minlength=24)[:24] / len(hsv)
        layout = np.asarray(img.convert("L").resize((16, 16)), dtype=np.float32).ravel() / 255
    return np.concatenate([8 * hues, 0.3 * layout])


def _nearest_centroid_accuracy(products: list) -> tuple[float, float]:
    """Accuracy of a nearest-centroid classifier on pixels, and the majority-class rate."""
    x = np.stack([_decode(p.image) for p in products])
    y = np.array([p.category for p in products])
    train = np.arange(len(y)) % 2 == 0
    classes = sorted(set(y[train]))
    centroids = np.stack([x[train & (y == c)].mean(axis=0) for c in classes])
    dist = ((x[~train, None, :] - centroids[None]) ** 2).sum(axis=-1)
    predicted = np.array(classes)[dist.argmin(axis=1)]
    majority = collections.Counter(y[~train]).most_common(1)[0][1] / (~train).sum()
    return float((predicted == y[~train]).mean()), float(majority)


# ----------------------------------------------------------------------------- determinism
def test_same_seed_same_output_different_seed_differs(google: Taxonomy) -> None:
    config = SynthConfig(n_products=300, images=True)
    first, second = generate(google, config), generate(google, config)
    assert _digest(first) == _digest(second)
    assert [p.image for p in first] == [p.image for p in second]
    other = generate(google, dataclasses.replace(config, seed=1))
    assert _digest(other) != _digest(first)
    assert {p.category for p in other} != {p.category for p in first}


def test_images_do_not_change_the_text(google: Taxonomy) -> None:
    config = SynthConfig(n_products=200)
    plain = generate(google, config)
    with_images = generate(google, dataclasses.replace(config, images=True))
    assert _digest(plain) == _digest([dataclasses.replace(p, image=None) for p in with_images])


def test_deterministic_across_processes(tmp_path: Path) -> None:
    """No dependence on PYTHONHASHSEED (set iteration, hash())."""
    script = (
        "import sys\n"
        "from prodcat.taxonomy import Taxonomy\n"
        "from prodcat.synth import SynthConfig, write_demo_dataset\n"
        "tax = Taxonomy.from_paths(['A > A1 > X', 'A > A2', 'B > B1', 'B > B2 > Y', 'C > C1'])\n"
        "write_demo_dataset(tax, sys.argv[1], SynthConfig(n_products=60, images=True, ambiguous_titles=True))\n"
    )
    digests = []
    for hash_seed in ("1", "2"):
        out = tmp_path / hash_seed
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-c", script, str(out)], check=True, env=env, cwd=Path(__file__).parents[1])
        files = sorted(p for p in out.rglob("*") if p.is_file())
        digests.append(hashlib.sha256(b"".join(p.name.encode() + p.read_bytes() for p in files)).hexdigest())
    assert digests[0] == digests[1]


# ----------------------------------------------------------------------------- labels
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


# ----------------------------------------------------------------------------- listing content
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


# ----------------------------------------------------------------------------- images
def test_images_decode_and_depend_on_the_category(google: Taxonomy) -> None:
    config = SynthConfig(n_products=600, n_categories=12, min_per_category=20, images=True)
    products = generate(google, config)
    assert all(p.image is not None for p in products)
    accuracy, majority = _nearest_centroid_accuracy(products)
    assert accuracy > max(0.8, 2 * majority)


# ----------------------------------------------------------------------------- ambiguous mode
def test_ambiguous_pairs_share_text_but_not_images(google: Taxonomy) -> None:
    config = SynthConfig(
        n_products=480, n_categories=8, min_per_category=50, noise=0.0, images=True, ambiguous_titles=True
    )
    pairs = ambiguous_pairs(google, config)
    assert len(pairs) == 4
    assert all(len(pair) == 2 and google[pair[0]].parent == google[pair[1]].parent for pair in pairs)
    products = generate(google, config)
    by_category = collections.defaultdict(list)
    for product in products:
        by_category[product.category].append(product)
    for a, b in pairs:
        pool = {w for cid in (a, b) for w in google[cid].name.split()}

        def used(cid: str) -> set[str]:
            return {w for p in by_category[cid] if p.language == "en" for w in p.title.split() if w in pool}

        assert used(a) == used(b), (google[a].name, google[b].name)
        assert {p.product_type for p in by_category[a]} == {p.product_type for p in by_category[b]}
        pair_products = by_category[a] + by_category[b]
        accuracy, _ = _nearest_centroid_accuracy(sorted(pair_products, key=lambda p: p.id))
        assert accuracy > 0.95  # the image separates the pair


def test_non_ambiguous_titles_do_separate_siblings(google: Taxonomy) -> None:
    """Control for the test above: without ambiguous mode, the name words tell siblings apart."""
    base = SynthConfig(n_products=480, n_categories=8, min_per_category=50, noise=0.0, ambiguous_titles=True)
    pairs = ambiguous_pairs(google, base)
    config = dataclasses.replace(base, categories=tuple(c for pair in pairs for c in pair), ambiguous_titles=False)
    products = generate(google, config)
    for a, b in pairs:
        shared = set(google[b].name.split()) | set(google[google[b].parent].name.split())
        only_a = set(google[a].name.split()) - shared
        assert all(not (only_a & set(p.title.split())) for p in products if p.category == b and p.language == "en")


# ----------------------------------------------------------------------------- small trees, files
def test_tiny_taxonomy(tiny: Taxonomy) -> None:
    products = generate(tiny, SynthConfig(n_products=100, n_shops=3, images=True))
    counts = collections.Counter(p.category for p in products)
    assert set(counts) == {c.id for c in tiny.categories}  # fewer categories than asked: all used
    assert min(counts.values()) >= 5 and len(products) == 100
    ambiguous = generate(tiny, SynthConfig(n_products=60, ambiguous_titles=True))
    assert {p.category for p in ambiguous} == {c.id for c in tiny.categories}
    few = generate(tiny, SynthConfig(n_products=3))  # fewer products than categories
    assert len(few) == 3 and len({p.category for p in few}) == 3


def test_write_demo_dataset_round_trip(tiny: Taxonomy, tmp_path: Path) -> None:
    config = SynthConfig(n_products=40, images=True)
    path = write_demo_dataset(tiny, tmp_path / "demo", config)
    assert path == tmp_path / "demo" / "products.jsonl"
    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert all(row["image"] == f"images/{row['id']}.png" for row in raw)
    assert not list((tmp_path / "demo").rglob("*.tmp"))
    loaded = read_products(path)
    expected = generate(tiny, config)
    assert [p.id for p in loaded] == [p.id for p in expected]
    assert [p.image for p in loaded] == [p.image for p in expected]
    assert [(p.title, p.category, p.language, p.shop) for p in loaded] == [
        (p.title, p.category, p.language, p.shop) for p in expected
    ]
    text_only = write_demo_dataset(tiny, tmp_path / "text", SynthConfig(n_products=20))
    assert all(p.image is None for p in read_products(text_only))


# ----------------------------------------------------------------------------- realism (the demo's)
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
