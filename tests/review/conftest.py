"""Fixtures of the review tests (helpers in review_fixtures.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from review_fixtures import TREE, TREE_DE, fake_model, prediction, product

from prodcat.taxonomy import Taxonomy


@pytest.fixture
def tree() -> Taxonomy:
    return Taxonomy.from_text(TREE)


@pytest.fixture
def review_queue(tmp_path: Path, tree: Taxonomy) -> Path:
    """A saved withheld queue of five products over the tree, and the German names beside it."""
    from prodcat.review.build import build_queue, served_model
    from prodcat.review.items import save_queue

    model = served_model(fake_model(tmp_path / "model"))
    products = [product(f"p{n}", title=f"Kite number {n}") for n in range(1, 6)]
    full = [prediction(tree, p.id, "3", [0.9, 0.8, 0.5 + n / 100]) for n, p in enumerate(products)]
    served = [prediction(tree, p.id, "3", [0.9, 0.8, 0.5 + n / 100], depth=2) for n, p in enumerate(products)]
    (tmp_path / "names.de.txt").write_text(TREE_DE, encoding="utf-8")
    return save_queue(build_queue("withheld", model, products, served, full), tmp_path / "queue.json")
