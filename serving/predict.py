"""Batch prediction: products in (any supported format), one JSON line per product out.

Runs the exported model's `serving_raw` signature, so batch jobs get exactly what online callers
get from TF Serving. Input is streamed in fixed-size batches (bounded memory for any input size:
at most one batch per parallel call plus one being read); by default one model call runs per
core, each on single-threaded ops (see `tf_threads`), and the output keeps the input's order.
"""

from __future__ import annotations

import collections
import concurrent.futures
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any


from prodcat.contract.signatures import PREDICT_READ_OPTIONS, RAW_SIGNATURE, Prediction, predictions_from_outputs, raw_inputs
from prodcat.records import Product, RecordError, product_from_mapping
from prodcat.readers import TFRECORD_SUFFIXES, input_files, iter_products

DEFAULT_BATCH_SIZE = 256


class ModelNotFoundError(FileNotFoundError):
    """MODEL_DIR is neither a SavedModel nor a base path holding numbered versions."""


def resolve_model_dir(model_dir: str | os.PathLike) -> Path:
    """A version directory as given, or the newest numbered version under a model base path."""
    path = Path(model_dir)
    if (path / "saved_model.pb").exists():
        return path
    versions = [p for p in path.iterdir() if p.name.isdigit() and (p / "saved_model.pb").exists()] if path.is_dir() else []
    if not versions:
        raise ModelNotFoundError(f"{path}: no saved_model.pb here and no numbered version directories holding one")
    return max(versions, key=lambda p: int(p.name))


