"""What every dataset importer shares: the result type, its report, and record bookkeeping.

An importer turns one public dataset into canonical `Product` records whose `category` is the
label as the dataset spells it. Nothing is dropped silently: a row that cannot form a record is a
reject (`RecordError` with file, line and field); a record without a usable label is *unmapped*
and kept, with its original label and the reason, in `unmapped.jsonl`.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import io
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from prodcat import features as F
from prodcat.records import Product, RecordError, product_from_mapping
from prodcat.readers import write_jsonl
from prodcat.taxonomy import PATH_SEPARATOR, Taxonomy

PRODUCTS_FILE = "products.jsonl"
TAXONOMY_FILE = "taxonomy.txt"
UNMAPPED_FILE = "unmapped.jsonl"
SPLITS_FILE = "splits.json"
REPORT_FILE = "import_report.json"
MAX_EXAMPLES = 10


@dataclasses.dataclass
class ImportResult:
    """One imported dataset.

    `taxonomy` is the tree the labels live in when the dataset defines its own (written as
    `taxonomy.txt`); it is None when labels are ids of an external tree (Google, for shopify),
    which is then passed as `label_taxonomy` for the report's depth figures only.
    `splits` maps a split name to the ids of its products, for datasets that come split.
    """

    dataset: str
    products: list[Product]
    taxonomy: Taxonomy | None
    unmapped: list[tuple[Product, str, str]]
    rejects: list[RecordError]
    splits: dict[str, list[str]] | None = None
    source: str = ""
    label_taxonomy: Taxonomy | None = dataclasses.field(default=None, repr=False)
    elapsed_seconds: float | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)  # importer-specific report figures

    def report(self) -> dict[str, Any]:
        """Counts, coverage, per-split counts and the most frequent unmapped labels."""
        n_products, n_unmapped = len(self.products), len(self.unmapped)
        labelled = n_products + n_unmapped
        tree = self.taxonomy or self.label_taxonomy
        depths: collections.Counter[int] = collections.Counter()
        if tree is not None:
            for product in self.products:
                node = tree.resolve(product.category or "")
                depths[node.level if node else 0] += 1
        examples = collections.Counter((label, reason) for _, label, reason in self.unmapped)
        report: dict[str, Any] = {
            "dataset": self.dataset,
            "source": self.source,
            "products": n_products,
            "unmapped": n_unmapped,
            "rejects": len(self.rejects),
            "categories_used": len({p.category for p in self.products}),
            "label_coverage": round(n_products / labelled, 4) if labelled else 0.0,
            "shops": len({p.shop for p in self.products}),
            "label_depth_histogram": {str(d): n for d, n in sorted(depths.items())},
            "unmapped_reasons": dict(collections.Counter(r for _, _, r in self.unmapped).most_common()),
            "unmapped_examples": [
                {"label": label, "reason": reason, "count": count}
                for (label, reason), count in examples.most_common(MAX_EXAMPLES)
            ],
            "reject_examples": [err.to_dict() for err in self.rejects[:MAX_EXAMPLES]],
        }
        if self.taxonomy is not None:
            report["taxonomy"] = {
                "categories": len(self.taxonomy),
                "depth": self.taxonomy.depth,
                "level_sizes": self.taxonomy.level_sizes(),
                "leaves": sum(1 for c in self.taxonomy.categories if self.taxonomy.is_leaf(c.id)),
            }
        if self.splits is not None:
            by_id = {p.id: p for p in self.products}
            report["splits"] = {
                name: {"products": len(ids), "categories_used": len({by_id[i].category for i in ids})}
                for name, ids in self.splits.items()
            }
        report.update(self.extra)
        if self.elapsed_seconds is not None:
            report["import_seconds"] = round(self.elapsed_seconds, 3)
        return report

    def write(self, out_dir: str | os.PathLike) -> dict[str, Any]:
        """Writes products, taxonomy, unmapped records, splits and the report; returns the report.

        Files that do not apply to this result (a taxonomy or splits from an earlier import into
        the same directory) are removed so the directory always describes one import.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_jsonl(self.products, out / PRODUCTS_FILE)
        _write_lines(
            out / UNMAPPED_FILE,
            (json.dumps({**p.to_json_dict(), "label": label, "reason": reason}, ensure_ascii=False)
             for p, label, reason in self.unmapped),
        )
        if self.taxonomy is not None:
            self.taxonomy.save(out / TAXONOMY_FILE)
        else:
            (out / TAXONOMY_FILE).unlink(missing_ok=True)
        if self.splits is not None:
            _write_lines(out / SPLITS_FILE, [json.dumps(self.splits, ensure_ascii=False)])
        else:
            (out / SPLITS_FILE).unlink(missing_ok=True)
        report = self.report()
        _write_lines(out / REPORT_FILE, [json.dumps(report, ensure_ascii=False, indent=2)])
        return report


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line + "\n")
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- building a result
class ResultBuilder:
    """Collects records of one import: validates each through `product_from_mapping`, rejects
    duplicate ids, and sorts records into products / unmapped / rejects."""

    def __init__(self, dataset: str, source: str | os.PathLike, field_names: Mapping[str, str] | None = None) -> None:
        self.dataset, self.source = dataset, str(source)
        self.field_names = dict(field_names or {})  # canonical field -> source column, for rejects
        self.products: list[Product] = []
        self.unmapped: list[tuple[Product, str, str]] = []
        self.rejects: list[RecordError] = []
        self.splits: dict[str, list[str]] = {}
        self._ids: set[str] = set()

    def reject(self, source: str, line: int | None, field: str | None, message: str) -> None:
        self.rejects.append(RecordError(source, line, field, message))

    def add(
        self,
        record: Mapping[str, Any] | Product,
        source: str,
        line: int | None,
        label: str | None,
        reason: str | None = None,
        split: str | None = None,
    ) -> Product | None:
        """Adds one raw record (validated here) or an already parsed `Product`. A `reason` (or a
        missing label) makes it unmapped; `label` is then the original label text for the report.
        Returns the product, or None when rejected."""
        if isinstance(record, Product):
            product = dataclasses.replace(record, category=None)
        else:
            try:
                product = product_from_mapping({**record, F.CATEGORY: None}, source, line)
            except RecordError as err:
                field = self.field_names.get(err.field or "", err.field)
                self.rejects.append(RecordError(err.source, err.line, field, err.reason))
                return None
        if product.id in self._ids:
            self.reject(source, line, self.field_names.get(F.ID, F.ID), f"duplicate id {product.id!r}")
            return None
        self._ids.add(product.id)
        if reason is not None or not label:
            self.unmapped.append((product, label or "", reason or "no category label"))
            return product
        product.category = label
        self.products.append(product)
        if split is not None:
            self.splits.setdefault(split, []).append(product.id)
        return product

    def result(self, taxonomy: Taxonomy | None = None, own_tree: bool = True) -> ImportResult:
        """The finished result. For own-tree datasets the tree is built from the labels, unless a
        `taxonomy` is given: then labels missing from it become unmapped (importing new data
        against the tree an existing model was trained on)."""
        if not self.products and not self.unmapped:
            raise ValueError(f"{self.source}: no {self.dataset} records could be read ({len(self.rejects)} rejected rows)")
        tree = taxonomy
        if own_tree and taxonomy is not None:
            kept = []
            for product in self.products:
                if taxonomy.resolve(product.category or "") is None:
                    label, product.category = product.category or "", None
                    self.unmapped.append((product, label, "label is not in the given taxonomy"))
                else:
                    kept.append(product)
            self.products = kept
            kept_ids = {p.id for p in kept}
            self.splits = {name: [i for i in ids if i in kept_ids] for name, ids in self.splits.items()}
        elif own_tree and self.products:
            tree = Taxonomy.from_paths(sorted({p.category for p in self.products if p.category}), version=self.dataset)
        return ImportResult(
            dataset=self.dataset,
            products=self.products,
            taxonomy=tree if own_tree else None,
            unmapped=self.unmapped,
            rejects=self.rejects,
            splits=self.splits or None,
            source=self.source,
            label_taxonomy=None if own_tree else taxonomy,
        )


