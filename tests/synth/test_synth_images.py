"""Synthetic images: they decode and tell categories apart, also where ambiguous titles do not."""

from __future__ import annotations

import collections
import dataclasses
import io

import numpy as np
from PIL import Image
from synth_fixtures import google  # noqa: F401 (fixture)

from prodcat.synth import SynthConfig, ambiguous_pairs, generate
from prodcat.taxonomy import Taxonomy


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


def test_images_decode_and_depend_on_the_category(google: Taxonomy) -> None:
    config = SynthConfig(n_products=600, n_categories=12, min_per_category=20, images=True)
    products = generate(google, config)
    assert all(p.image is not None for p in products)
    accuracy, majority = _nearest_centroid_accuracy(products)
    assert accuracy > max(0.8, 2 * majority)


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