class Predictor:
    """A loaded serving model; call `predict` on batches of products (from several threads at once
    if `parallel_calls` > 1: TensorFlow is then set to single-threaded ops, one call per core)."""

    def __init__(self, model_dir: str | os.PathLike, parallel_calls: int = 1) -> None:
        if parallel_calls < 1:
            raise ValueError(f"parallel calls must be >= 1, got {parallel_calls}")
        self.model_dir = resolve_model_dir(model_dir)
        self.parallel_calls = parallel_calls
        if parallel_calls > 1:
            from prodcat.serving.tf_threads import configure_tensorflow_threads

            # ops of the concurrent calls interleave in the inter-op pool; twice the calls measured best
            configure_tensorflow_threads(intra_op=1, inter_op=2 * parallel_calls)
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (the model's text encoder uses its SentencePiece ops)

        self._tf = tf
        self._model = tf.saved_model.load(str(self.model_dir))
        self._signature = self._model.signatures[RAW_SIGNATURE]
        self.input_names = sorted(self._signature.structured_input_signature[1].keys())

    def predict(self, products: list[Product], full_depth: bool = False) -> list[Prediction]:
        if not products:
            return []
        inputs = {k: self._tf.constant(v) for k, v in raw_inputs(products, self.input_names).items()}
        outputs = {k: v.numpy() for k, v in self._signature(**inputs).items()}
        return predictions_from_outputs([p.id for p in products], outputs, full_depth)


def _batches(products: Iterator[Product], size: int) -> Iterator[list[Product]]:
    batch: list[Product] = []
    for product in products:
        batch.append(product)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def map_in_order(fn: Callable[[Any], Any], items: Iterable[Any], parallel: int) -> Iterator[tuple[Any, Any]]:
    """(item, fn(item)) in the items' order, with up to `parallel` calls running at once (bounded:
    the next item is read only when a slot is free)."""
    if parallel <= 1:
        for item in items:
            yield item, fn(item)
        return
    with concurrent.futures.ThreadPoolExecutor(parallel, thread_name_prefix="predict") as pool:
        pending: collections.deque = collections.deque()
        for item in items:
            pending.append((item, pool.submit(fn, item)))
            if len(pending) >= parallel:
                item, future = pending.popleft()
                yield item, future.result()
        while pending:
            item, future = pending.popleft()
            yield item, future.result()


def write_predictions(
    input_path: str | os.PathLike, output_path: str | os.PathLike, predict: Callable[[list[Product]], list[Prediction]],
    batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = True, rejects: list[RecordError] | None = None,
    parallel: int = 1,
) -> int:
    """Streams products through `predict` into JSONL, written atomically (batch and client share it);
    `parallel` batches are predicted at once, written in input order."""
    from tqdm import tqdm

    from prodcat.contract.examples import TFRECORD_READERS  # imports TensorFlow: not at start-up

    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = output_path.with_name(output_path.name + ".tmp")
    count = 0

    def products() -> Iterator[Product]:
        for path in input_files(input_path):
            yield from iter_products(path, rejects, options=PREDICT_READ_OPTIONS, extra_readers=TFRECORD_READERS)

    try:
        with tmp.open("w", encoding="utf-8") as out, tqdm(
            unit=" products", disable=not progress, file=sys.stderr, mininterval=1.0
        ) as bar:
            for batch, predictions in map_in_order(predict, _batches(products(), batch_size), parallel):
                for prediction in predictions:
                    out.write(json.dumps(prediction.to_json_dict(), ensure_ascii=False) + "\n")
                count += len(batch)
                bar.update(len(batch))
        os.replace(tmp, output_path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return count


def explain_text(model_dir: str | os.PathLike, title: str) -> str:
    """One product title through the model: the decoded path with each level's confidence, and how
    deep the configured thresholds serve it (a newcomer's quickest look at the trade-off)."""
    product = product_from_mapping({"id": "text", "title": title}, "--text", None, options=PREDICT_READ_OPTIONS)
    predictor = Predictor(model_dir, parallel_calls=1)
    [full] = predictor.predict([product], full_depth=True)
    [served] = predictor.predict([product])
    lines = [f"{title}", f"  served: {served.category_path or '(no category: level 1 is below its threshold)'}"
             f" (depth {served.depth} of {full.depth})"]
    width = max((len(level.name) for level in full.levels), default=0)
    for level in full.levels:
        verdict = "served" if level.level <= served.depth else "withheld"
        lines.append(f"  level {level.level}  {level.name:<{width}}  {level.confidence:.3f}  {verdict}")
    return "\n".join(lines)


def check_input(input_path: str | os.PathLike, skip_bad_records: bool = False) -> None:
    """Fails in seconds, before the model loads, on what would fail after it: a missing path, an
    unsupported format, a file whose first record is bad (unless bad records are skipped), or input
    without a single product. Reads at most the first record of each file."""
    found = False
    for path in input_files(input_path):
        readers = None
        if path.suffix.lower() in TFRECORD_SUFFIXES:  # only then is TensorFlow imported (seconds)
            from prodcat.contract.examples import TFRECORD_READERS as readers
        first = next(iter_products(path, [] if skip_bad_records else None, options=PREDICT_READ_OPTIONS,
                                   extra_readers=readers), None)
        found = found or first is not None
    if not found:
        raise RecordError(str(input_path), None, None, "no products to predict")


def predict_file(
    model_dir: str | os.PathLike, input_path: str | os.PathLike, output_path: str | os.PathLike,
    full_depth: bool = False, batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = True,
    rejects: list[RecordError] | None = None, parallel_calls: int | None = None,
) -> int:
    """Predicts every product of `input_path` into `output_path` (JSONL, written atomically);
    `parallel_calls` model calls at once (default: one per available core)."""
    from prodcat.serving.tf_threads import available_cpus

    check_input(input_path, skip_bad_records=rejects is not None)
    started = time.monotonic()
    if progress:
        print(f"prodcat: loading the model from {model_dir} ...", file=sys.stderr, flush=True)
    predictor = Predictor(model_dir, parallel_calls or available_cpus())
    if progress:
        print(f"prodcat: model loaded in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    return write_predictions(input_path, output_path, lambda batch: predictor.predict(batch, full_depth),
                             batch_size, progress, rejects, predictor.parallel_calls)
