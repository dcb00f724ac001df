"""Train/evaluation splits of the public datasets for `benchmarks.quality`.

Every split is a pure function of the imported products (hashes of ids or shop names, the
dataset's own split files), so every system and every run sees exactly the same products:

- `mwpd`: the official split, `train` (10,012 offers) / `validation` (3,000), from the importer's
  `splits.json`. (MWPD's official test set is kept aside and not distributed here.)
- `shopify`: shop-disjoint, `SHOP_FOLDS` folds: every shop's products are in exactly one fold,
  each fold is evaluated by systems trained on the other folds' shops, and the counts of all folds
  are pooled, so every product is scored once by a model that never saw its shop. Shops are
  dealt largest first (ties by hash of the shop name) to the fold with the fewest products so far,
  because a few shops hold most products (one of 58 has a quarter): a single 20% hash cut of the
  shop names gives an evaluation split of 8 shops, 589 of whose 692 products come from one shop,
  and one non-English product. Each shop contributes at most `EVAL_PER_SHOP` evaluation products
  (those with the smallest id hash; the rest of a capped shop is not used at all, never trained
  on): otherwise one shop (1,753 window blinds) would be a quarter of the pooled evaluation.
- `flipkart`, `myntra`: 80/20 by hash of the product id (one shop each, so nothing else to split on).

Extra table rows ("groups"): English / non-English for shopify, and, wherever some evaluation
products carry a category their fold's training side never has, products with a seen / unseen
label.

`--limit N` keeps N training products per fold (the N with the smallest id hash), never touching
the evaluation side. `dev_split` carves prodcat's early-stopping split out of the training side.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from prodcat.importers.shopify_mapping import ShopifyToGoogle
from prodcat.records import Product
from prodcat.readers import read_products
from prodcat.taxonomy import Taxonomy

SOURCES = {
    "mwpd": "mwpd2020_gs1",
    "shopify": "shopify_exports_multistore",
    "flipkart": "flipkart_20k",
    "myntra": "fashion_myntra_44k",
}
SHOP_FOLDS = 5
EVAL_PER_SHOP = 250
EVAL_FRACTION = 0.2
DEV_FRACTION = 0.1
SHOPIFY_MAPPING = "shopify_to_google_2021-09-21.mapping.yml"


def hash_fraction(key: str, salt: str = "") -> float:
    """A stable number in [0, 1] from a string (first 32 bits of its SHA-256)."""
    return int(hashlib.sha256((salt + key).encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF


@dataclasses.dataclass
class Fold:
    name: str
    train: list[Product]
    test: list[Product]


@dataclasses.dataclass
class BenchmarkData:
    """A dataset ready to benchmark: its taxonomy (object and file), folds, and evaluation groups."""

    dataset: str
    taxonomy: Taxonomy
    taxonomy_path: str
    folds: list[Fold]
    split: str  # one line saying how train and evaluation were split
    import_report: dict = dataclasses.field(default_factory=dict)
    # extra table rows: group name -> predicate over evaluation products (e.g. English / not English)
    groups: dict[str, Callable[[Product], bool]] = dataclasses.field(default_factory=dict)


def official_split(products: Sequence[Product], splits: dict[str, list[str]], train: str = "train",
                   test: str = "validation") -> Fold:
    by_id = {p.id: p for p in products}
    missing = [name for name in (train, test) if name not in splits]
    if missing:
        raise ValueError(f"splits.json lacks split(s) {missing}; has {sorted(splits)}")
    return Fold(test, [by_id[i] for i in splits[train] if i in by_id], [by_id[i] for i in splits[test] if i in by_id])


def hash_split(products: Sequence[Product], eval_fraction: float = EVAL_FRACTION) -> Fold:
    """Evaluation = products whose id hashes below `eval_fraction`."""
    train, test = [], []
    for product in products:
        (test if hash_fraction(product.id) < eval_fraction else train).append(product)
    return Fold(f"hash {eval_fraction:.0%}", train, test)


def shop_folds(products: Sequence[Product], k: int = SHOP_FOLDS, eval_per_shop: int | None = EVAL_PER_SHOP) -> list[Fold]:
    """k shop-disjoint folds of about equal product counts (see the module docstring)."""
    if k < 2:
        raise ValueError("shop folds need k >= 2")
    by_shop: dict[str, list[Product]] = {}
    for product in products:
        by_shop.setdefault(product.shop, []).append(product)
    if len(by_shop) < k:
        raise ValueError(f"{len(by_shop)} shops cannot fill {k} shop-disjoint folds")
    sizes = [0] * k
    assigned: dict[str, int] = {}
    for shop in sorted(by_shop, key=lambda s: (-len(by_shop[s]), hash_fraction(s), s)):
        fold = min(range(k), key=lambda i: (sizes[i], i))
        assigned[shop] = fold
        sizes[fold] += len(by_shop[shop])
    kept = {p.id for shop in by_shop.values() for p in limit(shop, eval_per_shop)}
    return [
        Fold(f"shops {i + 1}/{k}",
             [p for p in products if assigned[p.shop] != i],
             [p for p in products if assigned[p.shop] == i and p.id in kept])
        for i in range(k)
    ]


def dev_split(products: Sequence[Product], fraction: float = DEV_FRACTION) -> tuple[list[Product], list[Product]]:
    """(fit, dev) by hash of the product id, salted so it is independent of `hash_split`."""
    fit, dev = [], []
    for product in products:
        (dev if hash_fraction(product.id, salt="dev:") < fraction else fit).append(product)
    return fit, dev


def limit(products: Sequence[Product], n: int | None) -> list[Product]:
    """The n products with the smallest (salted) id hash, in their original order; all if n is None."""
    if n is None or n >= len(products):
        return list(products)
    keep = set(sorted(range(len(products)), key=lambda i: hash_fraction(products[i].id, salt="limit:"))[:n])
    return [p for i, p in enumerate(products) if i in keep]


def language_groups() -> dict[str, Callable[[Product], bool]]:
    return {"en": lambda p: p.language == "en", "non-en": lambda p: p.language != "en"}


def load(dataset: str, source: str | Path, work: Path, google_taxonomy: str | None = None,
         train_limit: int | None = None) -> BenchmarkData:
    """Imports `dataset` from `source` into `work/import` and builds its folds."""
    from prodcat.importers import import_dataset
    from prodcat.taxonomy import load_taxonomy

    if dataset not in SOURCES:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(SOURCES)}")
    out = work / "import"
    google = mapping = None
    if dataset == "shopify":
        google = load_taxonomy(google_taxonomy)
        mapping = shopify_mapping()
    report = import_dataset(dataset, source, out, google, mapping)
    products = read_products(out / "products.jsonl")
    if dataset == "shopify":
        taxonomy, taxonomy_path = google, str(Path(google_taxonomy).resolve()) if google_taxonomy else None
        if taxonomy_path is None:  # the downloaded/cached Google file: save the exact tree next to the data
            taxonomy_path = str(taxonomy.save(out / "google_taxonomy.txt"))
    else:
        taxonomy_path = str((out / "taxonomy.txt").resolve())
        taxonomy = Taxonomy.from_google_file(taxonomy_path)
    groups: dict[str, Callable[[Product], bool]] = {}
    if dataset == "mwpd":
        folds = [official_split(products, json.loads((out / "splits.json").read_text()))]
        split = "official train / validation split of the challenge"
    elif dataset == "shopify":
        folds = shop_folds(products)
        split = (f"{SHOP_FOLDS} shop-disjoint folds, at most {EVAL_PER_SHOP} evaluation products per shop; "
                 "counts pooled over folds")
        groups = language_groups()
    else:
        folds = [hash_split(products)]
        split = f"{1 - EVAL_FRACTION:.0%}/{EVAL_FRACTION:.0%} by hash of the product id"
    if train_limit is not None:
        folds = [Fold(f.name, limit(f.train, train_limit), f.test) for f in folds]
        split += f"; training limited to {train_limit} products per fold (smallest id hash)"
    groups.update(seen_label_groups(folds, taxonomy))
    return BenchmarkData(dataset, taxonomy, taxonomy_path, folds, split, report, groups)


def shopify_mapping() -> ShopifyToGoogle:
    """Shopify's mapping and category files in every language of the shared taxonomy folder, so
    products labelled only with a Shopify category are labelled (all 68 shops instead of 58)."""
    from .quality import SHARED

    folder = SHARED / "taxonomy"
    return ShopifyToGoogle.from_files(folder / SHOPIFY_MAPPING, sorted(folder.glob("shopify_categories.*.txt")))


def seen_label_groups(folds: Sequence[Fold], taxonomy: Taxonomy) -> dict[str, Callable[[Product], bool]]:
    """Evaluation products whose category is / is not a label of their fold's training side.

    A flat classifier can only predict categories it was trained on; this separates that handicap
    from the rest. Empty when every evaluation category was seen in training.
    """
    seen: dict[str, bool] = {}
    for fold in folds:
        labels = {taxonomy.resolve(p.category or "").id for p in fold.train}
        for product in fold.test:
            seen[product.id] = taxonomy.resolve(product.category or "").id in labels
    if all(seen.values()):
        return {}
    return {"seen label": lambda p: seen[p.id], "unseen label": lambda p: not seen[p.id]}
