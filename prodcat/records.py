"""The canonical product record and the readers that produce it from JSONL, CSV, Parquet, TFRecord.

Every ingestion path (dataset importers, ExampleGen, batch prediction, the client) goes through
these readers, so a malformed record is reported the same way everywhere: file, line/row, field.

What the readers accept, and what is a bad record (a `RecordError`, never another exception):

* accepted: a UTF-8 BOM, CRLF / LF / lone CR line endings (mixed within a file too; each ends a
  line, as in Python's universal newlines), blank lines, unknown extra fields or columns, integer
  ids and categories, quoted CSV cells with commas, doubled quotes and line breaks;
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
import csv
import dataclasses
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Literal

from prodcat import features as F

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_FIELD_CHARS = 64 * 1024  # the default of `ingest.max_field_chars`
SUPPORTED_SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv", ".parquet", ".tfrecord", ".tfrecords")
ErrorPolicy = Literal["fail", "collect"]

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff")  # also the start of the UTF-32 LE BOM
_SURROGATE = re.compile("[\ud800-\udfff]")
_EOL = re.compile(rb"\r\n|\r|\n")
# Python 3.10's csv module refuses NUL outright; it is swapped for this noncharacter while a row is
# split into cells and swapped back afterwards, so the NUL is reported against its column.
_CSV_NUL_STANDIN = "\ufdd0"
_CSV_FIELD_SIZE_LIMIT = 2**31 - 1  # field lengths are checked by the reader, not by the csv module


class RecordError(ValueError):
    """A product record that cannot be used, with where it came from.

    `record_id` is the record's id when it could be read (it helps find the record in big files).
    """

    def __init__(
        self, source: str, line: int | None, field: str | None, message: str, *, record_id: str | None = None
    ) -> None:
        self.source, self.line, self.field, self.reason = source, line, field, message
        self.record_id = record_id
        where = source + (f":{line}" if line is not None else "")
        what = f" field '{field}'" if field else ""
        super().__init__(f"{where}:{what} {message}".replace(":: ", ": "))

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "line": self.line, "field": self.field, "error": self.reason}


@dataclasses.dataclass(frozen=True)
class ReadOptions:
    """Limits and the image policy the readers apply to every record.

    The defaults keep the readers' long-standing behaviour for every caller (no text limit, an
    unusable image rejects its record); ExampleGen passes the run's `ingest` settings
    (`IngestConfig.read_options`). `max_field_chars` bounds each text value (each list item
    too) so a 1 MB title is reported rather than fed to the model; `keep_bad_images` keeps a
    product whose image cannot be used, without the image, and says why in `Product.image_error`.
    """

    max_field_chars: int | None = None
    max_image_bytes: int = MAX_IMAGE_BYTES
    keep_bad_images: bool = False


DEFAULT_READ_OPTIONS = ReadOptions()


@dataclasses.dataclass
class Product:
    """One product as prodcat sees it, whatever the source format.

    `category` is a taxonomy id or a full path ("A > B > C"); it is absent for inference.
    `image` holds encoded image bytes; `image_uri` records where they came from (or a URL
    that was not fetched). `image_error` says why an image was dropped (only set when the
    reader was asked to keep products with unusable images).
    """

    id: str
    title: str
    description: str = ""
    vendor: str = ""
    product_type: str = ""
    tags: list[str] = dataclasses.field(default_factory=list)
    collections: list[str] = dataclasses.field(default_factory=list)
    shop: str = ""
    image: bytes | None = None
    image_uri: str = ""
    language: str = ""
    category: str | None = None
    image_error: str = dataclasses.field(default="", compare=False)

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-safe dict (image bytes as a data URI) in the canonical JSONL layout."""
        out: dict[str, Any] = {
            F.ID: self.id,
            F.TITLE: self.title,
            F.DESCRIPTION: self.description,
            F.VENDOR: self.vendor,
            F.PRODUCT_TYPE: self.product_type,
            F.TAGS: self.tags,
            F.COLLECTIONS: self.collections,
            F.SHOP: self.shop,
            F.LANGUAGE: self.language,
            F.CATEGORY: self.category,
        }
        if self.image is not None:
            out[F.IMAGE] = "data:application/octet-stream;base64," + base64.b64encode(self.image).decode()
        elif self.image_uri:
            out[F.IMAGE] = self.image_uri
        return out


