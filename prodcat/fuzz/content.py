"""What each record says: the fields of a good record of a kind, and the defect of a bad one.

All record text comes from one seeded random stream, drawn in the order the corpus writer asks, so
the same seed gives the same records; the images are written once up front for records to refer to.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from prodcat import features as F
from prodcat.fuzz.config import FuzzConfig
from prodcat.fuzz.draft_record import BAD_BYTES_MARK, NUL_MARK, DraftRecord
from prodcat.fuzz.images import write_images
from prodcat.fuzz.kinds import KINDS, Format, Kind
from prodcat.fuzz.rendering import CSV_ONLY_RENDERERS
from prodcat.taxonomy import Taxonomy

_WORDS = ("kite", "stunt", "pot", "planter", "Drachen", "Blumentopf", "cometa", "maceta", "cerf-volant",
          "red", "blue", "large", "mini", "set", "bamboo", "ceramic", "garden", "outdoor", "2m", "XL")
_UNICODE_WORDS = ("風箏", "植木鉢", "طائرة ورقية", "воздушный змей", "Ölkännchen", "naïve", "🪁", "🌱", "Ω", "ß")
_INVALID_UTF8 = (b"\xff", b"\xc3\x28", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\xfe\xff")


class RecordContent:
    """Builds the records' content, and writes the images they refer to, from one seeded random stream
    per purpose."""

    def __init__(self, taxonomy: Taxonomy, config: FuzzConfig, data_dir: Path) -> None:
        self.taxonomy, self.config, self.data_dir = taxonomy, config, data_dir
        self.rng = random.Random(config.seed)
        self.categories = taxonomy.categories
        if not self.categories:
            raise ValueError("the taxonomy has no categories")
        self.images, self.ok_data_uri = write_images(data_dir, config)

    # -- good content
    def _words(self, n: int, unicode: bool = False) -> str:
        pool = _WORDS + _UNICODE_WORDS if unicode else _WORDS
        return " ".join(self.rng.choice(pool) for _ in range(n))

    def good_fields(self, index: int, kind: Kind) -> dict[str, Any]:
        """The fields of good record `index` of `kind` (bad records start from a plain good one)."""
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
    def bad_item(self, index: int, kind: Kind, fmt: Format) -> DraftRecord:
        """Bad record `index`: a plain record with the defect of `kind`, as it can occur in `fmt`."""
        rng = self.rng
        fields = self.good_fields(index, KINDS["plain"])
        fields.pop(F.IMAGE, None)
        record_id = f"b{index:05d}"
        fields[F.ID] = record_id
        item = DraftRecord(kind, fields, record_id if kind.has_id else None, kind.field)
        name = kind.name
        if name == "invalid_utf8":
            fields[F.TITLE] = f"Kite {BAD_BYTES_MARK} red"
            item.bad_bytes = rng.choice(_INVALID_UTF8)
        elif name == "invalid_utf8_syntax":
            item.raw = b'{"id": "%s", \xff\xfe "title": "kite"}' % record_id.encode()
        elif name == "lone_surrogate":
            fields[F.TITLE] = "Kite \ud800 red"
            item.ascii_json = True
        elif name == "nul":
            fields[F.DESCRIPTION] = "before\x00after" if fmt == "jsonl" else f"before{NUL_MARK}after"
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
        elif name != "duplicate_id" and name not in CSV_ONLY_RENDERERS:
            raise ValueError(f"no generator for kind {name!r}")
        return item

    def _unknown_id(self) -> str:
        while True:
            candidate = str(self.rng.randint(10**8, 10**9))
            if candidate not in self.taxonomy:
                return candidate
