"""Shopify's own product export (`products_export.csv` from Shopify admin).

One product spans several rows: the first row of a handle carries the title and description,
later rows of the same handle carry more variants and images. This module folds them back into
one canonical record per handle.
"""

from __future__ import annotations

import html
import html.parser
from collections.abc import Iterable, Iterator, Sequence

from prodcat import features as F
from prodcat.records import DEFAULT_READ_OPTIONS, Product, ReadOptions, RecordError, product_from_mapping

HANDLE, TITLE, BODY, VENDOR, TYPE, TAGS = "Handle", "Title", "Body (HTML)", "Vendor", "Type", "Tags"
PRODUCT_CATEGORY = "Product Category"
GOOGLE_CATEGORY = "Google Shopping / Google Product Category"
IMAGE_SRC = "Image Src"
COLLECTION = "Collection"


def is_shopify_export(header: Sequence[str]) -> bool:
    return {HANDLE, TITLE, BODY}.issubset(header)


def strip_html(text: str) -> str:
    """Visible text of an HTML fragment, whitespace collapsed."""
    parser = _TextExtractor()
    parser.feed(text or "")
    parser.close()
    return " ".join(" ".join(parser.parts).split())


class _TextExtractor(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs) -> None:  # noqa: ANN001 (stdlib signature)
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(html.unescape(data))


def shopify_category(row: dict[str, str]) -> str | None:
    """The product's category label: Shopify's category path, else Google's category field.

    Newer exports write "Apparel & Accessories > Jewelry > Rings"; some append the Shopify GID
    after " in "; Google's column holds an id or a path.
    """
    google = (row.get(GOOGLE_CATEGORY) or "").strip()
    shop_cat = (row.get(PRODUCT_CATEGORY) or "").strip()
    if shop_cat.lower() == "uncategorized":
        shop_cat = ""
    return google or shop_cat or None


def iter_shopify_rows(
    rows: Iterable[tuple[int, dict[str, str]] | RecordError], source: str, shop: str = "", *,
    options: ReadOptions = DEFAULT_READ_OPTIONS,
) -> Iterator[tuple[Product, int] | RecordError]:
    """Folds variant rows into products; yields each product with the line of its first row.

    `rows` are (line, row) pairs from the CSV reader, with a `RecordError` in place of a row it
    could not split; such a row ends the product being folded.
    """
    current: dict[str, str] | None = None
    first_line = 0
    images: list[str] = []

    def finish() -> tuple[Product, int] | RecordError:
        assert current is not None
        record = {
            F.ID: current.get(HANDLE, ""),
            F.TITLE: current.get(TITLE, ""),
            F.DESCRIPTION: strip_html(current.get(BODY, "")),
            F.VENDOR: current.get(VENDOR, ""),
            F.PRODUCT_TYPE: current.get(TYPE, ""),
            F.TAGS: current.get(TAGS, ""),
            F.COLLECTIONS: current.get(COLLECTION, ""),
            F.SHOP: shop,
            F.CATEGORY: shopify_category(current),
            "image_url": images[0] if images else "",
        }
        try:
            return product_from_mapping(record, source, first_line, options=options), first_line
        except RecordError as err:
            return err

    for item in rows:
        if isinstance(item, RecordError):
            if current is not None:
                yield finish()
                current = None
            yield item
            continue
        line, row = item
        handle = (row.get(HANDLE) or "").strip()
        if current is not None and handle == current.get(HANDLE, "").strip() and not (row.get(TITLE) or "").strip():
            if row.get(IMAGE_SRC):
                images.append(row[IMAGE_SRC].strip())
            continue
        if current is not None:
            yield finish()
        current, first_line = row, line
        images = [row[IMAGE_SRC].strip()] if row.get(IMAGE_SRC) else []
    if current is not None:
        yield finish()
