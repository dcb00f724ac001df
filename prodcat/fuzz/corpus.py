"""`write_fuzz_corpus`: the records spread over the product files, the files written, the manifest saved.

Where each record goes, the order within a file, the stray blank lines and the line endings all come
from one seeded stream, so the same seed and config give byte-identical files.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from prodcat import features as F
from prodcat.fuzz.config import FuzzConfig
from prodcat.fuzz.content import RecordContent
from prodcat.fuzz.draft_record import DraftRecord
from prodcat.fuzz.files import CSV_HEADERS, DATA_DIR, FILES
from prodcat.fuzz.kind_mix import kinds_for
from prodcat.fuzz.kinds import Kind
from prodcat.fuzz.manifest import MANIFEST, FuzzManifest, FuzzRecord
from prodcat.fuzz.rendering import render_csv, render_json
from prodcat.taxonomy import Taxonomy


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


def write_fuzz_corpus(out_dir: str | os.PathLike, taxonomy: Taxonomy, config: FuzzConfig = FuzzConfig()) -> FuzzManifest:
    """Writes `out_dir/data/` (product files and images) and `out_dir/manifest.json`.

    Ingest `out_dir/data` (every product file in it) with `IngestConfig(max_field_chars=...,
    max_image_bytes=...)` equal to the config's, and compare with the manifest.
    """
    out_dir = Path(out_dir)
    data_dir = out_dir / DATA_DIR
    data_dir.mkdir(parents=True, exist_ok=True)
    corpus = RecordContent(taxonomy, config, data_dir)
    rng = random.Random(config.seed + 2)
    good_kinds, bad_kinds = kinds_for(config)

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
        header = CSV_HEADERS.get(spec.name, ())
        lines: list[bytes] = [",".join(header).encode()] if spec.format == "csv" else []
        items: list[DraftRecord] = []
        for is_good, index, kind in slots:
            if rng.random() < 0.01:
                lines.append(rng.choice((b"", b"   ", b"\t")))
            if is_good:
                fields = corpus.good_fields(index, kind)
                item = DraftRecord(kind, fields, str(fields[F.ID]).strip(), None)
            else:
                item = corpus.bad_item(index, kind, spec.format)
                if kind.name == "duplicate_id":
                    if not seen_good:
                        raise ValueError("a duplicate needs an earlier good record; use more good records")
                    item.fields[F.ID] = item.id = rng.choice(seen_good)
            rendered = render_json(item) if spec.format == "jsonl" else render_csv(item, header)
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