def join_path(parts: Sequence[str | None], level_names: Sequence[str] = ()) -> tuple[str, str | None]:
    """Joins category names into an "A > B > C" label: (label, None), or (partial label, reason)
    when a name is empty or would break the path syntax. `level_names` name the source columns."""
    names = [(p or "").strip() for p in parts]
    partial = PATH_SEPARATOR.join(n for n in names if n)
    if not any(names):
        return partial, "no category label"
    for level, name in enumerate(names, start=1):
        where = level_names[level - 1] if len(level_names) >= level else f"category level {level}"
        if not name:
            return partial, f"{where} is empty"
        if ">" in name:
            return partial, f"{where} contains '>'"
    return partial, None


# ----------------------------------------------------------------------------- reading CSV
def iter_csv_rows(path: Path) -> Iterator[tuple[int, list[str]] | RecordError]:
    """Rows of a UTF-8 CSV file with the line each row starts on; undecodable or malformed input
    becomes a `RecordError` (the csv module cannot resynchronise after a quoting error)."""
    source = str(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        yield RecordError(source, None, None, f"invalid UTF-8 at byte {err.start}")
        return
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            yield RecordError(source, start, None, f"malformed CSV ({err})")
            return
        if row:
            yield start, row
        start = reader.line_num + 1


def read_csv_header(path: Path, required: Sequence[str]) -> list[str]:
    """The header of a CSV file; ValueError naming the missing columns when it lacks `required`."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ValueError(f"{path}: cannot read the CSV header ({err})") from None
    missing = [c for c in required if c not in header]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; header is {header}")
    return header


def find_file(src: Path, names: Sequence[str], dataset: str) -> Path:
    """`src` itself if it is a file, else the first of `names` (glob patterns) inside it."""
    if src.is_file():
        return src
    if not src.is_dir():
        raise ValueError(f"{dataset}: {src} does not exist")
    for pattern in names:
        matches = sorted(src.glob(pattern))
        if matches:
            return matches[0]
    raise ValueError(f"{src} does not look like the {dataset} dataset: expected {' or '.join(names)} in it")
