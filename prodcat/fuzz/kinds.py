"""Every way a corpus record can be (in)valid, with what ingestion must do with it.

One table, so the generator, the manifest and the tests agree on which kinds exist, which file
formats each can occur in, how often, and which field a reject must name.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from prodcat import features as F

Outcome = Literal["good", "bad", "image"]
Format = Literal["jsonl", "csv"]


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
