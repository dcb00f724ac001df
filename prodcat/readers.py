"""Product files in, `Product`s out: the one door every ingestion path reads through.

Dataset importers, ExampleGen, batch prediction and the client all read here, so a bad record is
reported the same way everywhere. The format follows the file suffix: JSONL (`prodcat.jsonl_reader`),
CSV and Shopify exports (`prodcat.csv_reader`), Parquet (below: pyarrow yields rows ready to
validate), and TFRecord through `extra_readers` (it needs TensorFlow:
`contract.examples.TFRECORD_READERS`). Every record goes through `records.product_from_mapping`;
this module adds what holds across formats: directories, duplicate ids and I/O failures mid-file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from prodcat import features as F
from prodcat.csv_reader import _iter_csv
from prodcat.jsonl_reader import _iter_jsonl
from prodcat.records import (
    DEFAULT_READ_OPTIONS,
    Product,
    ReadOptions,
    RecordError,
    product_from_mapping,
)

TFRECORD_SUFFIXES = (".tfrecord", ".tfrecords")
SUPPORTED_SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv", ".parquet", *TFRECORD_SUFFIXES)


# ----------------------------------------------------------------------------- readers
# A format's reader: (path, options) -> (product, line/row number) or the record's error, in file order.
Reader = Callable[[Path, ReadOptions], Iterator["tuple[Product, int] | RecordError"]]


def iter_products(
    path: str | os.PathLike, rejects: list[RecordError] | None = None, *,
    options: ReadOptions = DEFAULT_READ_OPTIONS, extra_readers: Mapping[str, Reader] | None = None,
) -> Iterator[Product]:
    """Streams the products of one file; the format follows the file suffix.

    With `rejects=None` the first bad record raises `RecordError`; with a list, bad records are
    appended to it and reading continues (quarantine).
    """
    for _, product in iter_numbered_products(path, rejects, options=options, extra_readers=extra_readers):
        yield product


def iter_numbered_products(
    path: str | os.PathLike, rejects: list[RecordError] | None = None, *,
    options: ReadOptions = DEFAULT_READ_OPTIONS, seen_ids: dict[str, str] | None = None,
    extra_readers: Mapping[str, Reader] | None = None,
) -> Iterator[tuple[int, Product]]:
    """Like `iter_products`, with each product's line (CSV/JSONL) or row number (Parquet/TFRecord).

    The first record with an id is kept and later ones are rejected as duplicates. Pass one
    `seen_ids` dict (id -> where first seen) to several calls to apply that across files, in the
    order the files are read. `extra_readers` (suffix -> reader) adds the formats that need
    TensorFlow (`contract.examples.TFRECORD_READERS`).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    readers = {
        ".jsonl": _iter_jsonl, ".json": _iter_jsonl, ".ndjson": _iter_jsonl,
        ".csv": _iter_csv, ".parquet": _iter_parquet,
        **(extra_readers or {}),
    }
    if suffix in TFRECORD_SUFFIXES and suffix not in readers:
        raise RecordError(str(path), None, None, "TFRecord files are read by the pipeline and `prodcat predict` "
                          "(they need TensorFlow); convert them to JSONL to use them here")
    if suffix not in readers:
        raise RecordError(str(path), None, None, f"unsupported format {suffix!r}; use one of {', '.join(SUPPORTED_SUFFIXES)}")
    if not path.exists():
        raise RecordError(str(path), None, None, "file not found")
    seen = {} if seen_ids is None else seen_ids
    for item in _guarded(readers[suffix](path, options), str(path)):
        if isinstance(item, RecordError):
            error = item
        else:
            product, line = item
            first = seen.get(product.id)
            if first is not None:
                error = RecordError(str(path), line, F.ID, f"duplicate id {product.id!r} (first at {first})",
                                    record_id=product.id)
            else:
                seen[product.id] = f"{path}:{line}"
                yield line, product
                continue
        if rejects is None:
            raise error
        rejects.append(error)


def _guarded(items: Iterator[tuple[Product, int] | RecordError], source: str) -> Iterator[tuple[Product, int] | RecordError]:
    """A reader's items, with an I/O failure mid-file turned into a final `RecordError`."""
    try:
        yield from items
    except OSError as err:
        yield RecordError(source, None, None, f"cannot read the file ({err.strerror or err})")


def input_files(path: str | os.PathLike) -> list[Path]:
    """A product file, or every supported file in a directory (sorted, so runs are repeatable)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUPPORTED_SUFFIXES)
        if not files:
            raise RecordError(str(path), None, None, f"no product files ({', '.join(SUPPORTED_SUFFIXES)}) in directory")
        return files
    return [path]


def read_products(
    path: str | os.PathLike, rejects: list[RecordError] | None = None, *,
    options: ReadOptions = DEFAULT_READ_OPTIONS, extra_readers: Mapping[str, Reader] | None = None,
) -> list[Product]:
    seen: dict[str, str] = {}
    return [p for f in input_files(path)
            for _, p in iter_numbered_products(f, rejects, options=options, seen_ids=seen, extra_readers=extra_readers)]


# ----------------------------------------------------------------------------- columnar formats
def _iter_parquet(path: Path, options: ReadOptions) -> Iterator[tuple[Product, int] | RecordError]:
    import pyarrow.parquet as pq

    source = str(path)
    try:
        parquet = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for unreadable files
        yield RecordError(source, None, None, f"not a readable Parquet file ({err})")
        return
    row_number = 0
    batches = parquet.iter_batches(batch_size=4096)
    while True:
        try:
            batch = next(batches, None)
            rows = [] if batch is None else batch.to_pylist()
        except Exception as err:  # a corrupt row group: the rows read so far stand
            yield RecordError(source, row_number + 1, None, f"unreadable Parquet data from this row on ({err})")
            return
        if batch is None:
            return
        for row in rows:
            row_number += 1
            try:
                yield product_from_mapping(row, source, row_number, path.parent, options), row_number
            except RecordError as err:
                yield err


def write_jsonl(products: Iterator[Product] | list[Product], path: str | os.PathLike) -> int:
    """Writes canonical JSONL atomically (a reader never sees a half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with tmp.open("w", encoding="utf-8") as handle:
        for product in products:
            handle.write(json.dumps(product.to_json_dict(), ensure_ascii=False) + "\n")
            count += 1
    os.replace(tmp, path)
    return count
