"""JSONL product files (also .json and .ndjson): one JSON object per line, each a product.

The line splitting here (`physical_lines`) and the UTF-16/UTF-32 check are the CSV reader's too,
so both number lines the same way. Accepted besides the records: a UTF-8 BOM (at the start of the
file, or of a file appended to it), CRLF / LF / lone CR line endings, mixed within a file too, and
blank lines. A line that is not valid UTF-8 or JSON, or not an object, is a `RecordError` for that
line, and reading goes on. `prodcat.readers` picks this reader by file suffix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from prodcat.records import Product, ReadOptions, RecordError, SURROGATE, product_from_mapping, raw_id

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff")  # also the start of the UTF-32 LE BOM
_EOL = re.compile(rb"\r\n|\r|\n")


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