# ----------------------------------------------------------------------------- parsing one record
def text_problem(value: str, max_chars: int | None) -> str | None:
    """Why a text value cannot be used (too long, not valid Unicode, NUL), or None.

    Undecodable input bytes arrive here as lone surrogates (the readers decode with
    `surrogateescape`), so the record is reported against the field that holds them.
    """
    if max_chars is not None and len(value) > max_chars:
        return f"is {len(value):,} characters long (max {max_chars:,}, ingest.max_field_chars)"
    match = None if value.isascii() else _SURROGATE.search(value)  # isascii: the fast common case
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


def _raw_id(row: Mapping[str, Any]) -> str | None:
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
            err.record_id = _raw_id(row)
        raise


def _product_from_mapping(
    row: Mapping[str, Any], source: str, line: int | None, base_dir: Path | None, options: ReadOptions
) -> Product:
    def checked(field: str, value: str) -> str:
        problem = text_problem(value, options.max_field_chars)
        if problem:
            raise RecordError(source, line, field, problem)
        return value

    def text(field: str, required: bool = False) -> str:
        value = row.get(field)
        if value is None or _is_nan(value) or (isinstance(value, str) and not value):
            if required:
                raise RecordError(source, line, field, "is missing or empty")
            return ""
        if isinstance(value, int) and not isinstance(value, bool):
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
        id=text(F.ID, required=True),
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


# ----------------------------------------------------------------------------- readers
def iter_products(
    path: str | os.PathLike, rejects: list[RecordError] | None = None, *,
    options: ReadOptions = DEFAULT_READ_OPTIONS,
) -> Iterator[Product]:
    """Streams the products of one file; the format follows the file suffix.

    With `rejects=None` the first bad record raises `RecordError`; with a list, bad records are
    appended to it and reading continues (quarantine).
    """
    for _, product in iter_numbered_products(path, rejects, options=options):
        yield product


def iter_numbered_products(
    path: str | os.PathLike, rejects: list[RecordError] | None = None, *,
    options: ReadOptions = DEFAULT_READ_OPTIONS, seen_ids: dict[str, str] | None = None,
) -> Iterator[tuple[int, Product]]:
    """Like `iter_products`, with each product's line (CSV/JSONL) or row number (Parquet/TFRecord).

    The first record with an id is kept and later ones are rejected as duplicates. Pass one
    `seen_ids` dict (id -> where first seen) to several calls to apply that across files, in the
    order the files are read.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    readers = {
        ".jsonl": _iter_jsonl, ".json": _iter_jsonl, ".ndjson": _iter_jsonl,
        ".csv": _iter_csv, ".parquet": _iter_parquet,
        ".tfrecord": _iter_tfrecord, ".tfrecords": _iter_tfrecord,
    }
    if suffix not in readers:
        raise RecordError(str(path), None, None, f"unsupported format {suffix!r}; use one of {', '.join(SUPPORTED_SUFFIXES)}")
    if not path.exists():
        raise RecordError(str(path), None, None, "file not found")
    seen = {} if seen_ids is None else seen_ids
    for item in _guarded(readers[suffix](path, options), str(path)):
        if isinstance(item, RecordError):
            error = item
        else:
            product, line = item
            first = seen.get(product.id)
            if first is not None:
                error = RecordError(str(path), line, F.ID, f"duplicate id {product.id!r} (first at {first})",
                                    record_id=product.id)
            else:
                seen[product.id] = f"{path}:{line}"
                yield line, product
                continue
        if rejects is None:
            raise error
        rejects.append(error)


def _guarded(items: Iterator[tuple[Product, int] | RecordError], source: str) -> Iterator[tuple[Product, int] | RecordError]:
    """A reader's items, with an I/O failure mid-file turned into a final `RecordError`."""
    try:
        yield from items
    except OSError as err:
        yield RecordError(source, None, None, f"cannot read the file ({err.strerror or err})")


