"""The corpus's product files: their format, BOM, line endings and CSV headers.

Real feeds differ in exactly these ways, so each file varies one of them; the CSV files put their
columns in different orders (one with a column prodcat does not know) so ingestion must read the
header rather than assume an order.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from prodcat.fuzz.kinds import Format

DATA_DIR = "data"


@dataclasses.dataclass(frozen=True)
class FuzzFile:
    name: str
    format: Format
    bom: bool
    eol: Literal["lf", "crlf", "mixed"]
    final_newline: bool = True


FILES = (
    FuzzFile("01-plain.jsonl", "jsonl", bom=False, eol="lf"),
    FuzzFile("02-bom-crlf.jsonl", "jsonl", bom=True, eol="crlf"),
    FuzzFile("03-mixed-eol.jsonl", "jsonl", bom=False, eol="mixed"),
    FuzzFile("04-plain.csv", "csv", bom=False, eol="lf"),
    FuzzFile("05-bom-crlf.csv", "csv", bom=True, eol="crlf"),
    FuzzFile("06-mixed-eol.csv", "csv", bom=False, eol="mixed", final_newline=False),
)
CSV_HEADERS = {
    "04-plain.csv": ("id", "title", "description", "vendor", "product_type", "tags", "shop", "language",
                     "category", "image"),
    "05-bom-crlf.csv": ("category", "id", "title", "tags", "image", "description", "shop", "language",
                        "vendor", "product_type", "notes"),
    "06-mixed-eol.csv": ("title", "id", "category", "description", "image", "tags", "vendor", "shop",
                         "product_type", "language"),
}
