"""A small made-up tree (with one sensitive subtree), products and predictions for the review tests."""

from __future__ import annotations

from pathlib import Path

from prodcat.contract.signatures import LevelPrediction, Prediction
from prodcat.records import Product
from prodcat.taxonomy import Taxonomy

TREE = """\
# Google_Product_Taxonomy_Version: test
1 - Toys
2 - Toys > Kites
3 - Toys > Kites > Stunt Kites
4 - Toys > Kites > Box Kites
5 - Garden
6 - Garden > Pots
7 - Mature
8 - Mature > Knives
"""
SENSITIVE = ("Mature",)


def prediction(taxonomy: Taxonomy, product_id: str, category_id: str | None, confidences: list[float],
               depth: int | None = None) -> Prediction:
    """A decoded path to `category_id` with per-level confidences, served to `depth` (default: all of it)."""
    chain = taxonomy.ancestors(category_id) if category_id else []
    levels = [LevelPrediction(k + 1, cid, taxonomy[cid].name, conf) for k, (cid, conf) in enumerate(zip(chain, confidences))]
    depth = len(levels) if depth is None else depth
    levels = levels[:depth]
    return Prediction(product_id, levels[-1].id if levels else None, " > ".join(l.name for l in levels), levels, depth)


def product(product_id: str, category: str | None = None, title: str | None = None) -> Product:
    return Product(id=product_id, title=title or f"product {product_id}", description="a thing", shop="Shop A",
                   category=category)


# The same tree's names in German (same ids), for searching in another language.
TREE_DE = """\
# Google_Product_Taxonomy_Version: test-de
1 - Spielzeug
2 - Spielzeug > Drachen
3 - Spielzeug > Drachen > Lenkdrachen
4 - Spielzeug > Drachen > Kastendrachen
5 - Garten
6 - Garten > Töpfe
7 - Erwachsene
8 - Erwachsene > Messer
"""


def fake_model(directory: Path, version: str = "17") -> Path:
    """A model version directory with only what a review session reads (its taxonomy and config)."""
    from prodcat.config import Config
    from prodcat.contract.signatures import ASSETS_EXTRA, CONFIG_ASSET, TAXONOMY_ASSET

    extra = directory / version / ASSETS_EXTRA
    extra.mkdir(parents=True)
    (extra / TAXONOMY_ASSET).write_text(TREE, encoding="utf-8")
    (extra / CONFIG_ASSET).write_text(Config().model_dump_json(), encoding="utf-8")
    (directory / version / "saved_model.pb").write_bytes(b"")  # never loaded: the queue is built from given predictions
    return directory / version
