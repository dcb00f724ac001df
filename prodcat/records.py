"""The one validation every reader's records go through, from a raw mapping to a `Product`.

`product_from_mapping` turns a record of any format (`prodcat.readers`) into a `Product` or a
`RecordError` naming source, line/row and field, so a malformed record is reported the same way
everywhere. The record types are `prodcat.product_record`, re-exported here (their old import
path). What is accepted and what is a bad record (a `RecordError`, never another exception):

* accepted: a UTF-8 BOM, CRLF / LF / lone CR line endings (mixed within a file too; each ends a
  line, as in Python's universal newlines), blank lines, unknown extra fields or columns, integer
  ids and categories (shops export numeric ids; a number where text belongs is a wrong type), quoted CSV cells with commas, doubled quotes and line breaks;
* rejected, naming the field where there is one: invalid UTF-8 or lone surrogates, NUL characters,
  a missing or empty id or title, a value of the wrong type, a text value longer than
  `ReadOptions.max_field_chars`, a duplicate id (the first occurrence is kept), an unusable image
  (unless `ReadOptions.keep_bad_images`); rejected with field None: a line that is not a JSON
  object, a CSV row whose cell count differs from the header's. A CSV row with broken quoting is
  reported on the line it starts, naming the column where the quoting breaks, and reading resumes
  on the next line, so one stray quote does not swallow the rest of the file.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prodcat import features as F
from prodcat.product_record import (
    DEFAULT_READ_OPTIONS,
    MAX_FIELD_CHARS,
    MAX_IMAGE_BYTES,
    ErrorPolicy,
    Product,
    ReadOptions,
    RecordError,
)
from prodcat.taxonomy import Taxonomy

# The record types keep their import path here: the readers, ExampleGen, serving and tests use it.
__all__ = [
    "DEFAULT_READ_OPTIONS", "MAX_FIELD_CHARS", "MAX_IMAGE_BYTES", "SURROGATE", "ErrorPolicy", "Product", "ReadOptions",
    "RecordError", "product_from_mapping", "raw_id", "resolve_category", "text_problem",
]

SURROGATE = re.compile("[\ud800-\udfff]")


# ----------------------------------------------------------------------------- parsing one record
def text_problem(value: str, max_chars: int | None) -> str | None:
    """Why a text value cannot be used (too long, not valid Unicode, NUL), or None.

    Undecodable input bytes arrive here as lone surrogates (the readers decode with
    `surrogateescape`), so the record is reported against the field that holds them.
    """
    if max_chars is not None and len(value) > max_chars:
        return f"is {len(value):,} characters long (max {max_chars:,}, ingest.max_field_chars)"
    match = None if value.isascii() else SURROGATE.search(value)  # isascii: the fast common case
    if match:
        code = ord(match.group())
        if 0xDC80 <= code <= 0xDCFF:
            return f"is not valid UTF-8 (byte 0x{code - 0xDC00:02X} at character {match.start()})"
        return f"contains a lone surrogate U+{code:04X} at character {match.start()}, which is not valid Unicode"
    if "\x00" in value:
        return "contains a NUL character"
    return None


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def raw_id(row: Mapping[str, Any]) -> str | None:
    """The record's id as written, if it is a usable string (for locating a rejected record)."""
    value = row.get(F.ID)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**100:
        value = str(value)
    if isinstance(value, str) and value.strip() and text_problem(value, 1000) is None:
        return value.strip()
    return None


def product_from_mapping(
    row: Mapping[str, Any], source: str, line: int | None, base_dir: Path | None = None,
    options: ReadOptions = DEFAULT_READ_OPTIONS,
) -> Product:
    """Validates one raw record (a JSON object, CSV row, Parquet row) into a `Product`."""
    try:
        return _product_from_mapping(row, source, line, base_dir, options)
    except RecordError as err:
        if err.record_id is None:
            err.record_id = raw_id(row)
        raise


