"""Parsing edge cases of each importer on tiny synthetic files (made-up rows, not dataset rows)."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import pytest

from prodcat.importers import import_dataset
from prodcat.importers.flipkart import clean_breadcrumb, import_flipkart
from prodcat.importers.mwpd import import_mwpd
from prodcat.importers.myntra import import_myntra
from prodcat.importers.shopify import import_shopify
from prodcat.taxonomy import Taxonomy


def _errors(result) -> list[tuple[str, int | None, str | None]]:  # noqa: ANN001
    return [(Path(e.source).name, e.line, e.field) for e in result.rejects]


# ----------------------------------------------------------------------------- mwpd
def _offer(i: int, name: str = "Widget", lvl2: str = "20_Sub") -> str:
    return json.dumps({
        "ID": str(i), "Name": name, "Description": "d", "CategoryText": "Shop > Stuff",
        "URL": f"https://shop{i % 2}.example.com:8080/p/{i}", "lvl1": "10_Top", "lvl2": lvl2, "lvl3": "30_Leaf",
    })


def test_mwpd_zip_splits_rejects_and_unmapped(tmp_path: Path) -> None:
    train = [_offer(1), _offer(2, name="  "), "{not json", _offer(4, lvl2=""), ""]
    validation = [_offer(5), _offer(1)]  # id 1 again: duplicate across splits
    with zipfile.ZipFile(tmp_path / "task2_train_val_with_labels.zip", "w") as archive:
        archive.writestr("train.json", "\n".join(train) + "\n")
        archive.writestr("validation.json", "\n".join(validation) + "\n")

    result = import_mwpd(tmp_path)

    assert [p.id for p in result.products] == ["1", "5"]
    product = result.products[0]
    assert product.category == "10_Top > 20_Sub > 30_Leaf"
    assert product.shop == "shop1.example.com" and product.product_type == "Shop > Stuff"
    assert result.splits == {"train": ["1"], "validation": ["5"]}
    assert _errors(result) == [
        ("train.json", 2, "Name"), ("train.json", 3, None), ("validation.json", 2, "ID"),
    ]
    assert "task2_train_val_with_labels.zip/train.json:2" in str(result.rejects[0])
    assert [(p.id, label, reason) for p, label, reason in result.unmapped] == [("4", "10_Top > 30_Leaf", "lvl2 is empty")]
    assert result.taxonomy.level_sizes() == [1, 1, 1]


def test_mwpd_unzipped_files_and_given_taxonomy(tmp_path: Path) -> None:
    (tmp_path / "train.json").write_text(_offer(1) + "\n" + _offer(2, lvl2="21_Other") + "\n")
    tree = Taxonomy.from_paths(["10_Top > 20_Sub > 30_Leaf"])

    result = import_mwpd(tmp_path, taxonomy=tree)

    assert [p.id for p in result.products] == ["1"] and result.taxonomy is tree
    assert [(p.id, r) for p, _, r in result.unmapped] == [("2", "label is not in the given taxonomy")]
    assert result.splits == {"train": ["1"]}


# ----------------------------------------------------------------------------- shopify
SHOPIFY_HEADER = ["Handle", "Title", "Body (HTML)", "Vendor", "Type", "Tags", "Option1 Value", "Image Src",
                  "Google Shopping / Google Product Category", "Product Category"]


def test_shopify_csv_folds_variant_rows(tmp_path: Path, tiny_google: Taxonomy) -> None:
    rows = [
        ["red-kite", "Red Kite", "<p>Flies <b>high</b></p>", "Acme", "Kite", "red, summer", "Small", "https://img.example/1.jpg", "3", ""],
        ["red-kite", "", "", "", "", "", "Large", "", "", ""],
        ["red-kite", "", "", "", "", "", "", "https://img.example/2.jpg", "", ""],
        ["clay-pot", "Clay Pot", "", "Acme", "", "", "", "", "", "Garden > Pots & Planters"],
        ["mystery", "Mystery Box", "", "Acme", "", "", "", "", "", "Surprises > Boxes"],
        ["plain", "Plain Thing", "", "Acme", "", "", "", "", "", ""],
    ]
    store = tmp_path / "acme-store"
    store.mkdir()
    with (store / "products_export.csv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([SHOPIFY_HEADER, *rows])

    result = import_shopify(store / "products_export.csv", tiny_google)

    assert [(p.id, p.category) for p in result.products] == [("acme-store/red-kite", "3"), ("acme-store/clay-pot", "5")]
    kite = result.products[0]
    assert kite.description == "Flies high" and kite.tags == ["red", "summer"] and kite.shop == "acme-store"
    assert kite.image_uri == "https://img.example/1.jpg"
    assert [(p.id, label, reason) for p, label, reason in result.unmapped] == [
        ("acme-store/mystery", "Surprises > Boxes", "category is not a Google taxonomy id or path"),
        ("acme-store/plain", "", "no category label"),
    ]
    assert result.taxonomy is None


def test_shopify_multistore_jsonl(tmp_path: Path, tiny_google: Taxonomy) -> None:
    def row(handle: str, repo: str = "a/shop", google: str = "", shopify: str = "", title: str = "T") -> str:
        return json.dumps({"handle": handle, "title": title, "description": "", "vendor": "V", "product_type": "",
                           "tags": "x, y", "product_category": shopify, "google_product_category": google,
                           "image_url": "https://img.example/p.jpg", "lang": "de", "source_repo": repo})

    lines = [
        row("k1", google="toys >kites > STUNT kites"),          # case/spacing-insensitive path
        row("k1", repo="b/shop", google="2"),                    # same handle, other shop: distinct id
        row("k2", google="9999", shopify="Garden > Pots & Planters"),  # bad Google id: Shopify fallback
        row("k3", google="9999"),
        row("k4", shopify="Garden > Sheds"),
        "[1, 2]",
        row("", google="2"),
        row("k5", google="2", title=""),
    ]
    (tmp_path / "products.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = import_shopify(tmp_path, tiny_google)

    assert [(p.id, p.category) for p in result.products] == [("a/shop/k1", "3"), ("b/shop/k1", "2"), ("a/shop/k2", "5")]
    first = result.products[0]
    assert (first.shop, first.language, first.vendor, first.tags) == ("a/shop", "de", "V", ["x", "y"])
    assert first.image_uri == "https://img.example/p.jpg"
    assert [(label, reason) for _, label, reason in result.unmapped] == [
        ("9999", "google_product_category is not a Google taxonomy id or path"),
        ("Garden > Sheds", "product_category is not a Google taxonomy path (nor a Shopify path the mapping covers)"),
    ]
    assert _errors(result) == [("products.jsonl", 6, None), ("products.jsonl", 7, "handle"), ("products.jsonl", 8, "title")]


def test_shopify_rejects_foreign_csv(tmp_path: Path, tiny_google: Taxonomy) -> None:
    (tmp_path / "data.csv").write_text("sku,name\n1,x\n")
    with pytest.raises(ValueError, match="does not look like a Shopify products export"):
        import_shopify(tmp_path / "data.csv", tiny_google)


# ----------------------------------------------------------------------------- flipkart
def _write_flipkart(folder: Path, tree_rows: list[list[str]], brand_rows: list[list[str]]) -> None:
    with (folder / "flipkart_name_category_tree.csv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(tree_rows)
    with (folder / "flipkart_name_brand_price.csv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["uniq_id", "product_name", "pid", "brand"], *brand_rows])


def _crumb(*nodes: str) -> str:
    return json.dumps([" >> ".join(nodes)])


def test_flipkart_cleaning_unmapped_and_rejects(tmp_path: Path) -> None:
    tree = [
        ["a", "Zap Blue Kite", _crumb("Toys", "Outdoor Toys", "Kites", "Zap Kites", "Zap Blue Kite (Large)")],
        ["b", "Zap Red Kite", _crumb("Toys", "Outdoor Toys", "Kites", "Zap Red Ki...")],
        ["c", "Nimbus Glider Kite", _crumb("Toys", "Outdoor Toys", "Kites", "Nimbus Kites")],  # no brand column value
        ["d", "Lone Spinning Top", _crumb("Lone Spinning Top")],
        ["g", "Zap Kite\nDeluxe", _crumb("Toys", "Kites")],  # lines 5-6: later rows start one line on
        ["e", "Broken", '["Toys >> Kites"'],
        ["f", "Too", "many", "cells"],
        ["h", "Deep Thing", _crumb("A", "B", "C", "D", "E", "F", "G")],
    ]
    brands = [["a", "Zap Blue Kite", "P1", "Zap"], ["b", "Zap Red Kite", "P2", "Zap"], ["c", "", "P3", ""],
              ["z", "Orphan Item", "P9", "Zap"]]
    _write_flipkart(tmp_path, tree, brands)

    result = import_flipkart(tmp_path)

    labels = {p.id: p.category for p in result.products}
    assert labels == {
        "a": "Toys > Outdoor Toys > Kites", "b": "Toys > Outdoor Toys > Kites", "c": "Toys > Outdoor Toys > Kites",
        "g": "Toys > Kites", "h": "A > B > C > D > E",  # cut at MAX_DEPTH
    }
    assert result.products[0].vendor == "Zap" and result.products[0].shop == "flipkart"
    assert [(p.id, label, reason) for p, label, reason in result.unmapped] == [
        ("d", "Lone Spinning Top", "breadcrumb holds only the product name or brand"),
        ("z", "", "no row in flipkart_name_category_tree.csv"),
    ]
    assert _errors(result) == [
        ("flipkart_name_category_tree.csv", 7, "product_category_tree"),
        ("flipkart_name_category_tree.csv", 8, None),
    ]
    assert import_flipkart(tmp_path, max_depth=99).products[-1].category == "A > B > C > D > E > F > G"


def test_flipkart_known_category_overrules_title_guess() -> None:
    # "Pet Beds" reads like "<start of title> <parent>" for the first title, but another product
    # keeps it as a plain category, so it stays.
    crumb = ["Furniture", "Beds", "Pet Beds"]
    assert clean_breadcrumb(crumb, "Pet Comfy Bed") == ["Furniture", "Beds"]
    assert clean_breadcrumb(crumb, "Pet Comfy Bed", known={("Furniture", "Beds", "Pet Beds")}) == crumb
    assert clean_breadcrumb(crumb + ["Acme Pet Beds"], "Acme Cushion", brand="Acme") == crumb
    assert clean_breadcrumb(["Furniture", "Acme Chairs"], "Acme Chair", brand="Blue") == ["Furniture"]
    assert clean_breadcrumb(["Clothing", "Blue Shirts"], "Acme Shirt", brand="Blue") == ["Clothing", "Blue Shirts"]


# ----------------------------------------------------------------------------- myntra
MYNTRA_HEADER = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName\n"


def test_myntra_rejects_unmapped_and_tags(tmp_path: Path) -> None:
    (tmp_path / "styles_with_names.csv").write_text(
        MYNTRA_HEADER
        + "1,Women,Apparel,Topwear,Tunics,Teal,Summer,2012,Casual,Some Teal Tunic\n"
        + "2,Men,Apparel,,Tunics,,,,,Nameless Category Thing\n"
        + "3,Men,Apparel,Topwear,Tunics,Red,,,,\n"
        + "4,Men,Apparel,Topwear\n"
        + '5,Men,Footwear,Shoes,Sandals,Brown,Fall,2011,Casual,"Sandal, with comma"\n'
        + "1,Men,Apparel,Topwear,Tunics,Red,,,,Duplicate Id\n",
        encoding="utf-8",
    )

    result = import_myntra(tmp_path)

    assert [(p.id, p.category) for p in result.products] == [("1", "Apparel > Topwear > Tunics"), ("5", "Footwear > Shoes > Sandals")]
    assert result.products[0].tags == ["Women", "Teal", "Summer", "Casual", "2012"]
    assert result.products[1].title == "Sandal, with comma"
    assert [(p.id, label, reason) for p, label, reason in result.unmapped] == [("2", "Apparel > Tunics", "subCategory is empty")]
    assert _errors(result) == [
        ("styles_with_names.csv", 4, "productDisplayName"),
        ("styles_with_names.csv", 5, None),
        ("styles_with_names.csv", 7, "id"),
    ]
    assert "styles_with_names.csv:4: field 'productDisplayName' is missing or empty" in str(result.rejects[0])


def test_import_dataset_writes_report(tmp_path: Path) -> None:
    (tmp_path / "styles_with_names.csv").write_text(
        MYNTRA_HEADER + "1,Women,Apparel,Topwear,Tunics,Teal,Summer,2012,Casual,Some Tunic\n", encoding="utf-8"
    )
    report = import_dataset("myntra", tmp_path, tmp_path / "out")
    assert report["products"] == 1 and report["label_coverage"] == 1.0 and report["import_seconds"] >= 0
    assert json.loads((tmp_path / "out" / "import_report.json").read_text()) == report
    assert (tmp_path / "out" / "taxonomy.txt").read_text().endswith("3 - Apparel > Topwear > Tunics\n")