def input_files(path: str | os.PathLike) -> list[Path]:
    """A product file, or every supported file in a directory (sorted, so runs are repeatable)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUPPORTED_SUFFIXES)
        if not files:
            raise RecordError(str(path), None, None, f"no product files ({', '.join(SUPPORTED_SUFFIXES)}) in directory")
        return files
    return [path]


def read_products(
    path: str | os.PathLike, rejects: list[RecordError] | None = None, *,
    options: ReadOptions = DEFAULT_READ_OPTIONS,
) -> list[Product]:
    seen: dict[str, str] = {}
    return [p for f in input_files(path)
            for _, p in iter_numbered_products(f, rejects, options=options, seen_ids=seen)]


def physical_lines(handle: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes with their line ending); CRLF, LF and a lone CR each end a line.

    Files that mix line endings (a CRLF export appended to an LF one) number lines the way an
    editor shows them, and both readers share this numbering.
    """
    lineno = 0
    for chunk in handle:  # binary iteration splits after b"\n" only
        start = 0
        for match in _EOL.finditer(chunk):
            lineno += 1
            yield lineno, chunk[start:match.end()]
            start = match.end()
        if start < len(chunk):
            lineno += 1
            yield lineno, chunk[start:]


def _utf16_or_32(first_bytes: bytes) -> bool:
    return first_bytes.startswith(_UTF16_32_BOMS) or first_bytes.startswith(b"\x00\x00\xfe\xff")


def _surrogate_key(obj: Mapping[str, Any]) -> str | None:
    """The first top-level field whose key or (nested) value holds undecodable bytes."""
    def dirty(value: Any) -> bool:
        if isinstance(value, str):
            return bool(_SURROGATE.search(value))
        if isinstance(value, list):
            return any(dirty(v) for v in value)
        if isinstance(value, dict):
            return any(dirty(k) or dirty(v) for k, v in value.items())
        return False

    return next((key for key, value in obj.items() if dirty(key) or dirty(value)), None)


def _json_int(digits: str) -> int:
    """A JSON integer, bounded: a 5,000-digit number is a broken record, not a reason to stall."""
    if len(digits) > 100:
        raise ValueError(f"a number with {len(digits):,} digits")
    return int(digits)


def _iter_jsonl(path: Path, options: ReadOptions) -> Iterator[tuple[Product, int] | RecordError]:
    source = str(path)
    with path.open("rb") as handle:
        if _utf16_or_32(handle.read(4)):
            yield RecordError(source, None, None, "file is UTF-16 or UTF-32; save it as UTF-8")
            return
        handle.seek(0)
        for lineno, raw in physical_lines(handle):
            raw = raw.rstrip(b"\r\n")
            if raw.startswith(_UTF8_BOM):  # at the start of the file, or of a file appended to it
                raw = raw[3:]
            if not raw.strip():
                continue
            bad_byte: int | None = None
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                bad_byte = err.start
                text = raw.decode("utf-8", "surrogateescape")
            invalid_utf8 = f"invalid UTF-8 at byte {bad_byte} of the line"
            try:
                obj = json.loads(text, parse_int=_json_int)
            except RecursionError:
                yield RecordError(source, lineno, None, "invalid JSON (nested too deeply)")
                continue
            except ValueError as err:  # JSONDecodeError, or an integer with too many digits
                if bad_byte is not None:
                    message = invalid_utf8
                elif isinstance(err, json.JSONDecodeError):
                    message = f"invalid JSON ({err.msg} at column {err.colno})"
                else:
                    message = f"invalid JSON ({err})"
                yield RecordError(source, lineno, None, message)
                continue
            if not isinstance(obj, dict):
                yield RecordError(source, lineno, None, f"expected a JSON object, got {type(obj).__name__}")
                continue
            if bad_byte is not None:
                yield RecordError(source, lineno, _surrogate_key(obj), invalid_utf8, record_id=_raw_id(obj))
                continue
            try:
                yield product_from_mapping(obj, source, lineno, path.parent, options), lineno
            except RecordError as err:
                yield err


# ----------------------------------------------------------------------------- CSV
@dataclasses.dataclass(frozen=True)
class _BrokenRow:
    """A CSV record the csv module could not split into cells."""

    text: str
    error: str
    capped: bool
    last_line: int  # the line the csv module gave up on


