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

The modules, in the order `write_fuzz_corpus` uses them: `config` (`FuzzConfig`), `kinds` (`KINDS`,
every way a record can be (in)valid), `files` (the product files: format, BOM, line endings, CSV
headers), `kind_mix` (how many records of each kind), `images` (the image files), `content` (each
record's fields and defect), `draft_record` (a record before it becomes bytes), `rendering` (JSONL
lines and CSV rows), `manifest` (`FuzzManifest`, what ingestion must do with each record),
`corpus` (`write_fuzz_corpus`) and `cli` (`main`).
"""

from __future__ import annotations

from prodcat.fuzz.cli import main
from prodcat.fuzz.config import FuzzConfig
from prodcat.fuzz.corpus import write_fuzz_corpus
from prodcat.fuzz.files import DATA_DIR, FILES, FuzzFile
from prodcat.fuzz.kinds import KINDS, Format, Kind, Outcome
from prodcat.fuzz.manifest import MANIFEST, FuzzManifest, FuzzRecord, ImagePolicy

# The public API: every public name of the module prodcat.fuzz was before it became a package.
__all__ = [
    "DATA_DIR",
    "FILES",
    "KINDS",
    "MANIFEST",
    "Format",
    "FuzzConfig",
    "FuzzFile",
    "FuzzManifest",
    "FuzzRecord",
    "ImagePolicy",
    "Kind",
    "Outcome",
    "main",
    "write_fuzz_corpus",
]
