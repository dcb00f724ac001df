"""A deterministic fuzz corpus: good product records with known bad ones mixed in, and a manifest.

Reliability tests need input broken in every way real feeds are broken, and must know exactly
which records are broken, where, and how, to check that ingestion keeps every good record and
reports every bad one with its file, line and field. `write_fuzz_corpus` writes such a corpus
(JSONL and CSV files, image files) and a manifest with one entry per record; the same seed and
config give byte-identical files.

What counts as bad follows `prodcat.records` and ExampleGen (see `KINDS`):

* **good** (must be kept): UTF-8 BOMs (at the file start, and mid-file in JSONL where two files
  were concatenated), CRLF / LF / lone-CR line endings mixed within a file, a missing final line
  break, blank and whitespace-only lines, multilingual text and emoji, surrounding whitespace,
  integer ids and categories (JSONL), category paths, unknown extra fields and columns, CSV cells
  with commas, doubled quotes, a bare quote inside an unquoted cell and line breaks inside quotes,
  a title exactly `max_field_chars` long, valid images (file, data URI) and image URLs;
* **bad** (must be rejected, naming the field where there is one): invalid UTF-8, lone
  surrogates, NUL characters, missing/empty ids and titles, 1 MB titles and other values over
  `max_field_chars`, values of the wrong type, unknown category ids and paths, missing
  categories, repeated ids (the first occurrence is the good one), JSON syntax errors, non-object
  lines, absurd nesting and numbers, CSV rows with broken quoting or the wrong number of cells;
* **image** (the text is good, the image is not: rejected under `ingest.on_bad_image: reject`,
  kept without the image under `drop_image`): corrupt, truncated, too many bytes (more than
  `max_image_bytes`), too many pixels, missing files, invalid data URIs.

`python -m prodcat.fuzz --out DIR --taxonomy FILE` writes a corpus from the command line.
"""

from __future__ import annotations

import argparse
import base64
import csv
import dataclasses
import io
import json
import os
import random
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from prodcat import features as F
from prodcat.records import MAX_FIELD_CHARS
from prodcat.taxonomy import Taxonomy

Outcome = Literal["good", "bad", "image"]
ImagePolicy = Literal["drop_image", "reject"]
Format = Literal["jsonl", "csv"]

DATA_DIR = "data"
MANIFEST = "manifest.json"


@dataclasses.dataclass(frozen=True)
class FuzzConfig:
    """What to generate; pass the same limits to `IngestConfig` when ingesting the corpus."""

    n_good: int = 10_000
    n_bad: int = 1_000  # every kind below, "image" kinds included
    seed: int = 0
    max_field_chars: int = MAX_FIELD_CHARS  # over-long values exceed it, one good title meets it
    max_image_bytes: int = 64 * 1024  # "huge" image files exceed it (small, so the corpus stays small)
    huge_title_chars: int = 1_000_000
    n_huge_titles: int = 3  # of the bad records; each is `huge_title_chars` long
    image_every: int = 40  # one good product in this many has a valid image


@dataclasses.dataclass(frozen=True)
class Kind:
    """One way a record can be (in)valid: where it can occur and what ingestion must report."""

    name: str
    outcome: Outcome
    field: str | None  # the field a reject must name; None: the record's syntax is broken
    formats: tuple[Format, ...]
    weight: int  # share of the bad records (good kinds: share of the good records, in percent)
    what: str
    has_id: bool = True  # whether the reject can name the record's id