class _LineSource:
    """Feeds the csv module physical lines, remembering those of the record it is parsing.

    On broken quoting the record's later lines are pushed back, so parsing restarts on the line
    after the record's first line. A record may not grow past `max_chars` over several lines:
    the csv module then sees the input end inside a quoted cell, which is an error.
    """

    def __init__(self, lines: Iterator[tuple[int, str]], max_chars: int | None) -> None:
        self._lines, self._max_chars = lines, max_chars
        self._pushed_back: list[tuple[int, str]] = []  # a stack: the next line is at the end
        self.record: list[tuple[int, str]] = []
        self.capped = False
        self._chars = 0

    def __iter__(self) -> _LineSource:
        return self

    def __next__(self) -> str:
        if self._max_chars is not None and self._chars > self._max_chars:
            self.capped = True
            raise StopIteration
        item = self._pushed_back.pop() if self._pushed_back else next(self._lines)
        self.record.append(item)
        self._chars += len(item[1])
        return item[1]

    def start_record(self) -> None:
        self.record, self.capped, self._chars = [], False, 0

    def retry_after_first_line(self) -> None:
        self._pushed_back.extend(reversed(self.record[1:]))


def _csv_records(
    lines: Iterator[tuple[int, str]], max_chars: int | None
) -> Iterator[tuple[int, list[str] | _BrokenRow]]:
    """(line the record starts on, its cells) for each CSV record.

    A record with broken quoting comes back as a `_BrokenRow` and parsing restarts on the line
    after its first line: an unclosed quote would otherwise swallow every later record. A quoted
    cell may span lines (that is valid CSV), but not more than `max_chars` characters.
    """
    source = _LineSource(lines, max_chars)
    reader = csv.reader(source, strict=True)  # the csv module resets its state after an error
    while True:
        source.start_record()
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            record = source.record
            source.retry_after_first_line()
            yield record[0][0], _BrokenRow("".join(text for _, text in record), str(err), source.capped, record[-1][0])
            continue
        yield source.record[0][0], cells


def _quote_error_column(text: str) -> int:
    """The index of the cell where strict CSV parsing of `text` fails (the csv module's states)."""
    column, state = 0, "start"
    for char in text:
        if state == "start":
            if char == '"':
                state = "quoted"
            elif char == ",":
                column += 1
            elif char in "\r\n":
                break
            else:
                state = "plain"
        elif state == "plain":
            if char == ",":
                column, state = column + 1, "start"
            elif char in "\r\n":
                break
        elif state == "quoted":
            if char == '"':
                state = "closing"
        elif char == '"':  # state "closing": a doubled quote is a literal quote
            state = "quoted"
        elif char == ",":
            column, state = column + 1, "start"
        else:
            break  # any other character after a closing quote is the error (or the record ends)
    return column


