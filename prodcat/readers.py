"""Product files in, `Product`s out: JSONL, CSV (Shopify exports too), Parquet, and TFRecord
through `extra_readers` (it needs TensorFlow: `contract.examples.TFRECORD_READERS`).

Every ingestion path (dataset importers, ExampleGen, batch prediction, the client) reads through
here, and every record through `records.product_from_mapping`, so a bad record is reported the same
way everywhere. Accepted besides: a UTF-8 BOM, CRLF / LF / lone CR line endings (mixed within a
file too), blank lines, quoted CSV cells with commas, doubled quotes and line breaks. A CSV row
with broken quoting is reported on the line it starts, naming the column where the quoting breaks,
and reading resumes on the next line, so one stray quote does not swallow the rest of the file.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from prodcat import features as F
from prodcat import shopify_csv
from prodcat.records import (
    DEFAULT_READ_OPTIONS,
    Product,
    ReadOptions,
    RecordError,
    SURROGATE,
    product_from_mapping,
    raw_id,
    text_problem,
)

TFRECORD_SUFFIXES = (".tfrecord", ".tfrecords")
SUPPORTED_SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv", ".parquet", *TFRECORD_SUFFIXES)

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff")  # also the start of the UTF-32 LE BOM
_EOL = re.compile(rb"\r\n|\r|\n")
# Python 3.10's csv module refuses NUL outright; it is swapped for this noncharacter while a row is
# split into cells and swapped back afterwards, so the NUL is reported against its column.
_CSV_NUL_STANDIN = "\ufdd0"
_CSV_FIELD_SIZE_LIMIT = 2**31 - 1  # field lengths are checked by the reader, not by the csv module


# ----------------------------------------------------------------------------- readers
# A format's reader: (path, options) -> (product, line/row number) or the record's error, in file order.
Reader = Callable[[Path, ReadOptions], Iterator["tuple[Product, int] | RecordError"]]


def iter_products(
    path: str | os.PathLike, rejects: list[RecordError] | None = None, *,
    options: ReadOptions = DEFAULT_READ_OPTIONS, extra_readers: Mapping[str, Reader] | None = None,
) -> Iterator[Product]:
    """Streams the products of one file; the format follows the file suffix.

    With `rejects=None` the first bad record raises `RecordError`; with a list, bad records are
    appended to it and reading continues (quarantine).
    """
    for _, product in iter_numbered_products(path, rejects, options=options, extra_readers=extra_readers):
        yield product


def iter_numbered_products(
    path: str | os.PathLike, rejects: list[RecordError] | None = None, *,
    options: ReadOptions = DEFAULT_READ_OPTIONS, seen_ids: dict[str, str] | None = None,
    extra_readers: Mapping[str, Reader] | None = None,
) -> Iterator[tuple[int, Product]]:
    """Like `iter_products`, with each product's line (CSV/JSONL) or row number (Parquet/TFRecord).

    The first record with an id is kept and later ones are rejected as duplicates. Pass one
    `seen_ids` dict (id -> where first seen) to several calls to apply that across files, in the
    order the files are read. `extra_readers` (suffix -> reader) adds the formats that need
    TensorFlow (`contract.examples.TFRECORD_READERS`).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    readers = {
        ".jsonl": _iter_jsonl, ".json": _iter_jsonl, ".ndjson": _iter_jsonl,
        ".csv": _iter_csv, ".parquet": _iter_parquet,
        **(extra_readers or {}),
    }
    if suffix in TFRECORD_SUFFIXES and suffix not in readers:
        raise RecordError(str(path), None, None, "TFRecord files are read by the pipeline and `prodcat predict` "
                          "(they need TensorFlow); convert them to JSONL to use them here")
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
    options: ReadOptions = DEFAULT_READ_OPTIONS, extra_readers: Mapping[str, Reader] | None = None,
) -> list[Product]:
    seen: dict[str, str] = {}
    return [p for f in input_files(path)
            for _, p in iter_numbered_products(f, rejects, options=options, seen_ids=seen, extra_readers=extra_readers)]


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
            return bool(SURROGATE.search(value))
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
                    message = f"invalid JSON ({err.msg.removesuffix(' at')} at column {err.colno})"
                else:
                    message = f"invalid JSON ({err})"
                yield RecordError(source, lineno, None, message)
                continue
            if not isinstance(obj, dict):
                yield RecordError(source, lineno, None, f"expected a JSON object, got {type(obj).__name__}")
                continue
            if bad_byte is not None:
                yield RecordError(source, lineno, _surrogate_key(obj), invalid_utf8, record_id=raw_id(obj))
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
                              record_id=raw_id(row))
            continue
        yield line, row


def _iter_csv(path: Path, options: ReadOptions) -> Iterator[tuple[Product, int] | RecordError]:
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
        bad_column = next((k for k, v in row.items() if not v.isascii() and SURROGATE.search(v)), None)
        if bad_column is not None:
            problem = text_problem(row[bad_column], None)
            yield RecordError(source, line, bad_column, problem or "is not valid UTF-8", record_id=raw_id(row))
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