_BOTH: tuple[Format, ...] = ("jsonl", "csv")
KINDS: dict[str, Kind] = {k.name: k for k in (
    # -- good records (weights: percent of good records; "plain" takes the rest)
    Kind("plain", "good", None, _BOTH, 0, "an ordinary record"),
    Kind("unicode", "good", None, _BOTH, 10, "multilingual text, emoji, right-to-left script"),
    Kind("padded", "good", None, _BOTH, 3, "values with surrounding whitespace"),
    Kind("int_id", "good", None, ("jsonl",), 2, "id and category as JSON integers"),
    Kind("category_path", "good", None, _BOTH, 20, "category as a full path instead of an id"),
    Kind("extra_fields", "good", None, ("jsonl",), 3, "fields prodcat does not know"),
    Kind("csv_quoting", "good", None, ("csv",), 10, "cells with commas, doubled quotes, a bare quote"),
    Kind("multiline_cell", "good", None, ("csv",), 2, "a quoted description spanning lines"),
    Kind("image_url", "good", None, _BOTH, 2, "an image URL (referenced, not fetched)"),
    Kind("data_uri_image", "good", None, ("jsonl",), 0, "a valid image as a data URI"),
    Kind("title_at_limit", "good", None, ("jsonl",), 0, "a title exactly max_field_chars long"),
    Kind("mid_file_bom", "good", None, ("jsonl",), 0, "a BOM where two files were concatenated"),
    # -- bad records
    Kind("invalid_utf8", "bad", F.TITLE, _BOTH, 8, "bytes that are not UTF-8 in the title"),
    Kind("invalid_utf8_syntax", "bad", None, ("jsonl",), 2, "bytes that are not UTF-8 between JSON tokens",
         has_id=False),
    Kind("lone_surrogate", "bad", F.TITLE, ("jsonl",), 2, "a \\ud800 escape (not encodable text)"),
    Kind("nul", "bad", F.DESCRIPTION, _BOTH, 3, "a NUL character in the description"),
    Kind("missing_id", "bad", F.ID, _BOTH, 4, "no id", has_id=False),
    Kind("missing_title", "bad", F.TITLE, _BOTH, 5, "no title"),
    Kind("blank_title", "bad", F.TITLE, _BOTH, 4, "a title of whitespace only"),
    Kind("huge_title", "bad", F.TITLE, _BOTH, 0, "a 1 MB title"),
    Kind("long_field", "bad", F.DESCRIPTION, _BOTH, 4, "a value just over max_field_chars"),
    Kind("wrong_type", "bad", F.TITLE, ("jsonl",), 6, "a number, boolean, list or object where text belongs"),
    Kind("unknown_category_id", "bad", F.CATEGORY, _BOTH, 6, "a category id not in the taxonomy"),
    Kind("unknown_category_path", "bad", F.CATEGORY, _BOTH, 6, "a category path not in the taxonomy"),
    Kind("missing_category", "bad", F.CATEGORY, _BOTH, 4, "no category (training data needs one)"),
    Kind("duplicate_id", "bad", F.ID, _BOTH, 6, "the id of an earlier good record"),
    Kind("broken_json", "bad", None, ("jsonl",), 6, "truncated lines, trailing commas, single quotes, HTML",
         has_id=False),
    Kind("not_an_object", "bad", None, ("jsonl",), 2, "a JSON array, string, number or null", has_id=False),
    Kind("deep_nesting", "bad", None, ("jsonl",), 1, "arrays nested 50,000 deep", has_id=False),
    Kind("huge_number", "bad", None, ("jsonl",), 1, "an integer with 5,000 digits", has_id=False),
    Kind("unclosed_quote", "bad", F.TITLE, ("csv",), 4, "a quoted title that is never closed", has_id=False),
    Kind("stray_quote", "bad", F.TITLE, ("csv",), 3, "text after a closing quote", has_id=False),
    Kind("extra_cells", "bad", None, ("csv",), 2, "one cell more than the header"),
    Kind("missing_cells", "bad", None, ("csv",), 2, "cells fewer than the header"),
    # -- good text, unusable image
    Kind("corrupt_image", "image", F.IMAGE, _BOTH, 3, "an image file of random bytes"),
    Kind("truncated_image", "image", F.IMAGE, _BOTH, 3, "a JPEG cut in half"),
    Kind("huge_image", "image", F.IMAGE, _BOTH, 2, "an image file larger than max_image_bytes"),
    Kind("pixel_bomb", "image", F.IMAGE, _BOTH, 2, "a PNG declaring 30,000 x 30,000 pixels"),
    Kind("missing_image", "image", F.IMAGE, _BOTH, 2, "a path to an image file that does not exist"),
    Kind("bad_data_uri", "image", F.IMAGE, _BOTH, 2, "a data URI that is not base64"),
)}


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
_CSV_HEADERS = {
    "04-plain.csv": ("id", "title", "description", "vendor", "product_type", "tags", "shop", "language",
                     "category", "image"),
    "05-bom-crlf.csv": ("category", "id", "title", "tags", "image", "description", "shop", "language",
                        "vendor", "product_type", "notes"),
    "06-mixed-eol.csv": ("title", "id", "category", "description", "image", "tags", "vendor", "shop",
                         "product_type", "language"),
}


