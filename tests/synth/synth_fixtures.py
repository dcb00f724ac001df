"""Shared by the test_synth_*.py files: the Google and tiny taxonomies, the default synthetic products, a digest of products."""

from __future__ import annotations

import hashlib
import json

import pytest

from prodcat.synth import SynthConfig, generate
from prodcat.taxonomy import Taxonomy


@pytest.fixture(scope="module")
def google(google_taxonomy: Taxonomy) -> Taxonomy:
    return google_taxonomy


@pytest.fixture(scope="module")
def tiny() -> Taxonomy:
    return Taxonomy.from_paths(["A > A1", "A > A2", "B > B1", "B > B2"])  # 6 nodes, depth 2


@pytest.fixture(scope="module")
def default_products(google: Taxonomy) -> list:
    return generate(google, SynthConfig())


def _digest(products: list) -> str:
    text = "\n".join(json.dumps(p.to_json_dict(), ensure_ascii=False, sort_keys=True) for p in products)
    return hashlib.sha256(text.encode()).hexdigest()
