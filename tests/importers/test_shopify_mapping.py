"""Shopify categories -> Google ids through Shopify's mapping, on small files and through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from prodcat.importers.shopify import import_shopify
from prodcat.importers.shopify_mapping import ShopifyMappingError, ShopifyToGoogle
from prodcat.taxonomy import Taxonomy

MAPPING = """---
input_taxonomy: shopify/2026-11-unstable
output_taxonomy: google/2021-09-21
rules:
- input:
    product_category_id: aa
  output:
    product_category_id:
    - '1'
- input:
    product_category_id: aa-1
  output:
    product_category_id:
    - '2'
    - '1'
- input:
    product_category_id: aa-2
  output:
    product_category_id:
    - '3'
unmapped_product_category_ids:
- bu
"""
ENGLISH = """# Shopify Product Taxonomy - Categories: 2024-07
# Format: {GID} : {Ancestor name} > ... > {Category name}

gid://shopify/TaxonomyCategory/aa      : Apparel & Accessories
gid://shopify/TaxonomyCategory/aa-1    : Apparel & Accessories > Clothing
gid://shopify/TaxonomyCategory/aa-2    : Apparel & Accessories > Clothing Accessories
"""
# a translation that gives two categories the same path: that path is ambiguous
SPANISH = ENGLISH.replace("Apparel & Accessories", "Ropa y accesorios").replace("Clothing Accessories", "Ropa").replace(
    "Clothing", "Ropa")
GOOGLE = "1 - Apparel & Accessories\n2 - Apparel & Accessories > Clothing\n3 - Apparel & Accessories > Clothing Accessories\n"


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    out = {"mapping": tmp_path / "from_shopify.yml", "en": tmp_path / "categories.en.txt",
           "es": tmp_path / "categories.es.txt", "google": tmp_path / "google.txt"}
    for key, text in (("mapping", MAPPING), ("en", ENGLISH), ("es", SPANISH), ("google", GOOGLE)):
        out[key].write_text(text, encoding="utf-8")
    return out


def test_labels_map_by_id_gid_and_path_in_any_language_read(files: dict[str, Path]) -> None:
    mapping = ShopifyToGoogle.from_files(files["mapping"], [files["en"], files["es"]])
    assert mapping.google_id("aa-1") == "2"  # the rule's first (best) Google id
    assert mapping.google_id("gid://shopify/TaxonomyCategory/aa-2") == "3"
    assert mapping.google_id("apparel & accessories>clothing accessories") == "3"  # case and spacing as stores export
    assert mapping.google_id("Ropa y accesorios") == "1"
    assert mapping.google_id("Ropa y accesorios > Ropa") is None  # two Shopify categories: not guessed
    assert mapping.google_id("Apparel & Accessories > Shoes") is None


def test_files_that_are_not_shopifys_name_the_file(files: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ShopifyMappingError, match="google.txt: not a Shopify -> Google mapping"):
        ShopifyToGoogle.from_files(files["google"])
    with pytest.raises(ShopifyMappingError, match="google.txt: no 'gid://shopify"):
        ShopifyToGoogle.from_files(files["mapping"], [files["google"]])
    with pytest.raises(ShopifyMappingError, match="missing.txt: cannot read"):
        ShopifyToGoogle.from_files(files["mapping"], [tmp_path / "missing.txt"])


def _multistore(tmp_path: Path) -> Path:
    rows = [
        {"handle": "tee", "title": "Tee", "source_repo": "s1", "product_category": "Apparel & Accessories > Clothing",
         "google_product_category": ""},
        {"handle": "belt", "title": "Belt", "source_repo": "s1", "google_product_category": "",
         "product_category": "Ropa y accesorios"},
        {"handle": "scarf", "title": "Scarf", "source_repo": "s2", "google_product_category": "",
         "product_category": "Apparel & Accessories > Hats"},
    ]
    path = tmp_path / "data" / "products.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_importer_labels_shopify_paths_only_with_the_mapping(files: dict[str, Path], tmp_path: Path) -> None:
    google = Taxonomy.from_file(files["google"])
    src = _multistore(tmp_path)
    without = import_shopify(src, google)
    with_mapping = import_shopify(src, google, shopify_mapping=ShopifyToGoogle.from_files(files["mapping"], [files["es"]]))
    assert [p.category for p in without.products] == ["2"]  # a Google path already
    assert {p.id: p.category for p in with_mapping.products} == {"s1/tee": "2", "s1/belt": "1"}
    assert with_mapping.report()["mapped_from_shopify_taxonomy"] == 1
    assert [label for _, label, _ in with_mapping.unmapped] == ["Apparel & Accessories > Hats"]


def test_cli_import_with_the_mapping(files: dict[str, Path], tmp_path: Path) -> None:
    src = _multistore(tmp_path)
    command = [sys.executable, "-m", "prodcat.cli", "import", "shopify", str(src.parent), "--out", str(tmp_path / "out"),
               "--taxonomy", str(files["google"]), "--shopify-mapping", str(files["mapping"]),
               "--shopify-categories", str(files["en"]), str(files["es"])]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["products"] == 2 and report["mapped_from_shopify_taxonomy"] == 1
    at = command.index("--shopify-mapping") + 1
    bad = subprocess.run([*command[:at], str(files["google"])], capture_output=True, text=True, timeout=120)
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode == 2 and len(lines) == 1 and "google.txt: not a Shopify -> Google mapping file" in lines[0], bad.stderr