def _csv_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Decoded physical lines; undecodable bytes become lone surrogates, reported per field."""
    with path.open("rb") as handle:
        for lineno, raw in physical_lines(handle):
            if lineno == 1 and raw.startswith(_UTF8_BOM):
                raw = raw[3:]
            yield lineno, raw.decode("utf-8", "surrogateescape").replace("\x00", _CSV_NUL_STANDIN)


def _iter_csv_rows(
    path: Path, options: ReadOptions
) -> Iterator[list[str] | tuple[int, dict[str, str]] | RecordError]:
    """The header (first), then (line, row as a dict) or a `RecordError` per record."""
    source = str(path)
    with path.open("rb") as handle:
        if _utf16_or_32(handle.read(4)):
            yield RecordError(source, None, None, "file is UTF-16 or UTF-32; save it as UTF-8")
            return
    if csv.field_size_limit() < _CSV_FIELD_SIZE_LIMIT:
        csv.field_size_limit(_CSV_FIELD_SIZE_LIMIT)
    lines = _csv_lines(path)
    header: list[str] | None = None
    for line, cells in _csv_records(lines, None):  # the header is the first non-blank record
        if isinstance(cells, _BrokenRow):
            yield RecordError(source, line, None, f"malformed CSV header ({cells.error})")
            return
        if any(c.strip() for c in cells):
            header = [c.strip() for c in cells]
            break
    if header is None:
        return
    yield header
    max_chars: int | None = None
    if options.max_field_chars is not None:
        image_allowance = options.max_image_bytes * 4 // 3 if F.IMAGE in header else 0
        max_chars = (options.max_field_chars + 3) * len(header) + image_allowance
    for line, cells in _csv_records(lines, max_chars):  # a successful header left nothing pushed back
        if isinstance(cells, _BrokenRow):
            column = _quote_error_column(cells.text)
            field = header[column] if column < len(header) else None
            if "unexpected end of data" in cells.error:
                what = (f"a quoted cell is not closed within {max_chars:,} characters" if cells.capped
                        else "a quoted cell is never closed")
            elif cells.last_line != line:
                what = f"a quoted cell is not closed on this line; the next quote, on line {cells.last_line}, does not close it"
            else:
                what = f"broken quoting: {cells.error}"
            yield RecordError(source, line, field, f"malformed CSV ({what})")
            continue
        if not any(c.strip() for c in cells):
            continue
        cells = [c.replace(_CSV_NUL_STANDIN, "\x00") for c in cells]
        row = dict(zip(header, cells))
        if len(cells) != len(header):
            yield RecordError(source, line, None, f"row has {len(cells)} cells, header has {len(header)}",
                              record_id=_raw_id(row))
            continue
        yield line, row


def _iter_csv(path: Path, options: ReadOptions) -> Iterator[tuple[Product, int] | RecordError]:
    from prodcat import shopify_csv

    source = str(path)
    items = _iter_csv_rows(path, options)
    header = next(items, None)
    if header is None:
        return
    if isinstance(header, RecordError):
        yield header
        return
    rows: Iterable[tuple[int, dict[str, str]] | RecordError] = items  # type: ignore[assignment]
    if shopify_csv.is_shopify_export(header):
        yield from shopify_csv.iter_shopify_rows(rows, source, options=options)
        return
    for item in rows:
        if isinstance(item, RecordError):
            yield item
            continue
        line, row = item
        bad_column = next((k for k, v in row.items() if not v.isascii() and _SURROGATE.search(v)), None)
        if bad_column is not None:
            problem = text_problem(row[bad_column], None)
            yield RecordError(source, line, bad_column, problem or "is not valid UTF-8", record_id=_raw_id(row))
            continue
        try:
            yield product_from_mapping(row, source, line, path.parent, options), line
        except RecordError as err:
            yield err


# ----------------------------------------------------------------------------- columnar formats
def _iter_parquet(path: Path, options: ReadOptions) -> Iterator[tuple[Product, int] | RecordError]:
    import pyarrow.parquet as pq

    source = str(path)
    try:
        parquet = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for unreadable files
        yield RecordError(source, None, None, f"not a readable Parquet file ({err})")
        return
    row_number = 0
    batches = parquet.iter_batches(batch_size=4096)
    while True:
        try:
            batch = next(batches, None)
            rows = [] if batch is None else batch.to_pylist()
        except Exception as err:  # a corrupt row group: the rows read so far stand
            yield RecordError(source, row_number + 1, None, f"unreadable Parquet data from this row on ({err})")
            return
        if batch is None:
            return
        for row in rows:
            row_number += 1
            try:
                yield product_from_mapping(row, source, row_number, path.parent, options), row_number
            except RecordError as err:
                yield err


def _iter_tfrecord(path: Path, options: ReadOptions) -> Iterator[tuple[Product, int] | RecordError]:
    import tensorflow as tf
    from google.protobuf.message import DecodeError

    from prodcat.examples import example_to_mapping

    source = str(path)
    compression = "GZIP" if path.name.endswith(".gz") else ""
    number = 0
    try:
        for number, serialized in enumerate(tf.data.TFRecordDataset(str(path), compression).as_numpy_iterator(), start=1):
            try:
                yield product_from_mapping(example_to_mapping(serialized), source, number, path.parent, options), number
            except RecordError as err:
                yield err
            except (ValueError, DecodeError) as err:
                yield RecordError(source, number, None, f"not a tf.Example ({err})")
    except tf.errors.OpError as err:  # DataLossError for a truncated or corrupt file
        yield RecordError(source, number + 1 if number else None, None, f"corrupt TFRecord file ({err.message})")


def write_jsonl(products: Iterator[Product] | list[Product], path: str | os.PathLike) -> int:
    """Writes canonical JSONL atomically (a reader never sees a half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with tmp.open("w", encoding="utf-8") as handle:
        for product in products:
            handle.write(json.dumps(product.to_json_dict(), ensure_ascii=False) + "\n")
            count += 1
    os.replace(tmp, path)
    return count
