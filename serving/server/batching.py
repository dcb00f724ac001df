"""Server-side batching: concurrent Predict calls on one signature run as one model call."""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc
import numpy as np

from prodcat.serving.server.errors import ServingError
from prodcat.serving.server.metrics import Stats
from prodcat.serving.server.options import MAX_TENSOR_ELEMENTS

Arrays = dict[str, np.ndarray]


@dataclasses.dataclass
class _Task:
    inputs: Arrays
    size: int
    key: tuple
    enqueued: float
    future: concurrent.futures.Future


class BatchQueue:
    """Merges concurrent requests for one signature into batches (TF Serving's batching semantics).

    A batch opens with the oldest queued request and closes when it holds `max_batch_size` rows or
    `timeout_s` after it opened; `num_threads` workers run batches. Inputs are concatenated along
    dimension 0 (string tensors of different inner widths padded with b"", which prodcat's
    signatures drop; requests whose numeric inner shapes differ go to different batches), run once,
    and the outputs split back by rows. If a merged batch fails, its requests are retried one by one
    so one bad request cannot fail the others. A request larger than `max_batch_size`, or arriving
    after `close()`, runs inline. A request is not merged into a batch whose padded inputs would
    then exceed `max_elements` elements (one [1, 100000] tags tensor must not pad 31 other
    requests to that width).
    """

    def __init__(
        self, run: Callable[[Arrays], Arrays], *, max_batch_size: int, timeout_s: float, num_threads: int = 1,
        max_enqueued_batches: int = 100, stats: Stats | None = None, name: str = "batch",
        max_elements: int = MAX_TENSOR_ELEMENTS,
    ) -> None:
        self._run, self.max_batch_size, self.timeout_s, self.max_elements = run, max_batch_size, timeout_s, max_elements
        self._max_queued_rows = max_enqueued_batches * max_batch_size
        self.stats = stats or Stats()
        self._tasks: collections.deque[_Task] = collections.deque()
        self._queued_rows = 0
        self._cond = threading.Condition()
        self._closed = False
        self._threads = [threading.Thread(target=self._loop, name=f"{name}-{i}", daemon=True) for i in range(num_threads)]
        for thread in self._threads:
            thread.start()

    def submit(self, inputs: Arrays, size: int) -> Arrays:
        """Runs `inputs` (`size` rows) as part of a batch; blocks until its own outputs are ready."""
        task = None
        if 1 <= size <= self.max_batch_size:
            task = _Task(inputs, size, _batch_key(inputs), time.monotonic(), concurrent.futures.Future())
            with self._cond:
                if self._closed:
                    task = None
                elif self._queued_rows + size > self._max_queued_rows:
                    raise ServingError(grpc.StatusCode.UNAVAILABLE, "The batch scheduling queue to which this task was submitted is full")
                else:
                    self._tasks.append(task)
                    self._queued_rows += size
                    self._cond.notify()
        if task is None:
            self.stats.add("inline_tasks")
            return self._run(inputs)
        return task.future.result()

    def close(self, timeout: float = 30.0) -> None:
        """Stops accepting work; queued requests still run. Waits for the workers to finish."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._tasks and not self._closed:
                    self._cond.wait()
                if not self._tasks:
                    return
                deadline = self._tasks[0].enqueued + self.timeout_s
                while not self._closed and self._tasks and self._queued_rows < self.max_batch_size:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                batch = self._take()
            if batch:
                self._execute(batch)

    def _take(self) -> list[_Task]:
        """Pops the oldest request and every compatible one that still fits (called under the lock)."""
        if not self._tasks:
            return []
        key = self._tasks[0].key
        batch, rest, rows = [], collections.deque(), 0
        inner: dict[str, tuple[int, ...]] = {}
        for task in self._tasks:
            if task.key == key and rows + task.size <= self.max_batch_size:
                merged = _merged_inner(inner, task.inputs)
                padded = max(((rows + task.size) * math.prod(shape) for shape in merged.values()), default=0)
                if not batch or padded <= self.max_elements:
                    batch.append(task)
                    rows += task.size
                    inner = merged
                    continue
            rest.append(task)
        self._tasks = rest
        self._queued_rows -= rows
        return batch

    def _execute(self, batch: list[_Task]) -> None:
        self.stats.batch(len(batch))
        try:
            if len(batch) == 1:
                batch[0].future.set_result(self._run(batch[0].inputs))
                return
            merged = {name: _concat([task.inputs[name] for task in batch]) for name in batch[0].inputs}
            try:
                parts = _split(self._run(merged), [task.size for task in batch])
            except Exception:  # isolate the request(s) at fault: run each on its own
                for task in batch:
                    _resolve(task.future, lambda t=task: self._run(t.inputs))
                return
            for task, part in zip(batch, parts):
                task.future.set_result(part)
        except BaseException as err:  # never leave a caller waiting
            for task in batch:
                if not task.future.done():
                    task.future.set_exception(err)


def _resolve(future: concurrent.futures.Future, fn: Callable[[], Any]) -> None:
    try:
        future.set_result(fn())
    except BaseException as err:
        future.set_exception(err)


def _is_string(array: np.ndarray) -> bool:
    return array.dtype == object or array.dtype.kind in "SU"


def _batch_key(inputs: Arrays) -> tuple:
    """Requests with equal keys can share a batch: numeric inputs must agree beyond dimension 0."""
    return tuple(sorted((name, a.ndim, None if _is_string(a) else a.shape[1:]) for name, a in inputs.items()))


def _merged_inner(inner: dict[str, tuple[int, ...]], inputs: Arrays) -> dict[str, tuple[int, ...]]:
    """The inner (beyond dimension 0) shapes a batch pads its inputs to once `inputs` joins it."""
    if not inner:
        return {name: array.shape[1:] for name, array in inputs.items()}
    return {name: tuple(max(a, b) for a, b in zip(inner[name], array.shape[1:])) for name, array in inputs.items()}


def _concat(arrays: list[np.ndarray]) -> np.ndarray:
    inner = [a.shape[1:] for a in arrays]
    if all(shape == inner[0] for shape in inner):
        return np.concatenate(arrays, axis=0)
    width = tuple(max(dims) for dims in zip(*inner))
    out = np.full((sum(len(a) for a in arrays), *width), b"", dtype=object)
    row = 0
    for a in arrays:
        out[(slice(row, row + len(a)), *(slice(0, d) for d in a.shape[1:]))] = a
        row += len(a)
    return out


def _split(outputs: Arrays, sizes: list[int]) -> list[Arrays]:
    total = sum(sizes)
    for name, value in outputs.items():
        if np.ndim(value) == 0 or np.shape(value)[0] != total:
            raise ServingError(grpc.StatusCode.INTERNAL, f"batched output {name!r} has shape {list(np.shape(value))}, expected {total} rows")
    bounds = np.cumsum([0, *sizes])
    return [{name: value[bounds[i]:bounds[i + 1]] for name, value in outputs.items()} for i in range(len(sizes))]
