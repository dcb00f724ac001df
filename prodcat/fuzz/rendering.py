"""A draft record as the lines of a JSONL or CSV file, with exactly the intended defect.

The standard writers cannot produce broken output (invalid bytes, NULs, bad quoting, wrong cell
counts), so defects go in through placeholders and hand-written CSV rows.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

from prodcat import features as F
from prodcat.fuzz.draft_record import BAD_BYTES_MARK, NUL_MARK, DraftRecord


def render_json(item: DraftRecord) -> list[bytes]:
    """The record's JSONL line."""
    if item.raw is not None:
        return [item.raw]
    text = json.dumps(item.fields, ensure_ascii=item.ascii_json)
    return [text.encode("utf-8").replace(BAD_BYTES_MARK.encode(), item.bad_bytes)]


def _csv_cell(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def render_csv(item: DraftRecord, header: tuple[str, ...]) -> list[bytes]:
    """The record's CSV row under `header`, as lines (a quoted cell can span several)."""
    cells = [_csv_cell(item.fields.get(column)) for column in header]
    if item.kind.name in CSV_ONLY_RENDERERS:
        text = CSV_ONLY_RENDERERS[item.kind.name](cells, header)
    else:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(cells)
        text = buffer.getvalue()[:-1]
        if item.kind.name == "csv_quoting" and 'Kite 5" tall' in cells:
            # a bare quote inside an unquoted cell is literal text (csv.writer would quote it)
            text = text.replace('"Kite 5"" tall"', 'Kite 5" tall')
    data = text.encode("utf-8").replace(BAD_BYTES_MARK.encode(), item.bad_bytes).replace(NUL_MARK.encode(), b"\0")
    return data.split(b"\n")


def _unclosed_quote(cells: list[str], header: tuple[str, ...]) -> str:
    title = header.index(F.TITLE)
    return ",".join(f'"{c.replace(",", " ")} never closed' if i == title else _plain(c) for i, c in enumerate(cells))


def _stray_quote(cells: list[str], header: tuple[str, ...]) -> str:
    title = header.index(F.TITLE)
    return ",".join(f'"{c}"junk' if i == title else _plain(c) for i, c in enumerate(cells))


def _extra_cells(cells: list[str], header: tuple[str, ...]) -> str:
    return ",".join(_plain(c) for c in cells + ["one too many"])


def _missing_cells(cells: list[str], header: tuple[str, ...]) -> str:
    return ",".join(_plain(c) for c in cells[: len(cells) - 2])


def _plain(cell: str) -> str:
    """A cell written without quotes (quote-free content), so only the intended defect is present."""
    return cell.replace(",", " ").replace('"', "").replace("\n", " ")


# The kinds whose defect exists only in CSV syntax: each writes its row by hand.
CSV_ONLY_RENDERERS: dict[str, Callable[[list[str], tuple[str, ...]], str]] = {
    "unclosed_quote": _unclosed_quote,
    "stray_quote": _stray_quote,
    "extra_cells": _extra_cells,
    "missing_cells": _missing_cells,
}