@dataclasses.dataclass(frozen=True)
class FuzzRecord:
    """One record of the corpus: where it starts, its id (None if unreadable), what it tests."""

    file: str
    line: int
    id: str | None
    kind: str
    field: str | None
    outcome: Outcome


@dataclasses.dataclass(frozen=True)
class FuzzManifest:
    """Which record is where and what ingestion must do with it."""

    config: FuzzConfig
    files: tuple[str, ...]
    records: tuple[FuzzRecord, ...]

    def kept_ids(self, on_bad_image: ImagePolicy) -> set[str]:
        """Ids that must reach the Examples."""
        keep = {"good", "image"} if on_bad_image == "drop_image" else {"good"}
        return {r.id for r in self.records if r.outcome in keep and r.id is not None}

    def rejected(self, on_bad_image: ImagePolicy) -> list[FuzzRecord]:
        """Records that must be in the rejects file, in file and line order."""
        bad = {"bad", "image"} if on_bad_image == "reject" else {"bad"}
        return sorted((r for r in self.records if r.outcome in bad), key=lambda r: (r.file, r.line))

    def dropped_images(self, on_bad_image: ImagePolicy) -> list[FuzzRecord]:
        """Records that must be kept without their image."""
        if on_bad_image == "reject":
            return []
        return sorted((r for r in self.records if r.outcome == "image"), key=lambda r: (r.file, r.line))

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        payload = {"config": dataclasses.asdict(self.config), "files": list(self.files),
                   "records": [dataclasses.asdict(r) for r in self.records]}
        path.write_text(json.dumps(payload, ensure_ascii=False, indent=0), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> FuzzManifest:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(FuzzConfig(**payload["config"]), tuple(payload["files"]),
                   tuple(FuzzRecord(**r) for r in payload["records"]))


# ----------------------------------------------------------------------------- content
_WORDS = ("kite", "stunt", "pot", "planter", "Drachen", "Blumentopf", "cometa", "maceta", "cerf-volant",
          "red", "blue", "large", "mini", "set", "bamboo", "ceramic", "garden", "outdoor", "2m", "XL")
_UNICODE_WORDS = ("風箏", "植木鉢", "طائرة ورقية", "воздушный змей", "Ölkännchen", "naïve", "🪁", "🌱", "Ω", "ß")
_INVALID_UTF8 = (b"\xff", b"\xc3\x28", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\xfe\xff")
_BAD_BYTES_MARK = "QQINVALIDUTF8QQ"
_NUL_MARK = "QQNULQQ"


@dataclasses.dataclass
class _Item:
    kind: Kind
    fields: dict[str, Any]
    id: str | None
    field: str | None
    raw: bytes | None = None  # the exact line, for records that are not valid JSON/CSV
    bad_bytes: bytes = b""  # replaces _BAD_BYTES_MARK in the rendered record
    ascii_json: bool = False
    line: int = 0


class _Corpus:
    """Builds records, images and files from one seeded random stream per purpose."""

    def __init__(self, taxonomy: Taxonomy, config: FuzzConfig, data_dir: Path) -> None:
        self.taxonomy, self.config, self.data_dir = taxonomy, config, data_dir
        self.rng = random.Random(config.seed)
        self.categories = taxonomy.categories
        if not self.categories:
            raise ValueError("the taxonomy has no categories")
        self.images = self._write_images()

    # -- images
    def _write_images(self) -> dict[str, list[str]]:
        from PIL import Image

        image_dir = self.data_dir / "images"
        image_dir.mkdir(parents=True, exist_ok=True)
        rng = random.Random(self.config.seed + 1)
        out: dict[str, list[str]] = {k: [] for k in ("ok", "corrupt", "truncated", "huge", "bomb")}

        def save(name: str, data: bytes, group: str) -> None:
            (image_dir / name).write_bytes(data)
            out[group].append(f"images/{name}")

        for k, (fmt, size) in enumerate((("PNG", (12, 8)), ("JPEG", (16, 16)), ("PNG", (300, 40)))):
            buffer = io.BytesIO()
            Image.new("RGB", size, (40 * k, 200 - 50 * k, 90)).save(buffer, format=fmt)
            save(f"ok-{k}.{fmt.lower()}", buffer.getvalue(), "ok")
        noise = Image.frombytes("RGB", (64, 64), bytes(rng.getrandbits(8) for _ in range(64 * 64 * 3)))
        buffer = io.BytesIO()
        noise.save(buffer, format="JPEG", quality=95)
        jpeg = buffer.getvalue()
        for k in range(3):
            save(f"corrupt-{k}.jpg", bytes(rng.getrandbits(8) for _ in range(500 + 100 * k)), "corrupt")
            save(f"truncated-{k}.jpg", jpeg[: len(jpeg) // (2 + k)], "truncated")
            save(f"huge-{k}.jpg", jpeg + b"\0" * (self.config.max_image_bytes + 1 - len(jpeg) + 997 * k), "huge")
            save(f"bomb-{k}.png", _png_header(30_000 + k, 30_000), "bomb")
        self.ok_data_uri = "data:image/png;base64," + base64.b64encode((image_dir / "ok-0.png").read_bytes()).decode()
        return out

    # -- good content
    def _words(self, n: int, unicode: bool = False) -> str:
        pool = _WORDS + _UNICODE_WORDS if unicode else _WORDS
        return " ".join(self.rng.choice(pool) for _ in range(n))

    def good_fields(self, index: int, kind: Kind) -> dict[str, Any]:
        category = self.rng.choice(self.categories)
        unicode = kind.name == "unicode"
        fields: dict[str, Any] = {
            F.ID: f"g{index:05d}",
            F.TITLE: self._words(self.rng.randint(2, 7), unicode).capitalize(),
            F.DESCRIPTION: self._words(self.rng.randint(0, 20), unicode),
            F.VENDOR: self.rng.choice(("Skyco", "Gartenwelt", "Acme", "")),
            F.PRODUCT_TYPE: self.rng.choice(("Kite", "Pot", "Toy", "")),
            F.TAGS: [self._words(1, unicode) for _ in range(self.rng.randint(0, 3))],
            F.SHOP: f"shop{self.rng.randint(0, 20)}",
            F.LANGUAGE: self.rng.choice(("en", "de", "es", "")),
            F.CATEGORY: category.path_str if kind.name == "category_path" else category.id,
        }
        if index % self.config.image_every == 0:
            fields[F.IMAGE] = self.rng.choice(self.images["ok"])
        if kind.name == "padded":
            fields[F.TITLE] = "  " + fields[F.TITLE] + " \t"
            fields[F.ID] = " " + fields[F.ID] + "  "
        elif kind.name == "int_id":
            fields[F.ID] = 7_000_000 + index
            if category.id.isdigit():
                fields[F.CATEGORY] = int(category.id)
        elif kind.name == "extra_fields":
            fields.update({"price": 12.5, "variants": [{"sku": "a"}], "notes": None})
        elif kind.name == "csv_quoting":
            fields[F.TITLE] = self.rng.choice(('Kite, red, 2m', 'The "Eagle" stunt kite', 'Kite 5" tall', 'Pot; 12 cm'))
            fields[F.DESCRIPTION] = 'Says "hello", then, "bye"'
        elif kind.name == "multiline_cell":
            fields[F.DESCRIPTION] = "First line of text\nsecond line, with a comma\nthird line"
        elif kind.name == "image_url":
            fields[F.IMAGE] = f"https://cdn.example.com/img/{index}.jpg"
        elif kind.name == "data_uri_image":
            fields[F.IMAGE] = self.ok_data_uri
        elif kind.name == "title_at_limit":
            fields[F.TITLE] = ("kite " * (self.config.max_field_chars // 5 + 1))[: self.config.max_field_chars - 1] + "k"
        return fields

    # -- bad content
    def bad_item(self, index: int, kind: Kind, fmt: Format) -> _Item:
        rng = self.rng
        fields = self.good_fields(index, KINDS["plain"])
        fields.pop(F.IMAGE, None)
        record_id = f"b{index:05d}"
        fields[F.ID] = record_id
        item = _Item(kind, fields, record_id if kind.has_id else None, kind.field)
        name = kind.name
        if name == "invalid_utf8":
            fields[F.TITLE] = f"Kite {_BAD_BYTES_MARK} red"
            item.bad_bytes = rng.choice(_INVALID_UTF8)
        elif name == "invalid_utf8_syntax":
            item.raw = b'{"id": "%s", \xff\xfe "title": "kite"}' % record_id.encode()
        elif name == "lone_surrogate":
            fields[F.TITLE] = "Kite \ud800 red"
            item.ascii_json = True
        elif name == "nul":
            fields[F.DESCRIPTION] = "before\x00after" if fmt == "jsonl" else f"before{_NUL_MARK}after"
        elif name in ("missing_id", "missing_title"):
            fields.pop(kind.field)  # an absent key in JSONL, an empty cell in CSV
        elif name == "blank_title":
            fields[F.TITLE] = rng.choice(("", "   ", "\t "))
        elif name == "huge_title":
            fields[F.TITLE] = ("Kite " * (self.config.huge_title_chars // 5 + 1))[: self.config.huge_title_chars]
        elif name == "long_field":
            item.field = rng.choice((F.DESCRIPTION, F.VENDOR, F.TAGS))
            value = "x" * (self.config.max_field_chars + rng.randint(1, 50))
            fields[item.field] = [value] if item.field == F.TAGS else value
        elif name == "wrong_type":
            item.field = rng.choice((F.TITLE, F.DESCRIPTION, F.TAGS, F.CATEGORY, F.IMAGE, F.ID))
            choices: dict[str, tuple[Any, ...]] = {
                F.TITLE: (3.5, True, {"en": "kite"}, ["kite"]),
                F.DESCRIPTION: (False, {"html": "<p>"}, [1, 2]),
                F.TAGS: ([1, 2], {"a": 1}, 7, [["nested"]]),
                F.CATEGORY: (2.5, True, ["2"], {"id": "2"}),
                F.IMAGE: (5, ["images/ok-0.png"], {"src": "x"}, True),
                F.ID: (1.5, False, ["b"], {"id": 1}),
            }
            fields[item.field] = rng.choice(choices[item.field])
            if item.field == F.ID:
                item.id = None
        elif name == "unknown_category_id":
            fields[F.CATEGORY] = self._unknown_id()
        elif name == "unknown_category_path":
            fields[F.CATEGORY] = rng.choice(("Toys > Drones", "Nonexistent", "Garden > Pots & Planters > Giant"))
            if self.taxonomy.resolve(fields[F.CATEGORY]) is not None:
                fields[F.CATEGORY] = f"No Such Category {index} > Sub"
        elif name == "missing_category":
            fields.pop(F.CATEGORY)
        elif name == "broken_json":
            good = json.dumps(fields, ensure_ascii=False)
            item.raw = rng.choice((
                good[: rng.randint(1, len(good) - 1)],
                good[:-1] + ', }',
                good.replace('"', "'"),
                '<html><body>502 Bad Gateway</body></html>',
                '{"id": "' + record_id + '", "title": "unterminated',
            )).encode("utf-8")
        elif name == "not_an_object":
            item.raw = rng.choice((f'["{record_id}", "kite"]', '"just a string"', "42", "null", "true")).encode()
        elif name == "deep_nesting":
            item.raw = ('{"id": "%s", "title": "kite", "tags": ' % record_id + "[" * 50_000 + "]" * 50_000 + "}").encode()
        elif name == "huge_number":
            item.raw = ('{"id": %s, "title": "kite"}' % ("9" * 5_000)).encode()
        elif name in ("corrupt_image", "truncated_image", "huge_image", "pixel_bomb"):
            group = {"corrupt_image": "corrupt", "truncated_image": "truncated", "huge_image": "huge",
                     "pixel_bomb": "bomb"}[name]
            fields[F.IMAGE] = rng.choice(self.images[group])
        elif name == "missing_image":
            fields[F.IMAGE] = f"images/missing-{index}.png"
        elif name == "bad_data_uri":
            fields[F.IMAGE] = "data:image/png;base64,!!not*base64!!"
        elif name != "duplicate_id" and name not in _CSV_ONLY_RENDERERS:
            raise ValueError(f"no generator for kind {name!r}")
        return item

    def _unknown_id(self) -> str:
        while True:
            candidate = str(self.rng.randint(10**8, 10**9))
            if candidate not in self.taxonomy:
                return candidate


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares `width` x `height` pixels and has no pixel data (a decompression bomb probe)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


# ----------------------------------------------------------------------------- rendering
def _render_json(item: _Item) -> list[bytes]:
    if item.raw is not None:
        return [item.raw]
    text = json.dumps(item.fields, ensure_ascii=item.ascii_json)
    return [text.encode("utf-8").replace(_BAD_BYTES_MARK.encode(), item.bad_bytes)]


def _csv_cell(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _render_csv(item: _Item, header: tuple[str, ...]) -> list[bytes]:
    cells = [_csv_cell(item.fields.get(column)) for column in header]
    if item.kind.name in _CSV_ONLY_RENDERERS:
        text = _CSV_ONLY_RENDERERS[item.kind.name](cells, header)
    else:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(cells)
        text = buffer.getvalue()[:-1]
        if item.kind.name == "csv_quoting" and 'Kite 5" tall' in cells:
            # a bare quote inside an unquoted cell is literal text (csv.writer would quote it)
            text = text.replace('"Kite 5"" tall"', 'Kite 5" tall')
    data = text.encode("utf-8").replace(_BAD_BYTES_MARK.encode(), item.bad_bytes).replace(_NUL_MARK.encode(), b"\0")
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


_CSV_ONLY_RENDERERS: dict[str, Callable[[list[str], tuple[str, ...]], str]] = {
    "unclosed_quote": _unclosed_quote,
    "stray_quote": _stray_quote,
    "extra_cells": _extra_cells,
    "missing_cells": _missing_cells,
}


def _terminators(lines: list[bytes], eol: str, rng: random.Random, final_newline: bool) -> list[bytes]:
    """A line ending per line; a lone CR never precedes an empty line (CR + LF would be one CRLF)."""
    if eol == "lf":
        ends = [b"\n"] * len(lines)
    elif eol == "crlf":
        ends = [b"\r\n"] * len(lines)
    else:
        ends = [rng.choice((b"\n", b"\r\n", b"\r")) for _ in lines]
        for i in range(len(lines) - 1):
            if ends[i] == b"\r" and not lines[i + 1]:
                ends[i] = b"\n"
    if not final_newline and ends:
        ends[-1] = b""
    return ends


# ----------------------------------------------------------------------------- the corpus
def _quotas(total: int, kinds: list[Kind]) -> dict[str, int]:
    """`total` split over `kinds` by weight (largest remainder), at least one each when possible."""
    weights = sum(k.weight for k in kinds)
    raw = {k.name: total * k.weight / weights for k in kinds}
    counts = {name: int(value) for name, value in raw.items()}
    for name in sorted(raw, key=lambda n: raw[n] - counts[n], reverse=True)[: total - sum(counts.values())]:
        counts[name] += 1
    for name in counts:  # every kind present when there is room
        if counts[name] == 0 and total >= len(kinds):
            donor = max(counts, key=counts.get)
            counts[donor] -= 1
            counts[name] += 1
    return counts


def _kinds_for(config: FuzzConfig) -> tuple[list[Kind], list[Kind]]:
    """(kind per good record, kind per bad record), before shuffling."""
    good_kinds = [k for k in KINDS.values() if k.outcome == "good" and k.weight]
    good: list[Kind] = []
    for kind in good_kinds:
        good += [kind] * (config.n_good * kind.weight // 100)
    fixed = [KINDS["title_at_limit"], KINDS["data_uri_image"], KINDS["data_uri_image"], KINDS["mid_file_bom"]]
    good += fixed[: max(0, config.n_good - len(good))]
    good += [KINDS["plain"]] * (config.n_good - len(good))
    good = good[: config.n_good]
    n_huge = min(config.n_huge_titles, config.n_bad)
    bad = [KINDS["huge_title"]] * n_huge
    weighted = [k for k in KINDS.values() if k.outcome != "good" and k.weight]
    for name, count in _quotas(config.n_bad - n_huge, weighted).items():
        bad += [KINDS[name]] * count
    return good, bad


def write_fuzz_corpus(out_dir: str | os.PathLike, taxonomy: Taxonomy, config: FuzzConfig = FuzzConfig()) -> FuzzManifest:
    """Writes `out_dir/data/` (product files and images) and `out_dir/manifest.json`.

    Ingest `out_dir/data` (every product file in it) with `IngestConfig(max_field_chars=...,
    max_image_bytes=...)` equal to the config's, and compare with the manifest.
    """
    out_dir = Path(out_dir)
    data_dir = out_dir / DATA_DIR
    data_dir.mkdir(parents=True, exist_ok=True)
    corpus = _Corpus(taxonomy, config, data_dir)
    rng = random.Random(config.seed + 2)
    good_kinds, bad_kinds = _kinds_for(config)

    by_file: dict[str, list[tuple[bool, int, Kind]]] = {f.name: [] for f in FILES}
    for is_good, kinds in ((True, good_kinds), (False, bad_kinds)):
        for index, kind in enumerate(kinds):
            candidates = [f.name for f in FILES if f.format in kind.formats]
            if kind.name == "mid_file_bom":
                candidates = ["03-mixed-eol.jsonl"]
            by_file[rng.choice(candidates)].append((is_good, index, kind))

    records: list[FuzzRecord] = []
    seen_good: list[str] = []
    for spec in FILES:
        slots = by_file[spec.name]
        rng.shuffle(slots)
        good_first = next((i for i, s in enumerate(slots) if s[0] and s[2].name == "plain"), None)
        if good_first is not None:  # a duplicate always has an earlier good record to repeat
            slots.insert(0, slots.pop(good_first))
        header = _CSV_HEADERS.get(spec.name, ())
        lines: list[bytes] = [",".join(header).encode()] if spec.format == "csv" else []
        items: list[_Item] = []
        for is_good, index, kind in slots:
            if rng.random() < 0.01:
                lines.append(rng.choice((b"", b"   ", b"\t")))
            if is_good:
                fields = corpus.good_fields(index, kind)
                item = _Item(kind, fields, str(fields[F.ID]).strip(), None)
            else:
                item = corpus.bad_item(index, kind, spec.format)
                if kind.name == "duplicate_id":
                    if not seen_good:
                        raise ValueError("a duplicate needs an earlier good record; use more good records")
                    item.fields[F.ID] = item.id = rng.choice(seen_good)
            rendered = _render_json(item) if spec.format == "jsonl" else _render_csv(item, header)
            if kind.name == "mid_file_bom":
                rendered[0] = b"\xef\xbb\xbf" + rendered[0]
            item.line = len(lines) + 1
            lines += rendered
            items.append(item)
            if is_good:
                seen_good.append(item.id)  # type: ignore[arg-type]
        ends = _terminators(lines, spec.eol, rng, spec.final_newline)
        body = b"".join(line + end for line, end in zip(lines, ends))
        (data_dir / spec.name).write_bytes((b"\xef\xbb\xbf" if spec.bom else b"") + body)
        records += [FuzzRecord(spec.name, it.line, it.id, it.kind.name, it.field, it.kind.outcome) for it in items]
    manifest = FuzzManifest(config, tuple(f.name for f in FILES), tuple(records))
    manifest.save(out_dir / MANIFEST)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prodcat.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="directory for data/ and manifest.json")
    parser.add_argument("--taxonomy", default=None, help="taxonomy file or URL (default: as `prodcat run`)")
    parser.add_argument("--good", type=int, default=FuzzConfig.n_good)
    parser.add_argument("--bad", type=int, default=FuzzConfig.n_bad)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from prodcat.taxonomy import load_taxonomy

    manifest = write_fuzz_corpus(args.out, load_taxonomy(args.taxonomy),
                                 FuzzConfig(n_good=args.good, n_bad=args.bad, seed=args.seed))
    bad = len(manifest.rejected("reject"))
    print(f"{len(manifest.records) - bad} good and {bad} bad records in {Path(args.out) / DATA_DIR}; "
          f"manifest: {Path(args.out) / MANIFEST}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