def _product_from_mapping(
    row: Mapping[str, Any], source: str, line: int | None, base_dir: Path | None, options: ReadOptions
) -> Product:
    def checked(field: str, value: str) -> str:
        problem = text_problem(value, options.max_field_chars)
        if problem:
            raise RecordError(source, line, field, problem)
        return value

    def text(field: str, required: bool = False, number_allowed: bool = False) -> str:
        value = row.get(field)
        if value is None or _is_nan(value) or (isinstance(value, str) and not value):
            if required:
                raise RecordError(source, line, field, "is missing or empty")
            return ""
        if number_allowed and isinstance(value, int) and not isinstance(value, bool):  # numeric ids, as many shops export them
            if abs(value) >= 10**100:
                raise RecordError(source, line, field, "is a number too large to be an id or text")
            value = str(value)
        if not isinstance(value, str):
            raise RecordError(source, line, field, f"expected a string, got {type(value).__name__}")
        value = checked(field, value).strip()
        if required and not value:
            raise RecordError(source, line, field, "is missing or empty")
        return value

    def string_list(field: str) -> list[str]:
        value = row.get(field)
        if value is None or _is_nan(value):
            return []
        if isinstance(value, str):
            return [v.strip() for v in checked(field, value).split(",") if v.strip()]
        if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
            items = list(value.tolist() if hasattr(value, "tolist") else value)
            if not all(isinstance(v, str) for v in items):
                raise RecordError(source, line, field, "expected a list of strings")
            return [checked(field, v).strip() for v in items if v.strip()]
        raise RecordError(source, line, field, f"expected a list of strings, got {type(value).__name__}")

    category_value = row.get(F.CATEGORY)
    if isinstance(category_value, int) and not isinstance(category_value, bool) and abs(category_value) < 10**100:
        category_value = str(category_value)
    if category_value is not None and not isinstance(category_value, str):
        if not _is_nan(category_value):
            raise RecordError(source, line, F.CATEGORY, "expected a category id or path string")
        category_value = None
    if isinstance(category_value, str):
        category_value = checked(F.CATEGORY, category_value)
    category = category_value.strip() if isinstance(category_value, str) and category_value.strip() else None

    image, image_uri, image_problem = _image_field(row.get(F.IMAGE), source, line, base_dir, options)
    if image_problem and not options.keep_bad_images:
        raise RecordError(source, line, F.IMAGE, image_problem)
    return Product(
        id=text(F.ID, required=True, number_allowed=True),
        title=text(F.TITLE, required=True),
        description=text(F.DESCRIPTION),
        vendor=text(F.VENDOR),
        product_type=text(F.PRODUCT_TYPE),
        tags=string_list(F.TAGS),
        collections=string_list(F.COLLECTIONS),
        shop=text(F.SHOP),
        image=image,
        image_uri=image_uri or text("image_url"),
        language=text(F.LANGUAGE),
        category=category,
        image_error=image_problem or "",
    )


def _image_field(
    value: Any, source: str, line: int | None, base_dir: Path | None, options: ReadOptions
) -> tuple[bytes | None, str, str | None]:
    """An image given as bytes, a data URI, a local path (relative to the input file) or a URL.

    Returns (bytes, where they came from, why they are unusable). A value of the wrong type is a
    malformed record (raised); an image that cannot be read or is too large is a *problem* the
    caller rejects or tolerates (`ReadOptions.keep_bad_images`): the product's text is still good.
    """
    limit = options.max_image_bytes
    if isinstance(value, str):
        value = value.strip()
    if value is None or (isinstance(value, str) and not value) or _is_nan(value):
        return None, "", None
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
        uri = ""
    elif isinstance(value, str):
        if value.startswith("data:"):
            payload = value.split(",", 1)[1] if "," in value else None
            if payload is None:
                return None, "", "invalid data URI (no ',' before the data)"
            if len(payload) // 4 * 3 > limit + 2:  # checked before decoding a huge payload
                return None, "", f"image is about {len(payload) // 4 * 3:,} bytes (max {limit:,}, ingest.max_image_bytes)"
            try:
                data = base64.b64decode(payload, validate=True)
            except ValueError as err:
                return None, "", f"invalid base64 data URI ({err})"
            uri = ""
        else:
            problem = text_problem(value, options.max_field_chars or 64 * 1024)
            if problem:
                raise RecordError(source, line, F.IMAGE, problem)
            if value.startswith(("http://", "https://", "gs://", "s3://")):
                return None, value, None  # remote images are referenced, not fetched during ingestion
            path = Path(value)
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            try:
                size = path.stat().st_size
                if size > limit:
                    return None, value, f"image file {path} is {size:,} bytes (max {limit:,}, ingest.max_image_bytes)"
                data = path.read_bytes()
            except OSError as err:
                return None, value, f"cannot read image file {path}: {err.strerror or err}"
            uri = value
    else:
        raise RecordError(source, line, F.IMAGE, f"expected a path, data URI or bytes, got {type(value).__name__}")
    if len(data) > limit:
        return None, uri, f"image is {len(data):,} bytes (max {limit:,}, ingest.max_image_bytes)"
    return data, uri, None


def resolve_category(product: Product, taxonomy: Taxonomy, source: str, line: int | None, require: bool) -> str | None:
    """The product's taxonomy id (labels may be ids or paths); a bad or missing label raises.

    ExampleGen and the run's preflight check share this, so both reject exactly the same records.
    """
    if not product.category:
        if require:
            raise RecordError(source, line, F.CATEGORY, f"product {product.id!r}: missing (training data needs a category)",
                              record_id=product.id)
        return None
    node = taxonomy.resolve(product.category)
    if node is None:
        raise RecordError(source, line, F.CATEGORY, f"product {product.id!r}: {product.category!r} is not in the taxonomy",
                          record_id=product.id)
    return node.id
