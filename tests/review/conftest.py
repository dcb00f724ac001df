"""A small made-up tree (with one sensitive subtree), products and predictions for the review tests."""

from __future__ import annotations

import pytest

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


@pytest.fixture
def tree() -> Taxonomy:
    return Taxonomy.from_text(TREE)


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
