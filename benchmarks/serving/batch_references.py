"""The batch-prediction figures serving is compared with, measured on the same products in the same run.

The machine is shared, so only figures taken side by side compare: `prodcat predict` on the
products written as JSON lines (the target's reference, as `prodcat bench batch` times it) and,
stricter, `Predictor.predict` in this process with the model already loaded (no file I/O). Both
run as `prodcat predict` runs them, one call per core at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class PredictThroughput:
    """Products per second of `Predictor.predict` over one timed stretch."""

    products: int
    batch_size: int
    seconds: float
    parallel_calls: int = 1

    @property
    def products_per_s(self) -> float:
        return self.products / self.seconds if self.seconds > 0 else float("nan")


def time_predictor(predictor: Any, products: Sequence[Any], batch_size: int, passes: int = 2) -> PredictThroughput:
    """`Predictor.predict` over `products` in batches, `passes` times, `predictor.parallel_calls` at
    once as `prodcat predict` runs them (after one warm-up batch per call slot, not counted)."""
    from prodcat.serving.predict import map_in_order

    products = list(products)
    batches = [products[i:i + batch_size] for i in range(0, len(products), batch_size)]
    parallel = getattr(predictor, "parallel_calls", 1)
    for _ in map_in_order(predictor.predict, batches[:parallel], parallel):
        pass
    started = time.perf_counter()
    for _ in map_in_order(predictor.predict, batches * max(1, passes), parallel):
        pass
    return PredictThroughput(len(products) * max(1, passes), batch_size, time.perf_counter() - started, parallel)



@contextlib.contextmanager
def prodcat_predict_timer(
    model_dir: str | os.PathLike, products: Sequence[Any], batch_size: int,
) -> Iterator[Callable[[], Any]]:
    """A function that times `prodcat predict` (`predict_file`) on `products`, each call a fresh run.

    The products are written once to a scratch JSONL file, removed on exit; each call returns a
    benchmarks.batch.PredictFileRun (its steady-state rate is what the target compares with).
    """
    from prodcat.readers import write_jsonl

    from ..batch import time_predict_file

    scratch = Path(tempfile.mkdtemp(prefix="prodcat-bench-serving-"))
    write_jsonl(products, scratch / "products.jsonl")

    def predict_file() -> Any:
        return time_predict_file(model_dir, scratch / "products.jsonl", scratch / "predictions.jsonl", batch_size)

    try:
        yield predict_file
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
