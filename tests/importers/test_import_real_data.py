"""Each importer on the real shared data, cross-checked against figures computed independently
here (raw line/row counts, SOURCE.md figures) rather than through the importer's own code."""

from __future__ import annotations

import collections
import csv
import json
import re
import zipfile
from pathlib import Path

from prodcat.importers import import_dataset
from prodcat.importers.flipkart import import_flipkart
from prodcat.importers.myntra import import_myntra
from prodcat.importers.shopify import BAD_SHOPIFY, import_shopify
from prodcat.importers.shopify_mapping import ShopifyToGoogle
from prodcat.taxonomy import Taxonomy


def test_mwpd_real(shared: Path, tmp_path: Path) -> None:
    src = shared / "datasets" / "mwpd2020_gs1"
    # Independent count: whole members read at once, newlines counted, labels taken by regex.
    with zipfile.ZipFile(src / "task2_train_val_with_labels.zip") as archive:
        raw = {name: archive.read(name) for name in ("train.json", "validation.json")}
    lines = {name: data.count(b"\n") + (not data.endswith(b"\n")) for name, data in raw.items()}
    assert lines == {"train.json": 10012, "validation.json": 3000}  # SOURCE.md
    triples = {
        tuple(re.findall(rb'"lvl[123]": "([^"]*)"', line))
        for data in raw.values() for line in data.splitlines()
    }

    report = import_dataset("mwpd", src, tmp_path)

    assert report["products"] == 13012 and report["rejects"] == 0 and report["unmapped"] == 0
    assert report["label_coverage"] == 1.0
    assert report["splits"]["train"]["products"] == lines["train.json"]
    assert report["splits"]["validation"]["products"] == lines["validation.json"]
    tree = Taxonomy.from_google_file(tmp_path / "taxonomy.txt")
    assert tree.depth == 3
    # SOURCE.md: 37 lvl1 / 76 lvl2 names; 282 leaf paths (one lvl3 code sits under two lvl2s).
    assert tree.level_sizes() == [37, 76, len(triples)] == [37, 76, 282]
    splits = json.loads((tmp_path / "splits.json").read_text())
    assert not set(splits["train"]) & set(splits["validation"])
    assert report["shops"] > 1500  # hosts; SOURCE.md counts 2,205 shops over train+val+test


SHOPIFY_MAPPING = "shopify_to_google_2021-09-21.mapping.yml"


