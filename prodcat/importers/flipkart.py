"""Flipkart e-commerce sample (20,000 products, India): titles with Flipkart's category breadcrumb.

Sources, joined on `uniq_id`: `flipkart_name_category_tree.csv` (no header: uniq_id,
product_name, product_category_tree, the tree a JSON list holding one `A >> B >> C` breadcrumb)
and `flipkart_name_brand_price.csv` (header; `brand` is used). Cleaning decisions:

- The breadcrumb ends in product-specific nodes ("<Brand> Shorts", the product name, a name
  truncated with "..."). They are not categories, so the path is cut at the first such node:
  a node ending in "...", containing the product name, starting with the brand (only when the
  title starts with that brand: the brand column is sometimes a colour or fit word), or reading
  "<start of the title> <parent node>". The last two rules are lexical guesses, so they are
  overruled for a path prefix that another product keeps as a plain category
  (e.g. "Beds > Pet Beds" for a title starting with "Pet").
- A breadcrumb that is nothing but the product name leaves no category: unmapped, not guessed.
- Max depth: after cleaning, the real levels go 1-6 deep, mostly 3-5; level 6 holds ~0.2% of the
  products spread over ~20 leaves with one or two products each, too few to learn or evaluate a
  class from, so paths are cut at `MAX_DEPTH` = 5 (those products keep their level-5 parent).
- `vendor` is the brand column as given; `shop` is "flipkart".
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from pathlib import Path

from prodcat import features as F
from prodcat.importers.base import ImportResult, ResultBuilder, iter_csv_rows, join_path
from prodcat.records import RecordError
from prodcat.taxonomy import Taxonomy

DATASET = "flipkart"
SHOP = "flipkart"
TREE_FILE, BRAND_FILE = "flipkart_name_category_tree.csv", "flipkart_name_brand_price.csv"
TREE_COLUMNS = ("uniq_id", "product_name", "product_category_tree")
SOURCE_SEPARATOR = ">>"
MAX_DEPTH = 5
ONLY_PRODUCT = "breadcrumb holds only the product name or brand"
FIELD_NAMES = {F.ID: "uniq_id", F.TITLE: "product_name"}


def clean_breadcrumb(
    nodes: Sequence[str], name: str, brand: str = "", known: Collection[tuple[str, ...]] = ()
) -> list[str]:
    """The category nodes of a breadcrumb: cut at the first product-specific node (see module doc).

    `known` holds path prefixes other rows keep as categories; the brand and title-prefix rules
    do not cut those.
    """
    name_key, brand_key = _norm(name), _norm(brand)
    if not name_key.startswith(brand_key):
        brand_key = ""  # a "brand" the title does not start with is not the brand
    kept: list[str] = []
    for node in (n.strip() for n in nodes):
        key = _norm(node)
        if not key or key.endswith("...") or (name_key and name_key in key):
            break
        parent = _norm(kept[-1]) if kept else ""
        guessed = bool(brand_key) and (key == brand_key or key.startswith(brand_key + " "))
        guessed = guessed or bool(
            parent and key.endswith(" " + parent) and name_key.startswith(key[: -len(parent) - 1] + " ")
        )
        if guessed and (*kept, node) not in known:
            break
        kept.append(node)
    return kept


def import_flipkart(src: str | Path, taxonomy: Taxonomy | None = None, max_depth: int = MAX_DEPTH) -> ImportResult:
    """Imports the directory holding both CSV files."""
    src = Path(src)
    tree_path, brand_path = src / TREE_FILE, src / BRAND_FILE
    if not (tree_path.is_file() and brand_path.is_file()):
        raise ValueError(f"{src} does not look like the Flipkart dataset: expected {TREE_FILE} and {BRAND_FILE} in it")
    builder = ResultBuilder(DATASET, src, FIELD_NAMES)
    brands = _read_brand_file(brand_path, builder)
    rows = _read_tree_file(tree_path, builder)
    # Pass 1 learns which path prefixes are plain categories; pass 2 cleans with that knowledge.
    known = {
        tuple(path[:k])
        for _, uid, name, nodes in rows
        for path in [clean_breadcrumb(nodes, name, brands.get(uid, ("", "", 0))[0])]
        for k in range(1, len(path) + 1)
    }
    source = str(tree_path)
    for line, uid, name, nodes in rows:
        brand = brands.pop(uid, ("", "", 0))[0]
        record = {F.ID: uid, F.TITLE: name, F.VENDOR: brand, F.SHOP: SHOP}
        path = clean_breadcrumb(nodes, name, brand, known)[:max_depth]
        if not nodes:
            builder.add(record, source, line, "", "no category breadcrumb")
        elif not path:
            builder.add(record, source, line, f" {SOURCE_SEPARATOR} ".join(nodes), ONLY_PRODUCT)
        else:
            builder.add(record, source, line, *join_path(path))
    for uid, (brand, name, line) in brands.items():  # brand rows without a tree row: no label
        builder.add({F.ID: uid, F.TITLE: name, F.VENDOR: brand, F.SHOP: SHOP}, str(brand_path), line,
                    "", f"no row in {TREE_FILE}")
    return builder.result(taxonomy)


def _read_tree_file(path: Path, builder: ResultBuilder) -> list[tuple[int, str, str, list[str]]]:
    """(line, uniq_id, product_name, breadcrumb nodes) per row; bad rows become rejects."""
    rows = []
    for item in iter_csv_rows(path):
        if isinstance(item, RecordError):
            builder.rejects.append(item)
            continue
        line, cells = item
        if len(cells) != len(TREE_COLUMNS):
            builder.reject(str(path), line, None, f"expected {len(TREE_COLUMNS)} cells ({', '.join(TREE_COLUMNS)}), got {len(cells)}")
            continue
        uid, name, tree = (c.strip() for c in cells)
        if line == 1 and uid == TREE_COLUMNS[0]:
            continue  # tolerate a header row
        try:
            nodes = _breadcrumb_nodes(tree)
        except ValueError as err:
            builder.reject(str(path), line, TREE_COLUMNS[2], str(err))
            continue
        rows.append((line, uid, name, nodes))
    if not rows:
        raise ValueError(f"{path}: no rows could be read")
    return rows


def _breadcrumb_nodes(tree: str) -> list[str]:
    """Nodes of `["A >> B >> C"]` (or of a bare `A >> B` string)."""
    if tree.startswith("["):
        try:
            crumbs = json.loads(tree)
        except json.JSONDecodeError as err:
            raise ValueError(f"invalid JSON list ({err.msg.removesuffix(' at')} at column {err.colno})") from None
        if not isinstance(crumbs, list) or not all(isinstance(c, str) for c in crumbs):
            raise ValueError("expected a JSON list of breadcrumb strings")
        tree = crumbs[0] if crumbs else ""
    return [n.strip() for n in tree.split(SOURCE_SEPARATOR) if n.strip()]


def _read_brand_file(path: Path, builder: ResultBuilder) -> dict[str, tuple[str, str, int]]:
    """uniq_id -> (brand, product_name, line)."""
    header: list[str] | None = None
    brands: dict[str, tuple[str, str, int]] = {}
    for item in iter_csv_rows(path):
        if isinstance(item, RecordError):
            builder.rejects.append(item)
            continue
        line, cells = item
        if header is None:
            header = [c.strip() for c in cells]
            if "uniq_id" not in header or "brand" not in header:
                raise ValueError(f"{path} does not look like the Flipkart brand file: header {header} lacks uniq_id/brand")
            continue
        if len(cells) != len(header):
            builder.reject(str(path), line, None, f"row has {len(cells)} cells, header has {len(header)}")
            continue
        row = dict(zip(header, cells))
        uid = row["uniq_id"].strip()
        if uid in brands:
            builder.reject(str(path), line, "uniq_id", f"duplicate id {uid!r} (first on line {brands[uid][2]})")
            continue
        brands[uid] = (row["brand"].strip(), row.get("product_name", "").strip(), line)
    return brands


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())
