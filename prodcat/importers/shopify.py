"""Shopify product exports labelled with the Google Product Taxonomy (silver, merchant labels).

Sources: the shared multi-store `products.jsonl` (one product per line, harvested from public
`products_export*.csv` files: title, description, vendor, product_type, tags, product_category,
google_product_category, image_url, handle, lang, source_repo, ...), a single Shopify admin
`products_export.csv` (variant rows folded by `prodcat.shopify_csv`), or canonical prodcat JSONL.
Cleaning decisions:

- Labels are resolved in the Google taxonomy and written as Google ids. The merchant's explicit
  `google_product_category` (an id or a path) wins; otherwise `product_category` (Shopify's
  Standard Product Taxonomy) is used when it equals a Google path, and otherwise, given Shopify's
  own Shopify -> Google mapping and Shopify's category files (any of its languages), it goes
  through that mapping (`ShopifyToGoogle`). Without the mapping, or for a Shopify path none of
  the files has, the record is unmapped, not guessed.
- Path matching ignores letter case and spacing around ">": some stores export Google paths in
  lower case, and Google's tree has no two paths that differ only by case.
- `shop` is the source store (`source_repo`), and `id` is `shop/handle`: handles are only unique
  within a store. Keep the store to split train/eval by store (labels are store-specific).
- For a single CSV export `shop` defaults to the name of the directory holding it. That CSV reader
  keeps one label per product (Google's column, else Shopify's), so an invalid Google value there
  does not fall back to `Product Category`.
"""

from __future__ import annotations

import json
from pathlib import Path

from prodcat import features as F
from prodcat.importers.base import ImportResult, ResultBuilder, find_file, read_csv_header
from prodcat.records import RecordError
from prodcat.readers import iter_products
from prodcat.shopify_csv import is_shopify_export
from prodcat.importers.shopify_mapping import ShopifyToGoogle, fold_path
from prodcat.taxonomy import Category, Taxonomy, load_taxonomy

DATASET = "shopify"
MULTISTORE_FIELDS = ("handle", "title", "source_repo")
NO_LABEL = "no category label"
BAD_GOOGLE = "google_product_category is not a Google taxonomy id or path"
BAD_BOTH = "neither google_product_category nor product_category is in the Google taxonomy"
BAD_SHOPIFY = "product_category is not a Google taxonomy path (nor a Shopify path the mapping covers)"
NOT_GOOGLE = "category is not a Google taxonomy id or path"


class GoogleResolver:
    """Finds a Google node from an id or a path, case- and spacing-insensitively; with a
    `ShopifyToGoogle` mapping, also from a Shopify category (`shopify_label`)."""

    def __init__(self, taxonomy: Taxonomy, shopify: ShopifyToGoogle | None = None) -> None:
        self.taxonomy = taxonomy
        self.shopify = shopify
        self._folded = {fold_path(c.path_str): c for c in taxonomy.categories}
        self.mapped = 0  # labels found only through the Shopify mapping

    def __call__(self, label: str | None) -> Category | None:
        label = (label or "").strip()
        if not label:
            return None
        return self.taxonomy.resolve(label) or self._folded.get(fold_path(label))

    def shopify_label(self, label: str | None) -> Category | None:
        """A Shopify category (path in any language the mapping read, or id) as a Google node."""
        node = self(label)
        if node is None and self.shopify is not None and label:
            google_id = self.shopify.google_id(label)
            node = self.taxonomy.get(google_id) if google_id else None
            self.mapped += node is not None
        return node