def test_shopify_real(shared: Path, google_taxonomy: Taxonomy) -> None:
    src = shared / "datasets" / "shopify_exports_multistore"
    rows = [json.loads(line) for line in (src / "products.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) == 9020 and len({r["source_repo"] for r in rows}) == 68  # SOURCE.md

    # Independent resolution: ids and lower-cased paths straight from the taxonomy file.
    ids, paths = set(), {}
    for line in (shared / "taxonomy" / "google_product_taxonomy.en-US.txt").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^(\d+) - (.+)$", line)
        if match:
            ids.add(match[1])
            paths[re.sub(r"\s*>\s*", ">", match[2].lower())] = match[1]

    def google_id(value: str) -> str | None:
        value = value.strip()
        return value if value in ids else paths.get(re.sub(r"\s*>\s*", ">", value.lower()))

    expected = [google_id(r["google_product_category"]) or google_id(r["product_category"]) for r in rows]

    result = import_shopify(src, google_taxonomy)

    assert len(result.products) == sum(e is not None for e in expected) == 6676
    assert len(result.unmapped) == 9020 - 6676 and not result.rejects
    assert collections.Counter(p.category for p in result.products) == collections.Counter(e for e in expected if e)
    assert all(google_taxonomy.get(p.category) for p in result.products)
    assert len({p.id for p in result.products}) == len(result.products)
    assert result.taxonomy is None
    report = result.report()
    assert 0.73 < report["label_coverage"] < 0.75
    assert report["unmapped_reasons"][BAD_SHOPIFY] > 2000 and report["mapped_from_shopify_taxonomy"] == 0


def test_shopify_real_through_shopifys_mapping(shared: Path, google_taxonomy: Taxonomy) -> None:
    """Shopify paths that are not Google paths go through Shopify's own mapping: every shop labelled."""
    src, folder = shared / "datasets" / "shopify_exports_multistore", shared / "taxonomy"
    rows = {f"{r['source_repo']}/{r['handle']}": r for r in map(json.loads, (src / "products.jsonl").read_text(encoding="utf-8").splitlines())}
    # Independent reading: the English category file's paths and the YAML's first Google id, by regex.
    english = {re.sub(r"\s*>\s*", ">", path.strip().lower()): gid for gid, path in re.findall(
        r"^gid://shopify/TaxonomyCategory/(\S+)\s+: (.+)$", (folder / "shopify_categories.en.2024-07.txt").read_text(encoding="utf-8"), re.M)}
    first_google = dict(re.findall(r"product_category_id: (\S+)\n  output:\n    product_category_id:\n    - '(\d+)'",
                                   (folder / SHOPIFY_MAPPING).read_text(encoding="utf-8")))
    mapping = ShopifyToGoogle.from_files(folder / SHOPIFY_MAPPING, sorted(folder.glob("shopify_categories.*.txt")))

    result = import_shopify(src, google_taxonomy, shopify_mapping=mapping)

    report = result.report()
    assert report["shops"] == 68 and report["products"] > 8800 and report["mapped_from_shopify_taxonomy"] > 2100
    checked = 0
    for product in result.products:
        label = rows[product.id]["product_category"]
        if google_taxonomy.resolve(label) is None and rows[product.id]["google_product_category"] == "":
            shopify_id = english.get(re.sub(r"\s*>\s*", ">", label.strip().lower()))
            if shopify_id is not None:  # an English Shopify path (the others are localized)
                assert product.category == first_google[shopify_id], (product.id, label)
                checked += 1
    assert checked > 1500


def test_flipkart_real(shared: Path) -> None:
    src = shared / "datasets" / "flipkart_20k"
    with (src / "flipkart_name_category_tree.csv").open(encoding="utf-8", newline="") as handle:
        tree_rows = list(csv.reader(handle))
    single_node = {r[0] for r in tree_rows if " >> " not in r[2]}
    assert len(tree_rows) == 20000 and len(single_node) == 328  # SOURCE.md

    result = import_flipkart(src)

    assert len(result.products) + len(result.unmapped) == 20000 and not result.rejects
    assert len(result.products) == 19677
    # Unmapped rows are exactly the name-only breadcrumbs (a few single-node rows are categories).
    assert {p.id for p, _, _ in result.unmapped} <= single_node
    assert len(result.unmapped) == 323
    assert result.taxonomy is not None and result.taxonomy.depth == 5
    assert len(result.taxonomy.level_ids(1)) == 32  # SOURCE.md: ~26 real top levels, 265 raw
    top = collections.Counter(p.category.split(" > ")[0] for p in result.products)
    assert [n for _, n in top.most_common(2)] == [6198, 3531]  # SOURCE.md's two largest top levels
    for product in result.products:
        leaf = product.category.split(" > ")[-1]
        assert not leaf.endswith("...") and product.title.lower() not in leaf.lower()


def test_myntra_real(shared: Path) -> None:
    src = shared / "datasets" / "fashion_myntra_44k"
    data = (src / "styles_with_names.csv").read_bytes()
    assert data.count(b"\n") - 1 == 44446  # header + rows, no multi-line cells

    result = import_myntra(src)

    assert len(result.products) == 44446 and not result.unmapped and not result.rejects
    assert result.taxonomy is not None and result.taxonomy.depth == 3
    # SOURCE.md: 7 master categories, 143 distinct articleTypes (170 distinct full paths).
    assert result.taxonomy.level_sizes()[0] == 7
    assert len({p.category.split(" > ")[-1] for p in result.products}) == 143
    assert len({p.category for p in result.products}) == 170
    assert all(p.shop == "myntra" and p.tags for p in result.products)
