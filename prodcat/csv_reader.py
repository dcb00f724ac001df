"""CSV product files, Shopify product exports among them: header row, then one product per record.

CSV is the format whose mistakes are hardest to contain, so it has its own reader. Quoted cells
may hold commas, doubled quotes and line breaks. A record with broken quoting is reported on the
line it starts, naming the column where the quoting breaks, and reading resumes on the next line,
so one stray quote does not swallow the rest of the file. A header that looks like a Shopify
export hands the rows to `prodcat.shopify_csv`. `prodcat.readers` picks this reader by suffix.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterable, Iterator
from pathlib import Path

from prodcat import features as F
from prodcat import shopify_csv
from prodcat.jsonl_reader import _UTF8_BOM, _utf16_or_32, physical_lines
from prodcat.records import Product, ReadOptions, RecordError, SURROGATE, product_from_mapping, raw_id, text_problem

# Python 3.10's csv module refuses NUL outright; it is swapped for this noncharacter while a row is
# split into cells and swapped back afterwards, so the NUL is reported against its column.
_CSV_NUL_STANDIN = "\ufdd0"
_CSV_FIELD_SIZE_LIMIT = 2**31 - 1  # field lengths are checked by the reader, not by the csv module


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
