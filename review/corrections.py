"""Reviewers' decisions as labelled products for the next run (`review.logs` in the config).

The run's product files are rewritten, once per content, into a directory of JSONL files under
the output: each product whose label conflicts with a reviewer's category gets the reviewer's
(a label at or below the reviewer's category agrees with it, and is kept: accepting a served
"Toys > Kites" says nothing against the data's "Toys > Kites > Stunt Kites"), and decided products
the data lacks are added (the log keeps their whole record). The directory's name hashes the data
and the logs, so TFX's cache never reuses Examples built from other decisions; a provenance file
beside the products names each log and the SHA-256 of its decisions, and ExampleGen records it on
the Examples artifact in ML Metadata.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from prodcat.config.data import REVIEW_PROVENANCE_FILE
from prodcat.records import Product, ReadOptions, RecordError, product_from_mapping
from prodcat.readers import SUPPORTED_SUFFIXES, TFRECORD_SUFFIXES, iter_products
from prodcat.review.log import Decision, read_log
from prodcat.taxonomy import Taxonomy

REVIEWED_FILE = "zz-reviewed.jsonl"  # decided products the data lacks (read last: the data's own records come first)


@dataclasses.dataclass(frozen=True)
class Corrected:
    """Where the corrected products are, and what the decisions changed."""

    data_root: str
    pattern: str
    overridden: int  # products whose label a decision replaced
    added: int  # decided products the data lacked
    provenance: dict


def log_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a review log's decisions (in the order they were made), not of the file's bytes:
    SQLite's page layout and write-ahead file change without the decisions changing."""
    digest = hashlib.sha256()
    for decision in read_log(path):
        digest.update(json.dumps(dataclasses.asdict(decision), sort_keys=True, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def reviewed_labels(logs: Sequence[str | os.PathLike], taxonomy: Taxonomy) -> dict[str, Decision]:
    """Product id -> the decision that labels it: the latest with a category (later logs win ties)."""
    chosen: dict[str, Decision] = {}
    for log in logs:
        for decision in read_log(log):
            if decision.category_id is None:
                continue
            if decision.category_id not in taxonomy:
                raise RecordError(str(log), None, "category_id", f"category {decision.category_id!r} of reviewed "
                                  f"product {decision.product_id!r} is not in the run's taxonomy")
            current = chosen.get(decision.product_id)
            if current is None or decision.decided_at >= current.decided_at:
                chosen[decision.product_id] = decision
    return chosen


def apply_reviews(data_root: str, files: Sequence[Path], logs: Sequence[str | os.PathLike], taxonomy: Taxonomy,
                  out_base: Path, options: ReadOptions) -> Corrected:
    """Writes the products of `files` with reviewed labels (and the reviewed products they lack, into
    `reviewed.jsonl`) under `out_base/<hash>/`, each file as JSONL with its stem; reuses an earlier copy.
    Records the data's readers reject are left out here; the run's preflight has judged them already."""
    log_hashes = [{"path": str(Path(log).resolve()), "sha256": log_digest(log)} for log in logs]
    key = hashlib.sha256(json.dumps([[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in files] + log_hashes,
                                    sort_keys=True).encode()).hexdigest()[:16]
    out = out_base / key
    provenance_path = out / REVIEW_PROVENANCE_FILE
    if provenance_path.is_file():
        provenance = json.loads(provenance_path.read_text(encoding="utf-8"))
        return Corrected(str(out), "*.jsonl", provenance["overridden"], provenance["added"], provenance)
    readers = None
    if any(f.suffix.lower() in TFRECORD_SUFFIXES for f in files):  # only then TensorFlow (seconds to import)
        from prodcat.contract.examples import TFRECORD_READERS as readers

    decisions = reviewed_labels(logs, taxonomy)
    tmp = out.with_name(out.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    overridden = 0
    for file in files:
        with (tmp / f"{file.stem}.jsonl").open("w", encoding="utf-8") as handle:
            for product in iter_products(file, [], options=options, extra_readers=readers):
                decision = decisions.get(product.id)
                before = taxonomy.resolve(product.category) if product.category else None
                if decision is not None and (before is None or not taxonomy.is_under(before.id, decision.category_id)):
                    overridden += 1
                    product.category = decision.category_id
                seen.add(product.id)
                handle.write(json.dumps(product.to_json_dict(), ensure_ascii=False) + "\n")
    missing = [d for pid, d in sorted(decisions.items()) if pid not in seen]
    with (tmp / REVIEWED_FILE).open("w", encoding="utf-8") as handle:
        for decision in missing:
            product = _product(decision, options)
            handle.write(json.dumps(product.to_json_dict(), ensure_ascii=False) + "\n")
    provenance = {"logs": log_hashes, "labels": len(decisions), "overridden": overridden, "added": len(missing),
                  "data": data_root}
    (tmp / REVIEW_PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2), encoding="utf-8")
    os.replace(tmp, out)
    return Corrected(str(out), "*.jsonl", overridden, len(missing), provenance)


def _product(decision: Decision, options: ReadOptions) -> Product:
    """The logged record of a decided product, labelled with the decision."""
    record = dict(decision.product) | {"category": decision.category_id}
    return product_from_mapping(record, f"review log ({decision.queue} queue)", None, options=options)


def data_files(data_root: str, patterns: Sequence[str]) -> list[Path]:
    root = Path(data_root)
    return sorted({p for pattern in patterns for p in root.glob(pattern) if p.suffix.lower() in SUPPORTED_SUFFIXES})
