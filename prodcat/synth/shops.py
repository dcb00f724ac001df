"""The shops that sell the listings, their brands, and one-off sellers.

Each shop sells a few level-1 subtrees, like a real specialised merchant, so a split by shop is a
real distribution shift. One-off sellers (a shop and brand with a single listing) put shops in
eval that training never saw, even in a split by product.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Sequence

from prodcat.synth.config import SynthConfig
from prodcat.synth.random_streams import stream
from prodcat.taxonomy import Taxonomy

_BRAND_SYLLABLES = (
    "ka", "lo", "vi", "ren", "tor", "mi", "za", "ne", "bo", "lux", "tek", "ar", "ion", "sa", "ve",
    "dro", "fin", "gal", "mo", "qui", "ra", "sol", "tri", "ul", "ven", "xo", "ya", "zen", "pex", "ori",
)
_SHOP_ADJECTIVES = (
    "Blue", "Golden", "Urban", "Happy", "Green", "Silver", "Little", "Bright", "Royal", "Sunny",
    "Northern", "Wild", "Cosy", "Modern", "Lucky", "Red",
)
_SHOP_NOUNS = (
    "Oak", "Harbor", "Fox", "River", "Maple", "Pine", "Lantern", "Meadow", "Anchor", "Owl", "Stone",
    "Willow", "Falcon", "Bay", "Peak", "Garden",
)
_SHOP_SUFFIXES = ("Store", "Shop", "Market", "Outlet", "Supply", "Emporium")


@dataclasses.dataclass(frozen=True)
class Shop:
    """A merchant: its name, the brands it sells, and the level-1 subtrees it sells in."""

    name: str
    brands: tuple[str, ...]
    tops: tuple[str, ...]


def make_shops(taxonomy: Taxonomy, anchors: Sequence[str], config: SynthConfig) -> list[Shop]:
    """Shops that each sell a few level-1 subtrees; every used subtree has at least one shop."""
    rng = stream(config.seed, "shops")
    tops = list(dict.fromkeys(taxonomy.ancestors(a)[0] for a in anchors))
    rng.shuffle(tops)
    n_shops, n_tops = config.n_shops, len(tops)
    cap = max(math.ceil(n_tops / n_shops), min(3, max(1, (n_tops - 1) // 2)))
    assigned: list[list[str]] = [[] for _ in range(n_shops)]
    for i, top in enumerate(tops):
        assigned[i % n_shops].append(top)
    for j in range(n_tops, n_shops):
        assigned[j].append(tops[j % n_tops])
    for shop_tops in assigned:
        target = rng.randint(1, cap)
        others = [t for t in tops if t not in shop_tops]
        rng.shuffle(others)
        while len(shop_tops) < target and others:
            shop_tops.append(others.pop())

    names: list[str] = []
    brands_seen: set[str] = set()
    shops: list[Shop] = []
    for j, shop_tops in enumerate(assigned):
        name = ""
        for _ in range(50):
            name = f"{rng.choice(_SHOP_ADJECTIVES)} {rng.choice(_SHOP_NOUNS)} {rng.choice(_SHOP_SUFFIXES)}"
            if name not in names:
                break
        if name in names:
            name = f"{name} {j + 1}"
        names.append(name)
        brands: list[str] = []
        for _ in range(rng.randint(2, 5)):
            brand = _brand_name(rng)
            while brand in brands_seen:
                brand = _brand_name(rng)
            brands_seen.add(brand)
            brands.append(brand)
        shops.append(Shop(name=name, brands=tuple(brands), tops=tuple(shop_tops)))
    return shops


def _brand_name(rng: random.Random) -> str:
    """A made-up brand of two or three syllables, e.g. "Kalux"."""
    word = "".join(rng.choice(_BRAND_SYLLABLES) for _ in range(rng.randint(2, 3)))
    return word.capitalize()


class OneOffSellers:
    """Replaces a `one_off_sellers` share of shops by new ones, each with a single listing and brand."""

    def __init__(self, config: SynthConfig, shops: Sequence[Shop]) -> None:
        self._share = config.one_off_sellers
        self._rng = stream(config.seed, "one-off sellers")
        self._names = {shop.name for shop in shops}
        self._brands = {brand for shop in shops for brand in shop.brands}

    def maybe_replace(self, shop: Shop, top: str) -> Shop:
        """`shop`, or with probability `one_off_sellers` a new one-listing shop in subtree `top`."""
        if self._share <= 0 or self._rng.random() >= self._share:
            return shop
        brand = _brand_name(self._rng)
        while brand in self._brands:
            brand = _brand_name(self._rng)
        self._brands.add(brand)
        name = f"{brand} {self._rng.choice(_SHOP_SUFFIXES)}"
        while name in self._names:
            name = f"{brand} {self._rng.choice(_SHOP_SUFFIXES)} {self._rng.randint(2, 99)}"
        self._names.add(name)
        return Shop(name=name, brands=(brand,), tops=(top,))