def import_shopify(src: str | Path, taxonomy: Taxonomy | None = None, shop: str | None = None,
                   shopify_mapping: ShopifyToGoogle | None = None) -> ImportResult:
    """Imports a multi-store products.jsonl (or a directory holding it), a products_export.csv,
    or canonical JSONL. `taxonomy` is the Google taxonomy (default: `load_taxonomy()`);
    `shopify_mapping` maps Shopify categories that are not Google paths."""
    src = Path(src)
    path = find_file(src, ["products.jsonl", "products_export*.csv", "*.csv"], DATASET)
    resolve = GoogleResolver(taxonomy if taxonomy is not None else load_taxonomy(), shopify_mapping)
    builder = ResultBuilder(DATASET, path)
    if path.suffix.lower() == ".csv":
        header = read_csv_header(path, ())
        if not is_shopify_export(header):
            raise ValueError(f"{path} does not look like a Shopify products export: header {header[:6]} lacks Handle, Title, Body (HTML)")
        _import_canonical(builder, path, resolve, shop if shop is not None else path.resolve().parent.name)
    elif _is_multistore(path):
        _import_multistore(builder, path, resolve)
    else:
        _import_canonical(builder, path, resolve, shop)
    result = builder.result(resolve.taxonomy, own_tree=False)
    result.extra["mapped_from_shopify_taxonomy"] = resolve.mapped
    return result


def _is_multistore(path: Path) -> bool:
    """True for the harvested multi-store layout, False for canonical JSONL (has `id`)."""
    try:
        with path.open(encoding="utf-8-sig") as handle:
            first = next((line for line in handle if line.strip()), "")
        obj = json.loads(first) if first else {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: cannot read the first record ({err})") from None
    if isinstance(obj, dict) and all(k in obj for k in MULTISTORE_FIELDS):
        return True
    if isinstance(obj, dict) and F.ID in obj and F.TITLE in obj:
        return False
    raise ValueError(
        f"{path} does not look like Shopify product data: expected the multi-store fields "
        f"{', '.join(MULTISTORE_FIELDS)} or canonical records with id and title"
    )


def _import_multistore(builder: ResultBuilder, path: Path, resolve: GoogleResolver) -> None:
    source = str(path)
    with path.open("rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8-sig" if lineno == 1 else "utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                builder.reject(source, lineno, None, f"invalid JSON line ({err})")
                continue
            if not isinstance(row, dict):
                builder.reject(source, lineno, None, f"expected a JSON object, got {type(row).__name__}")
                continue
            handle_text, shop = _str(row.get("handle")), _str(row.get("source_repo"))
            if not handle_text:
                builder.reject(source, lineno, "handle", "is missing or empty")
                continue
            google, shopify = _str(row.get("google_product_category")), _str(row.get("product_category"))
            # a Shopify path in Google's column is read as what it is
            node = resolve.shopify_label(google) or resolve.shopify_label(shopify)
            record = {
                F.ID: f"{shop}/{handle_text}" if shop else handle_text,
                F.TITLE: row.get("title"),
                F.DESCRIPTION: row.get("description"),
                F.VENDOR: row.get("vendor"),
                F.PRODUCT_TYPE: row.get("product_type"),
                F.TAGS: row.get("tags"),
                F.SHOP: shop,
                F.LANGUAGE: row.get("lang"),
                "image_url": row.get("image_url"),
            }
            if node is not None:
                builder.add(record, source, lineno, node.id)
            else:
                reason = (BAD_BOTH if shopify else BAD_GOOGLE) if google else BAD_SHOPIFY if shopify else NO_LABEL
                builder.add(record, source, lineno, google or shopify, reason)


def _import_canonical(builder: ResultBuilder, path: Path, resolve: GoogleResolver, shop: str | None) -> None:
    """A Shopify CSV export or canonical JSONL, through `records.iter_products`."""
    source = str(path)
    rejects: list[RecordError] = []
    for product in iter_products(path, rejects):
        if shop:
            product.shop, product.id = shop, f"{shop}/{product.id}"
        node = resolve.shopify_label(product.category)
        # iter_products has already validated the record; the only possible reject left is a
        # duplicate id, which it also checks per file, so no line number is needed here.
        if node is not None:
            builder.add(product, source, None, node.id)
        else:
            builder.add(product, source, None, product.category, NOT_GOOGLE if product.category else NO_LABEL)
    builder.rejects.extend(rejects)


def _str(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""
