"""`prodcat serve`: TF Serving's gRPC (and REST) API over a model base path the Pusher writes to.

Clients written against TF Serving work unchanged:

- `tensorflow.serving.PredictionService`: `Predict` (any signature; inputs as TensorProtos keyed
  by the signature's input names; `output_filter`; model_spec name/version/version_label) and
  `GetModelMetadata` (`signature_def`, packed as TF Serving packs it);
- `tensorflow.serving.ModelService`: `GetModelStatus`;
- REST (`--rest_api_port`): `POST /v1/models/<name>[/versions/<v>|/labels/<l>]:predict` ("instances"
  row format or "inputs" columnar format, `{"b64": ...}` for binary strings), `GET /v1/models/<name>`
  (status), `GET /v1/models/<name>/metadata`, and `GET /monitoring/prometheus/metrics`.

Serving follows TF Serving's `latest 1` version policy: a watcher polls the base path every
`file_system_poll_wait_seconds`, loads the newest numbered version (replaying its
`assets.extra/tf_serving_warmup_requests`), swaps it in, then unloads the old one. A version that
fails to load (or a base path that vanishes) is logged and the last good version keeps serving.

Server-side batching: concurrent Predict calls on the same version and signature are queued,
concatenated along the batch dimension (string inputs of different widths padded with "", which
prodcat's signatures drop), run once and split back (`BatchQueue`).

Errors are gRPC status codes, never crashes: INVALID_ARGUMENT for malformed input and for requests
of more than `--max_batch_rows` rows, NOT_FOUND for an unknown model, version or signature,
RESOURCE_EXHAUSTED for requests over `--max_request_bytes` (on the wire, or once decoded: a short
value list repeated over a large shape), UNAVAILABLE when the batch queue is full. Request data is
only ever decoded as tensors.

Security: the server binds 127.0.0.1 unless `--host` says otherwise. `--ssl_config_file` takes
tensorflow_model_server's text-format `tensorflow.serving.SSLConfig` (server_key, server_cert,
custom_ca, client_verify) and serves gRPC over TLS; `client_verify: true` requires client
certificates signed by custom_ca (mutual TLS). The REST API stays plaintext, as in TF Serving.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import collections
import concurrent.futures
import dataclasses
import functools
import gc
import http.server
import json
import logging
import math
import os
import re
import signal
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from prodcat.serving.client import (
    TensorDecodeError,
    TensorTooLargeError,
    TLSConfigError,
    dtype_name,
    ndarray_to_tensor_proto,
    read_pem,
    string_tensor_bytes,
    tensor_proto_to_ndarray,
)
from prodcat.serving.tf_threads import configure_tensorflow_threads

log = logging.getLogger("prodcat.serving")

DEFAULT_SIGNATURE = "serving_default"
MAX_TENSOR_ELEMENTS = 1 << 22  # what one (possibly tiny, value-repeating) input tensor may expand to
State = get_model_status_pb2.ModelVersionStatus.State
_CODES_BY_VALUE = {code.value[0]: code for code in grpc.StatusCode}


class ServingError(Exception):
    """A request that fails with a gRPC status code (and the matching HTTP status over REST)."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def _error_code(err: BaseException) -> grpc.StatusCode:
    if isinstance(err, ServingError):
        return err.code
    code = getattr(err, "error_code", None)  # tf.errors.OpError: same numbering as gRPC
    return _CODES_BY_VALUE.get(code, grpc.StatusCode.UNKNOWN) if isinstance(code, int) else grpc.StatusCode.UNKNOWN


# ============================================================================= options
@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """Everything `serve` takes; field names follow tensorflow_model_server's flags."""

    model_base_path: str
    model_name: str = "prodcat"
    port: int = 8500  # 0: any free port (see ModelServer.port)
    rest_api_port: int = 0  # 0: REST off
    host: str = "127.0.0.1"
    file_system_poll_wait_seconds: float = 2.0
    enable_batching: bool = True
    max_batch_size: int = 32
    batch_timeout_micros: int = 1000
    num_batch_threads: int = 1
    # TensorFlow's thread pools (tf_threads.py); 0: TensorFlow's own choice, tensorflow_model_server's default
    tensorflow_intra_op_parallelism: int = 0
    tensorflow_inter_op_parallelism: int = 0
    max_enqueued_batches: int = 100
    max_request_bytes: int = 64 * 1024 * 1024
    max_batch_rows: int = 1024  # rows (dimension 0) one request may carry; 0: no limit
    grpc_max_workers: int = 64
    version_labels: Mapping[str, int] = dataclasses.field(default_factory=dict)
    ssl_config_file: str = ""  # "": plaintext gRPC

    def __post_init__(self) -> None:
        checks = {
            "port": 0 <= self.port < 65536, "rest_api_port": 0 <= self.rest_api_port < 65536,
            "file_system_poll_wait_seconds": self.file_system_poll_wait_seconds > 0,
            "max_batch_size": self.max_batch_size >= 1, "batch_timeout_micros": self.batch_timeout_micros >= 0,
            "num_batch_threads": self.num_batch_threads >= 1, "max_enqueued_batches": self.max_enqueued_batches >= 1,
            "tensorflow_intra_op_parallelism": self.tensorflow_intra_op_parallelism >= 0,
            "tensorflow_inter_op_parallelism": self.tensorflow_inter_op_parallelism >= 0,
            "max_request_bytes": self.max_request_bytes >= 1024, "grpc_max_workers": self.grpc_max_workers >= 1,
            "max_batch_rows": self.max_batch_rows >= 0,
            "model_name": bool(re.fullmatch(r"[A-Za-z0-9_.\-]+", self.model_name)),
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid server option(s): {', '.join(f'{n}={getattr(self, n)!r}' for n in bad)}")

    @property
    def batching(self) -> bool:
        return self.enable_batching and self.max_batch_size > 1


# ============================================================================= counters
class Stats:
    """Thread-safe counters: requests by API and code, latency sums, batching."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: collections.Counter = collections.Counter()
        self._latency: collections.Counter = collections.Counter()
        self.max_tasks_per_batch = 0

    def add(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    def request(self, api: str, code: grpc.StatusCode, seconds: float) -> None:
        with self._lock:
            self._counts[f"requests|{api}|{code.name}"] += 1
            self._latency[api] += seconds
            self._counts[f"latency_count|{api}"] += 1

    def batch(self, tasks: int, rows: int) -> None:
        with self._lock:
            self._counts["batches"] += 1
            self._counts["batched_tasks"] += tasks
            self._counts["batched_rows"] += rows
            if tasks > 1:
                self._counts["merged_batches"] += 1
                self._counts["merged_tasks"] += tasks
            self.max_tasks_per_batch = max(self.max_tasks_per_batch, tasks)

    def snapshot(self) -> dict[str, Any]:
        """`batches` runs of the batcher, `merged_batches` of them with 2+ requests (`merged_tasks`
        requests in all), `max_tasks_per_batch`, `inline_tasks` run outside it, `requests|api|CODE`."""
        with self._lock:
            out: dict[str, Any] = dict(self._counts)
            out.update({f"latency_seconds|{k}": v for k, v in self._latency.items()})
            out["max_tasks_per_batch"] = self.max_tasks_per_batch
        for key in ("batches", "batched_tasks", "batched_rows", "merged_batches", "merged_tasks", "inline_tasks", "warmup_requests"):
            out.setdefault(key, 0)
        return out


# ============================================================================= batching
@dataclasses.dataclass
class _Task:
    inputs: dict[str, np.ndarray]
    size: int
    key: tuple
    enqueued: float
    future: concurrent.futures.Future


class BatchQueue:
    """Merges concurrent requests for one signature into batches (TF Serving's batching semantics).

    A batch opens with the oldest queued request and closes when it holds `max_batch_size` rows or
    `timeout_s` after it opened; `num_threads` workers run batches. Inputs are concatenated along
    dimension 0 (string tensors of different inner widths padded with b""; requests whose numeric
    inner shapes differ go to different batches), run once, and the outputs split back by rows.
    If a merged batch fails, its requests are retried one by one so one bad request cannot fail
    the others. A request larger than `max_batch_size`, or arriving after `close()`, runs inline.
    A request is not merged into a batch whose padded inputs would then exceed `max_elements`
    elements (one [1, 100000] tags tensor must not pad 31 other requests to that width).
    """

    def __init__(
        self, run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]], *, max_batch_size: int,
        timeout_s: float, num_threads: int = 1, max_enqueued_batches: int = 100, stats: Stats | None = None,
        name: str = "batch", max_elements: int = MAX_TENSOR_ELEMENTS,
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

    def submit(self, inputs: dict[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
        """Runs `inputs` (`size` rows) as part of a batch; blocks until its own outputs are ready."""
        if size < 1 or size > self.max_batch_size or self._closed:
            self.stats.add("inline_tasks")
            return self._run(inputs)
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
        rows = sum(task.size for task in batch)
        self.stats.batch(len(batch), rows)
        try:
            if len(batch) == 1:
                batch[0].future.set_result(self._run(batch[0].inputs))
                return
            merged = {name: _concat([task.inputs[name] for task in batch]) for name in batch[0].inputs}
            try:
                outputs = self._run(merged)
                parts = _split(outputs, [task.size for task in batch])
            except Exception:  # isolate the request(s) at fault: run each on its own
                self.stats.add("batch_retries")
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


def _batch_key(inputs: dict[str, np.ndarray]) -> tuple:
    """Requests with equal keys can share a batch: numeric inputs must agree beyond dimension 0."""
    return tuple(sorted((name, a.ndim, None if _is_string(a) else a.shape[1:]) for name, a in inputs.items()))


def _merged_inner(inner: dict[str, tuple[int, ...]], inputs: dict[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
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


def _split(outputs: dict[str, np.ndarray], sizes: list[int]) -> list[dict[str, np.ndarray]]:
    total = sum(sizes)
    for name, value in outputs.items():
        if np.ndim(value) == 0 or np.shape(value)[0] != total:
            raise ServingError(grpc.StatusCode.INTERNAL, f"batched output {name!r} has shape {list(np.shape(value))}, expected {total} rows")
    bounds = np.cumsum([0, *sizes])
    return [{name: value[bounds[i]:bounds[i + 1]] for name, value in outputs.items()} for i in range(len(sizes))]


# ============================================================================= one loaded version
@dataclasses.dataclass(frozen=True)
class Signature:
    name: str
    function: Any  # a ConcreteFunction taking the inputs as keyword arguments
    inputs: dict[str, Any]  # input name -> tf.TensorSpec
    outputs: tuple[str, ...]
    batchable: bool  # every input is [batch, ...] with a free batch dimension
    composite_outputs: frozenset[str] = frozenset()  # SparseTensor/RaggedTensor outputs Predict cannot return


class Servable:
    """One loaded model version: its signatures, SignatureDefs and batch queues."""

    def __init__(self, name: str, version: int, path: Path, model: Any, signature_defs: dict, options: ServerOptions, stats: Stats) -> None:
        import tensorflow as tf

        self.name, self.version, self.path, self.options, self.stats = name, version, path, options, stats
        self._model = model  # keeps the loaded objects alive
        self.signature_defs = signature_defs
        self.signatures: dict[str, Signature] = {}
        for sig_name, function in model.signatures.items():
            specs = dict(function.structured_input_signature[1])
            batchable = bool(specs) and all(s.shape.rank and s.shape[0] is None for s in specs.values())
            outputs = function.structured_outputs
            composite = frozenset(k for k, v in outputs.items() if not isinstance(v, (tf.TensorSpec, tf.Tensor)))
            self.signatures[sig_name] = Signature(sig_name, function, specs, tuple(sorted(outputs)), batchable, composite)
        self._queues: dict[str, BatchQueue] = {}
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def load(cls, name: str, version: int, path: Path, options: ServerOptions, stats: Stats) -> Servable:
        """Loads a SavedModel version and replays its warm-up requests (a failure fails the load)."""
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (SentencePiece ops of the model's text encoder)

        from prodcat.serving.warmup import read_signature_defs, read_warmup_requests

        signature_defs = read_signature_defs(path)
        servable = cls(name, version, path, tf.saved_model.load(str(path), tags=["serve"]), signature_defs, options, stats)
        warmup = read_warmup_requests(path)
        for request in warmup:
            servable.predict_request(request, batch=False)
        if warmup:
            stats.add("warmup_requests", len(warmup))
            log.info("Finished reading %d warm-up requests for %s version %d", len(warmup), name, version)
        return servable

    # -- requests
    def signature(self, signature_name: str) -> Signature:
        signature = self.signatures.get(signature_name or DEFAULT_SIGNATURE)
        if signature is None:
            # TF Serving says FAILED_PRECONDITION here; NOT_FOUND is what callers can act on.
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Serving signature key \"{signature_name}\" not found. "
                               f"Signatures of {self.name} version {self.version}: {sorted(self.signatures)}")
        return signature

    def decode_inputs(self, signature: Signature, tensors: Mapping[str, Any], max_bytes: int | None = None) -> dict[str, np.ndarray]:
        """TensorProtos -> numpy, checked against the signature's names and dtypes.

        `max_bytes` bounds what all inputs together decode to (RESOURCE_EXHAUSTED beyond it).
        """
        _check_names(signature, tensors.keys())
        arrays = {}
        budget = max_bytes
        for name, proto in sorted(tensors.items()):
            spec = signature.inputs[name]
            if proto.dtype != spec.dtype.as_datatype_enum:
                raise _invalid(f"Expects arg[{name}] to be {spec.dtype.name} but {dtype_name(proto.dtype)} is provided")
            try:
                arrays[name] = array = tensor_proto_to_ndarray(proto, MAX_TENSOR_ELEMENTS, budget)
            except TensorTooLargeError as err:
                raise ServingError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                   f"input {name!r}: {err}; a request may decode to at most {max_bytes} bytes in all (--max_request_bytes)") from None
            except TensorDecodeError as err:
                raise _invalid(f"input {name!r}: {err}") from None
            if budget is not None:
                budget -= string_tensor_bytes(proto) if array.dtype == object else array.nbytes
        return arrays

    def predict(self, signature: Signature, arrays: dict[str, np.ndarray], output_filter: Sequence[str] = (), batch: bool = True) -> dict[str, np.ndarray]:
        """Validated numpy inputs -> the (filtered) numpy outputs."""
        wanted = list(dict.fromkeys(output_filter)) or list(signature.outputs)
        unknown = [name for name in wanted if name not in signature.outputs]
        if unknown:
            raise _invalid(f"output tensor alias not found in signature: {unknown[0]} Outputs expected to be in the set {{{','.join(signature.outputs)}}}.")
        composite = [name for name in wanted if name in signature.composite_outputs]
        if composite:
            raise ServingError(grpc.StatusCode.UNIMPLEMENTED, f"output(s) {composite} of {signature.name} are sparse or ragged, which "
                               "Predict cannot return as a TensorProto; leave them out with output_filter")
        size = _check_shapes(signature, arrays)
        if batch and size is not None and self.options.batching:
            outputs = self._queue(signature).submit(arrays, size)
        else:
            self.stats.add("inline_tasks")
            outputs = self.run(signature, arrays)
        return {name: outputs[name] for name in wanted}

    def predict_request(
        self, request: predict_pb2.PredictRequest, batch: bool = True, max_rows: int | None = None, max_bytes: int | None = None,
    ) -> tuple[Signature, dict[str, np.ndarray]]:
        """`max_rows`/`max_bytes`: a client request's limits (checked before anything is decoded)."""
        signature = self.signature(request.model_spec.signature_name)
        _check_rows({name: [d.size for d in proto.tensor_shape.dim] for name, proto in request.inputs.items()}, max_rows)
        arrays = self.decode_inputs(signature, request.inputs, max_bytes)
        return signature, self.predict(signature, arrays, list(request.output_filter), batch)

    def run(self, signature: Signature, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs the signature once on (already validated) inputs."""
        import tensorflow as tf

        try:
            tensors = {name: tf.constant(array, dtype=signature.inputs[name].dtype) for name, array in arrays.items()}
            outputs = signature.function(**tensors)
            return {name: value.numpy() for name, value in outputs.items() if name not in signature.composite_outputs}
        except tf.errors.OpError as err:
            raise ServingError(_error_code(err), _short(err.message)) from None
        except (TypeError, ValueError) as err:
            raise _invalid(_short(str(err))) from None

    def _queue(self, signature: Signature) -> BatchQueue:
        with self._lock:
            queue = self._queues.get(signature.name)
            if queue is None:
                o = self.options
                queue = BatchQueue(
                    lambda arrays, s=signature: self.run(s, arrays), max_batch_size=o.max_batch_size,
                    timeout_s=o.batch_timeout_micros / 1e6, num_threads=o.num_batch_threads,
                    max_enqueued_batches=o.max_enqueued_batches, stats=self.stats, name=f"batch-v{self.version}-{signature.name}",
                )
                if self._closed:
                    queue.close()
                self._queues[signature.name] = queue
            return queue

    def close(self) -> None:
        """Drains and stops the batch queues; late requests still holding this version run inline."""
        with self._lock:
            self._closed = True
            queues = list(self._queues.values())
        for queue in queues:
            queue.close()


def _short(message: str, limit: int = 2000) -> str:
    return message if len(message) <= limit else message[:limit] + " ..."


def _check_names(signature: Signature, names: Any) -> None:
    sent, expected = set(names), set(signature.inputs)
    if sent != expected:
        fmt = lambda s: "{" + ", ".join(sorted(s)) + "}"  # noqa: E731
        raise _invalid(
            f"input size does not match signature: {len(sent)}!={len(expected)} len({fmt(sent)}) != len({fmt(expected)}). "
            f"Sent extra: {fmt(sent - expected)}. Missing but required: {fmt(expected - sent)}.")


def _check_rows(shapes: Mapping[str, Sequence[int]], max_rows: int | None) -> None:
    """INVALID_ARGUMENT for an input with more than `max_rows` rows (dimension 0); None/0: no limit."""
    if not max_rows:
        return
    for name, shape in sorted(shapes.items()):
        if len(shape) and shape[0] > max_rows:
            raise _invalid(f"input {name!r} has {shape[0]} rows; this server takes at most {max_rows} rows per request "
                           "(--max_batch_rows): split the request")


def _check_shapes(signature: Signature, arrays: dict[str, np.ndarray]) -> int | None:
    """Checks ranks and fixed dimensions; returns the common batch size of a batchable signature."""
    for name, array in arrays.items():
        shape = signature.inputs[name].shape
        if shape.rank is None:
            continue
        if array.ndim != shape.rank or any(d is not None and d != a for d, a in zip(shape.as_list(), array.shape)):
            want = [-1 if d is None else d for d in shape.as_list()]
            raise _invalid(f"input {name!r} has shape {list(array.shape)}, the signature expects {want} (-1: any size)")
    if not signature.batchable:
        return None
    sizes = {name: array.shape[0] for name, array in arrays.items()}
    if len(set(sizes.values())) > 1:
        raise _invalid(f"all inputs must have the same 0th-dimension (batch) size; got {dict(sorted(sizes.items()))}")
    return next(iter(sizes.values()))


# ============================================================================= versions
def list_versions(base_path: Path) -> dict[int, Path]:
    """Numbered version directories under a model base path (raises OSError if it is unreadable)."""
    return {int(p.name): p for p in base_path.iterdir() if p.name.isdigit() and p.is_dir()}


def _fingerprint(path: Path) -> tuple:
    try:
        return tuple(sorted((str(f.relative_to(path)), f.stat().st_size, f.stat().st_mtime_ns) for f in path.rglob("*") if f.is_file()))
    except OSError:
        return ()


class VersionManager:
    """TF Serving's `latest 1` policy over a base path, availability-preserving.

    `poll()` serves the newest version that loads: a newer version is loaded next to the serving
    one, swapped in, and only then is the old one unloaded. A version that fails to load is logged
    and not retried until its files change; if the serving version's directory disappears the
    newest remaining version is loaded; if no versions remain (or the base path vanishes) the last
    good version keeps serving.
    """

    def __init__(self, model_name: str, base_path: Path, loader: Callable[[int, Path], Any], poll_seconds: float) -> None:
        self.model_name, self.base_path, self._loader, self.poll_seconds = model_name, base_path, loader, poll_seconds
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._current: Any = None
        self._states: dict[int, tuple[int, grpc.StatusCode, str]] = {}
        self._failed: dict[int, tuple] = {}
        self._last_warning: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def current(self) -> Any:
        return self._current

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name=f"version-watcher-{self.model_name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        with self._lock:
            current, self._current = self._current, None
        if current is not None:
            current.close()

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll()
            except Exception:  # the watcher must survive anything
                log.exception("polling %s failed", self.base_path)

    def _warn_once(self, message: str) -> None:
        if message != self._last_warning:
            log.warning("%s", message)
            self._last_warning = message

    def poll(self) -> None:
        with self._poll_lock:
            self._poll()

    def _poll(self) -> None:
        serving = f"; still serving version {self._current.version}" if self._current is not None else ""
        try:
            versions = list_versions(self.base_path)
        except OSError as err:
            self._warn_once(f"cannot list model base path {self.base_path}: {err.strerror or err}{serving}")
            return
        if not versions:
            self._warn_once(f"No versions of servable {self.model_name} found under base path {self.base_path}{serving}")
            return
        self._last_warning = None
        for version in sorted(versions, reverse=True):
            current = self._current
            if current is not None and version == current.version:
                return  # nothing newer loads; keep serving
            path = versions[version]
            fingerprint = _fingerprint(path)
            if self._failed.get(version) == fingerprint:
                continue  # failed before with exactly these files
            if not (path / "saved_model.pb").is_file():
                self._warn_once(f"{path} has no saved_model.pb (yet); not loading version {version}")
                continue
            if self._load(version, path, fingerprint):
                return

    def _load(self, version: int, path: Path, fingerprint: tuple) -> bool:
        self._set_state(version, State.LOADING)
        log.info("Loading servable {name: %s version: %d} from %s", self.model_name, version, path)
        started = time.monotonic()
        try:
            servable = self._loader(version, path)
        except Exception as err:
            self._failed[version] = fingerprint
            message = _short(f"{type(err).__name__}: {getattr(err, 'message', None) or err}", 1000)
            self._set_state(version, State.END, _error_code(err), message)
            current = self._current
            log.error("Loading servable {name: %s version: %d} failed: %s; %s", self.model_name, version, message,
                      f"still serving version {current.version}" if current is not None else "no version is being served")
            return False
        with self._lock:
            old, self._current = self._current, servable
            self._states[version] = (State.AVAILABLE, grpc.StatusCode.OK, "")
        self._failed.pop(version, None)
        log.info("Successfully loaded servable version {name: %s version: %d} in %.1fs", self.model_name, version, time.monotonic() - started)
        if old is not None:
            self._set_state(old.version, State.UNLOADING)
            old.close()
            self._set_state(old.version, State.END)
            log.info("Unloaded servable version {name: %s version: %d}", self.model_name, old.version)
            del old
            gc.collect()
        return True

    def _set_state(self, version: int, state: int, code: grpc.StatusCode = grpc.StatusCode.OK, message: str = "") -> None:
        with self._lock:
            self._states[version] = (state, code, message)

    def states(self) -> dict[int, tuple[int, grpc.StatusCode, str]]:
        with self._lock:
            return dict(self._states)


# ============================================================================= TLS
@functools.lru_cache(maxsize=None)
def ssl_config_class() -> type:
    """The `tensorflow.serving.SSLConfig` message of tensorflow_model_server's `--ssl_config_file`.

    tensorflow-serving-api ships `tensorflow_serving.config.ssl_config_pb2` in some releases (not
    2.16); without it, the same message (full name, field names and numbers) is built here, in a
    private descriptor pool so it cannot clash with the real one.
    """
    try:
        from tensorflow_serving.config import ssl_config_pb2  # type: ignore[attr-defined]

        return ssl_config_pb2.SSLConfig
    except ImportError:
        pass
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    field = descriptor_pb2.FieldDescriptorProto
    file_proto = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/config/ssl_config.proto", package="tensorflow.serving", syntax="proto3")
    message = file_proto.message_type.add(name="SSLConfig")
    for number, (name, kind) in enumerate((("server_key", field.TYPE_STRING), ("server_cert", field.TYPE_STRING),
                                           ("custom_ca", field.TYPE_STRING), ("client_verify", field.TYPE_BOOL)), 1):
        message.field.add(name=name, number=number, type=kind, label=field.LABEL_OPTIONAL, json_name=name)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    descriptor = pool.FindMessageTypeByName("tensorflow.serving.SSLConfig")
    if hasattr(message_factory, "GetMessageClass"):  # protobuf >= 4.21
        return message_factory.GetMessageClass(descriptor)
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)


@dataclasses.dataclass(frozen=True)
class SSLSettings:
    """A checked SSLConfig: PEM bytes of the server's key and certificate (chain), the client CA."""

    server_key: bytes
    server_cert: bytes
    custom_ca: bytes | None
    client_verify: bool

    def credentials(self) -> grpc.ServerCredentials:
        # As tensorflow_model_server: client_verify requests and requires a client certificate that
        # chains to custom_ca; without it no client certificate is asked for.
        return grpc.ssl_server_credentials([(self.server_key, self.server_cert)], root_certificates=self.custom_ca,
                                           require_client_auth=self.client_verify)

    def describe(self) -> str:
        return " (TLS, client certificates required)" if self.client_verify else " (TLS)"


def load_ssl_config(path: str | os.PathLike) -> SSLSettings:
    """Reads `--ssl_config_file`: a text-format `tensorflow.serving.SSLConfig`, as tensorflow_model_server.

    As in TF Serving, server_key, server_cert and custom_ca hold the PEM text itself. A value with
    no "-----BEGIN" line is read as the path of a PEM file instead (relative to the config file),
    e.g. a mounted Kubernetes TLS secret; TF Serving itself does not understand such paths. Raises
    TLSConfigError (a ValueError) naming the file and field at fault.
    """
    from google.protobuf import text_format

    path = Path(path)
    where = f"--ssl_config_file {str(path)!r}"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise TLSConfigError(f"cannot read {where}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise TLSConfigError(f"{where} is not a text file (expected a text-format tensorflow.serving.SSLConfig)") from None
    config = ssl_config_class()()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as err:
        raise TLSConfigError(f"{where} is not a text-format tensorflow.serving.SSLConfig: {err}") from None
    pem: dict[str, bytes | None] = {}
    for name in ("server_key", "server_cert", "custom_ca"):
        value = getattr(config, name).strip()
        if not value:
            pem[name] = None
        elif "-----BEGIN " in value:
            pem[name] = value.encode("utf-8") + b"\n"
        else:
            pem[name] = read_pem(path.parent / value, f"the {name} file (from {where})")
    missing = [name for name in ("server_key", "server_cert") if pem[name] is None]
    if missing:
        raise TLSConfigError(f"{where} has no {' and no '.join(missing)}: TLS needs the server's private key and certificate")
    if config.client_verify and pem["custom_ca"] is None:
        raise TLSConfigError(f"{where} sets client_verify: true without custom_ca, the CA that must have signed client certificates")
    key = pem["server_key"]
    if b"ENCRYPTED" in key:
        raise TLSConfigError(f"server_key in {where} is encrypted; gRPC needs an unencrypted PEM private key")
    if b"PRIVATE KEY-----" not in key:
        raise TLSConfigError(f"server_key in {where} is not a PEM private key (no -----BEGIN ... PRIVATE KEY----- line)")
    for name in ("server_cert", "custom_ca"):
        if pem[name] is not None:
            _check_certificates(pem[name], f"{name} in {where}")
    return SSLSettings(key, pem["server_cert"], pem["custom_ca"], bool(config.client_verify))


def _check_certificates(pem: bytes, what: str) -> None:
    import ssl

    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=pem.decode("ascii"))
    except (ssl.SSLError, UnicodeDecodeError, ValueError) as err:
        raise TLSConfigError(f"{what} is not a valid PEM certificate: {err}") from None


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _checked_ssl_settings(ssl_config_file: str, host: str) -> SSLSettings:
    """`load_ssl_config`, then a trial bind (any free port) so a key that does not fit its certificate
    fails at startup with a message, not as every client's handshake failing."""
    settings = load_ssl_config(ssl_config_file)
    credentials = settings.credentials()
    for secure in (True, False):
        probe = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=1))
        try:
            port = probe.add_secure_port(_address(host, 0), credentials) if secure else probe.add_insecure_port(_address(host, 0))
        except RuntimeError:
            port = 0
        finally:
            probe.stop(None)
        if port and secure:
            return settings
        if port:
            raise TLSConfigError(f"gRPC cannot use the key and certificate of --ssl_config_file {ssl_config_file!r}: "
                                 "is server_key the private key of (the first certificate in) server_cert?")
    raise OSError(f"cannot bind the gRPC address {_address(host, 0)}")


# ============================================================================= the server
class ModelServer:
    """The model, the watcher, the batchers and both front ends (gRPC and REST)."""

    def __init__(self, options: ServerOptions, loader: Callable[[int, Path], Any] | None = None) -> None:
        self.options = options
        self.stats = Stats()
        self.versions = VersionManager(
            options.model_name, Path(options.model_base_path),
            loader or (lambda version, path: Servable.load(options.model_name, version, path, options, self.stats)),
            options.file_system_poll_wait_seconds,
        )
        self.port: int | None = None
        self.rest_port: int | None = None
        self.tls: SSLSettings | None = None
        self._grpc: grpc.Server | None = None
        self._http: http.server.ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None

    # -- lifecycle
    def start(self) -> ModelServer:
        """Binds and starts serving; raises TLSConfigError (a ValueError) or OSError before loading anything."""
        o = self.options
        address = _address(o.host, o.port)
        self.tls = _checked_ssl_settings(o.ssl_config_file, o.host) if o.ssl_config_file else None
        configure_tensorflow_threads(o.tensorflow_intra_op_parallelism, o.tensorflow_inter_op_parallelism)
        self.versions.poll()  # serve the newest version from the first request on
        self.versions.start()
        self._grpc = grpc.server(
            concurrent.futures.ThreadPoolExecutor(max_workers=o.grpc_max_workers, thread_name_prefix="grpc"),
            options=[
                ("grpc.max_receive_message_length", o.max_request_bytes),
                ("grpc.max_send_message_length", -1),
                ("grpc.so_reuseport", 0),  # never share the port with another server
            ],
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionServicer(self), self._grpc)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(self), self._grpc)
        try:
            if self.tls is not None:
                self.port = self._grpc.add_secure_port(address, self.tls.credentials())
            else:
                self.port = self._grpc.add_insecure_port(address)
        except RuntimeError as err:
            self.versions.stop()
            raise OSError(f"cannot bind the gRPC port {address}: {err}") from None
        if not self.port:
            self.versions.stop()
            raise OSError(f"cannot bind the gRPC port {address}")
        self._grpc.start()
        log.info("Running gRPC ModelServer at %s:%d%s ...", o.host, self.port, self.tls.describe() if self.tls else "")
        if o.rest_api_port:
            self._http = _RestServer((o.host, o.rest_api_port), _RestHandler, self)
            self.rest_port = self._http.server_address[1]
            self._http_thread = threading.Thread(target=self._http.serve_forever, name="rest", daemon=True)
            self._http_thread.start()
            log.info("Exporting HTTP/REST API at %s:%d ...", o.host, self.rest_port)
            if self.tls is not None:
                log.warning("the REST API at %s:%d is plaintext: --ssl_config_file secures gRPC only (as in TF Serving)",
                            o.host, self.rest_port)
        return self

    def stop(self, grace: float = 5.0) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._grpc is not None:
            self._grpc.stop(grace).wait()
            self._grpc = None
        self.versions.stop()

    def wait(self) -> None:
        """Blocks until SIGINT/SIGTERM (when called from the main thread) and then stops."""
        stop = threading.Event()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda *_: stop.set())
        try:
            while not stop.wait(1.0):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            log.info("Shutting down")
            self.stop()

    def __enter__(self) -> ModelServer:
        return self.start() if self._grpc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- model spec
    def resolve(self, name: str, version: int | None = None, label: str | None = None) -> Servable:
        if label:
            if label not in self.options.version_labels:
                raise _invalid(f"Unrecognized servable version label: {label}")
            version = self.options.version_labels[label]
        request = f"Specific({name}, {version})" if version is not None else f"Latest({name})"
        servable = self.versions.current if name == self.options.model_name else None
        if servable is None or (version is not None and servable.version != version):
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: {request}")
        return servable

    def _resolve_spec(self, spec: Any) -> Servable:
        choice = spec.WhichOneof("version_choice")
        return self.resolve(spec.name, spec.version.value if choice == "version" else None,
                            spec.version_label if choice == "version_label" else None)

    # -- APIs (shared by gRPC and REST)
    def predict(self, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
        if not request.HasField("model_spec"):
            raise _invalid("Missing ModelSpec")
        servable = self._resolve_spec(request.model_spec)
        signature, outputs = servable.predict_request(request, max_rows=self.options.max_batch_rows, max_bytes=self.options.max_request_bytes)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.model_spec.signature_name = signature.name
        for name, value in outputs.items():
            response.outputs[name].CopyFrom(ndarray_to_tensor_proto(value))
        return response

    def metadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest) -> get_model_metadata_pb2.GetModelMetadataResponse:
        if not request.HasField("model_spec"):
            raise _invalid("Missing ModelSpec")
        if not request.metadata_field:
            raise _invalid("GetModelMetadataRequest must specify at least one metadata_field")
        for field in request.metadata_field:
            if field != "signature_def":
                raise _invalid(f"Metadata field {field} is not supported")
        servable = self._resolve_spec(request.model_spec)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        signature_defs = get_model_metadata_pb2.SignatureDefMap()
        for name, signature_def in servable.signature_defs.items():
            signature_defs.signature_def[name].CopyFrom(signature_def)
        response.metadata["signature_def"].Pack(signature_defs)
        return response

    def model_status(self, request: get_model_status_pb2.GetModelStatusRequest) -> get_model_status_pb2.GetModelStatusResponse:
        spec = request.model_spec
        if not spec.name:
            raise _invalid("Missing model name in request.")
        choice = spec.WhichOneof("version_choice")
        version = spec.version.value if choice == "version" else None
        if choice == "version_label":
            if spec.version_label not in self.options.version_labels:
                raise _invalid(f"Unrecognized servable version label: {spec.version_label}")
            version = self.options.version_labels[spec.version_label]
        states = self.versions.states() if spec.name == self.options.model_name else {}
        if not states:
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {spec.name}")
        if version is not None:
            if version not in states:
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find version {version} of model {spec.name}")
            states = {version: states[version]}
        response = get_model_status_pb2.GetModelStatusResponse()
        for number, (state, code, message) in sorted(states.items(), reverse=True):
            status = response.model_version_status.add(version=number, state=state)
            status.status.error_code = code.value[0]
            status.status.error_message = message
        return response

    def handle(self, api: str, fn: Callable[[], Any]) -> Any:
        """Runs one API call, counting it; errors come out as ServingError."""
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            return fn()
        except ServingError as err:
            code = err.code
            raise
        except Exception as err:
            code = grpc.StatusCode.INTERNAL
            log.exception("%s failed", api)
            raise ServingError(code, f"internal error: {type(err).__name__}: {_short(str(err), 500)}") from None
        finally:
            self.stats.request(api, code, time.perf_counter() - started)

    def prometheus_metrics(self) -> str:
        snap = self.stats.snapshot()
        model = self.options.model_name
        lines = []

        def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
            lines.extend([f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"])
            lines.extend(f"{name}{labels} {value}" for labels, value in samples)

        requests = [(k.split("|")[1:], v) for k, v in snap.items() if k.startswith("requests|")]
        metric("prodcat_serving_request_count", "counter", "Requests by API and status code.",
               [(f'{{model_name="{model}",api="{api}",code="{code}"}}', v) for (api, code), v in sorted(requests)])
        latency = sorted((k.split("|")[1], v) for k, v in snap.items() if k.startswith("latency_seconds|"))
        metric("prodcat_serving_request_latency_seconds_sum", "counter", "Total request time by API.",
               [(f'{{model_name="{model}",api="{api}"}}', v) for api, v in latency])
        metric("prodcat_serving_request_latency_seconds_count", "counter", "Timed requests by API.",
               [(f'{{model_name="{model}",api="{api}"}}', snap.get(f"latency_count|{api}", 0)) for api, _ in latency])
        for key, help_text in (("batches", "Batches run by the batcher."), ("merged_batches", "Batches holding 2+ requests."),
                               ("batched_tasks", "Requests run through the batcher."), ("inline_tasks", "Requests run without batching."),
                               ("warmup_requests", "Warm-up requests replayed.")):
            metric(f"prodcat_serving_{key}_total", "counter", help_text, [(f'{{model_name="{model}"}}', snap.get(key, 0))])
        current = self.versions.current
        metric("prodcat_serving_model_version", "gauge", "The version being served (0: none).",
               [(f'{{model_name="{model}"}}', current.version if current is not None else 0)])
        return "\n".join(lines) + "\n"


# ============================================================================= gRPC
def _grpc_call(server: ModelServer, api: str, fn: Callable[[], Any], context: grpc.ServicerContext) -> Any:
    try:
        return server.handle(api, fn)
    except ServingError as err:
        context.abort(err.code, err.message)


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """tensorflow.serving.PredictionService (Classify/Regress/MultiInference answer UNIMPLEMENTED)."""

    def __init__(self, server: ModelServer) -> None:
        self._server = server

    def Predict(self, request, context):  # noqa: N802 (gRPC method names)
        return _grpc_call(self._server, "predict", lambda: self._server.predict(request), context)

    def GetModelMetadata(self, request, context):  # noqa: N802
        return _grpc_call(self._server, "metadata", lambda: self._server.metadata(request), context)


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """tensorflow.serving.ModelService (HandleReloadConfigRequest answers UNIMPLEMENTED)."""

    def __init__(self, server: ModelServer) -> None:
        self._server = server

    def GetModelStatus(self, request, context):  # noqa: N802
        return _grpc_call(self._server, "status", lambda: self._server.model_status(request), context)


# ============================================================================= REST
_HTTP_STATUS = {
    grpc.StatusCode.OK: 200, grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400, grpc.StatusCode.UNAUTHENTICATED: 401, grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.ALREADY_EXISTS: 409, grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNIMPLEMENTED: 501, grpc.StatusCode.UNAVAILABLE: 503, grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
_MODEL_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
                         r"(?:(?P<metadata>/metadata)|:(?P<verb>predict|classify|regress))?/?$")
_JSON_MAX_DEPTH = 16


class _RestServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, model_server: ModelServer) -> None:
        import socket

        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)
        self.model_server = model_server


class _RestHandler(http.server.BaseHTTPRequestHandler):
    """TF Serving's REST API (predict, status, metadata) plus Prometheus metrics."""

    protocol_version = "HTTP/1.1"
    server_version = "prodcat-serve"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        log.debug("REST %s - " + format, self.address_string(), *args)

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload, ensure_ascii=False, indent=2).encode("utf-8"))

    def _error(self, err: ServingError) -> None:
        self._json(_HTTP_STATUS.get(err.code, 500), {"error": err.message})

    def do_GET(self) -> None:  # noqa: N802
        server: ModelServer = self.server.model_server
        path = urllib.parse.urlsplit(self.path).path
        if path == "/monitoring/prometheus/metrics":
            self._send(200, server.prometheus_metrics().encode(), "text/plain; version=0.0.4")
            return
        match = _MODEL_PATH.match(path)
        if not match or match["verb"]:
            self._json(404 if not match else 405, {"error": f"Malformed request: GET {path}"})
            return
        name = urllib.parse.unquote(match["name"])
        version = int(match["version"]) if match["version"] else None
        label = urllib.parse.unquote(match["label"]) if match["label"] else None
        try:
            if match["metadata"]:
                self._json(200, server.handle("metadata", lambda: _rest_metadata(server, name, version, label)))
            else:
                self._json(200, server.handle("status", lambda: _rest_status(server, name, version, label)))
        except ServingError as err:
            self._error(err)

    def do_POST(self) -> None:  # noqa: N802
        server: ModelServer = self.server.model_server
        path = urllib.parse.urlsplit(self.path).path
        match = _MODEL_PATH.match(path)
        if not match or not match["verb"]:
            self._drain()
            self._json(404, {"error": f"Malformed request: POST {path}"})
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            self._json(411, {"error": "Content-Length required"})
            return
        if length < 0 or length > server.options.max_request_bytes:
            self.close_connection = True
            self._json(413, {"error": f"request body of {length} bytes exceeds --max_request_bytes={server.options.max_request_bytes}"})
            return
        body = self.rfile.read(length)
        if match["verb"] != "predict":
            self._json(501, {"error": f"{match['verb']} is not supported by this server (only predict)"})
            return
        name = urllib.parse.unquote(match["name"])
        version = int(match["version"]) if match["version"] else None
        label = urllib.parse.unquote(match["label"]) if match["label"] else None
        try:
            self._json(200, server.handle("predict_rest", lambda: _rest_predict(server, name, version, label, body)))
        except ServingError as err:
            self._error(err)

    def _drain(self) -> None:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = 0
        if 0 < length <= self.server.model_server.options.max_request_bytes:
            self.rfile.read(length)
        elif length:
            self.close_connection = True


def _rest_status(server: ModelServer, name: str, version: int | None, label: str | None) -> dict:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    elif label:
        request.model_spec.version_label = label
    response = server.model_status(request)
    return {"model_version_status": [
        {"version": str(s.version), "state": State.Name(s.state),
         "status": {"error_code": _CODES_BY_VALUE[s.status.error_code].name if s.status.error_code in _CODES_BY_VALUE else str(s.status.error_code),
                    "error_message": s.status.error_message}}
        for s in response.model_version_status
    ]}


def _rest_metadata(server: ModelServer, name: str, version: int | None, label: str | None) -> dict:
    from google.protobuf import json_format

    servable = server.resolve(name, version, label)
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    for key, signature_def in servable.signature_defs.items():
        signature_defs.signature_def[key].CopyFrom(signature_def)
    return {
        "model_spec": {"name": servable.name, "signature_name": "", "version": str(servable.version)},
        "metadata": {"signature_def": _message_to_dict(json_format, signature_defs)},
    }


def _message_to_dict(json_format: Any, message: Any) -> dict:
    """Like TF Serving's JSON: proto field names, default values printed ("unknown_rank": false)."""
    try:
        return json_format.MessageToDict(message, preserving_proto_field_name=True, including_default_value_fields=True)
    except TypeError:  # protobuf >= 5.26 renamed the option
        return json_format.MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def _rest_predict(server: ModelServer, name: str, version: int | None, label: str | None, body: bytes) -> dict:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as err:
        raise _invalid(f"JSON Parse error: {err}") from None
    if not isinstance(payload, dict):
        raise _invalid("JSON Value: the request body must be an object")
    servable = server.resolve(name, version, label)
    signature_name = payload.get("signature_name") or DEFAULT_SIGNATURE
    if not isinstance(signature_name, str):
        raise _invalid("'signature_name' must be a string")
    signature = servable.signature(signature_name)
    has_instances, has_inputs = "instances" in payload, "inputs" in payload
    if has_instances == has_inputs:
        raise _invalid("JSON Value: must have exactly one of 'instances' (row format) or 'inputs' (columnar format)")
    arrays = _instances_to_arrays(signature, payload["instances"]) if has_instances else _inputs_to_arrays(signature, payload["inputs"])
    _check_rows({name: array.shape for name, array in arrays.items()}, server.options.max_batch_rows)
    outputs = servable.predict(signature, arrays, ())
    if has_instances:
        rows = {n: v.shape[0] if v.ndim else None for n, v in outputs.items()}
        if len(set(rows.values())) != 1 or None in rows.values():
            raise _invalid(f"outputs have different batch sizes {rows}; use the columnar 'inputs' format")
        if len(outputs) == 1:
            (value,) = outputs.values()
            return {"predictions": [_to_json(row, _is_bytes_name(next(iter(outputs)))) for row in value]}
        names = list(outputs)
        return {"predictions": [{n: _to_json(outputs[n][i], _is_bytes_name(n)) for n in names} for i in range(next(iter(rows.values())))]}
    if len(outputs) == 1:
        (output_name, value), = outputs.items()
        return {"outputs": _to_json(value, _is_bytes_name(output_name))}
    return {"outputs": {n: _to_json(v, _is_bytes_name(n)) for n, v in outputs.items()}}


def _is_bytes_name(name: str) -> bool:
    return name.endswith("_bytes")


def _to_json(value: Any, as_b64: bool) -> Any:
    if isinstance(value, np.ndarray):
        return [_to_json(v, as_b64) for v in value] if value.ndim else _to_json(value.item(), as_b64)
    if isinstance(value, bytes):
        if not as_b64:
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                pass
        return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value).replace("inf", "Infinity").replace("nan", "NaN")
    return value


def _instances_to_arrays(signature: Signature, instances: Any) -> dict[str, np.ndarray]:
    if not isinstance(instances, list) or not instances:
        raise _invalid("'instances' must be a non-empty list")
    named = all(isinstance(row, dict) and not _is_b64(row) for row in instances)
    if not named:
        if any(isinstance(row, dict) and not _is_b64(row) for row in instances):
            raise _invalid("'instances' mixes named (object) and unnamed values")
        if len(signature.inputs) != 1:
            raise _invalid(f"unnamed 'instances' need a signature with one input; {signature.name} takes {sorted(signature.inputs)}")
        (input_name,) = signature.inputs
        return {input_name: _json_to_array(input_name, instances, signature.inputs[input_name])}
    keys = set(instances[0])
    for index, row in enumerate(instances):
        if set(row) != keys:
            raise _invalid(f"instance {index} has inputs {sorted(row)}, instance 0 has {sorted(keys)}; all instances must name the same inputs")
    _check_names(signature, keys)
    return {name: _json_to_array(name, [row[name] for row in instances], signature.inputs[name]) for name in keys}


def _inputs_to_arrays(signature: Signature, inputs: Any) -> dict[str, np.ndarray]:
    if isinstance(inputs, dict) and not _is_b64(inputs):
        _check_names(signature, inputs.keys())
        return {name: _json_to_array(name, value, signature.inputs[name]) for name, value in inputs.items()}
    if len(signature.inputs) != 1:
        raise _invalid(f"unnamed 'inputs' need a signature with one input; {signature.name} takes {sorted(signature.inputs)}")
    (input_name,) = signature.inputs
    return {input_name: _json_to_array(input_name, inputs, signature.inputs[input_name])}


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def _json_to_array(name: str, value: Any, spec: Any) -> np.ndarray:
    """A (nested) JSON list as a numpy array of the input's dtype; shapes must be rectangular."""
    import tensorflow as tf

    shape: list[int] = []
    probe = value
    while isinstance(probe, list):
        shape.append(len(probe))
        if len(shape) > _JSON_MAX_DEPTH:
            raise _invalid(f"input {name!r} is nested too deeply")
        probe = probe[0] if probe else None
    leaves: list[Any] = []

    def walk(node: Any, depth: int) -> None:
        if depth == len(shape):
            if isinstance(node, list):
                raise _invalid(f"input {name!r} is not a rectangular tensor (shape {shape} expected)")
            leaves.append(node)
            return
        if not isinstance(node, list) or len(node) != shape[depth]:
            raise _invalid(f"input {name!r} is not a rectangular tensor (shape {shape} expected); pad lists to equal length")
        for child in node:
            walk(child, depth + 1)

    walk(value, 0)
    if len(leaves) > MAX_TENSOR_ELEMENTS:
        raise _invalid(f"input {name!r} has {len(leaves)} elements (at most {MAX_TENSOR_ELEMENTS})")
    if spec.dtype == tf.string:
        out = np.empty(len(leaves), dtype=object)
        for i, leaf in enumerate(leaves):
            if isinstance(leaf, str):
                out[i] = leaf.encode("utf-8")
            elif _is_b64(leaf) and isinstance(leaf["b64"], str):
                try:
                    out[i] = base64.b64decode(leaf["b64"], validate=True)
                except (binascii.Error, ValueError):
                    raise _invalid(f"input {name!r}: invalid base64 in a b64 value") from None
            else:
                raise _invalid(f"input {name!r} expects strings (or {{\"b64\": ...}}), got {type(leaf).__name__}")
        return out.reshape(shape)
    np_dtype = spec.dtype.as_numpy_dtype
    for leaf in leaves:
        ok = isinstance(leaf, bool) if spec.dtype == tf.bool else isinstance(leaf, (int, float)) and not isinstance(leaf, bool)
        if not ok or (isinstance(leaf, float) and spec.dtype.is_integer):
            raise _invalid(f"input {name!r} expects {spec.dtype.name} values, got {leaf!r:.40}")
    try:
        return np.array(leaves, dtype=np_dtype).reshape(shape)
    except (OverflowError, ValueError) as err:
        raise _invalid(f"input {name!r}: {err}") from None


# ============================================================================= entry points
def serve(
    model_base_path: str | os.PathLike,
    model_name: str = "prodcat",
    port: int = 8500,
    rest_api_port: int = 0,
    host: str = "127.0.0.1",
    file_system_poll_wait_seconds: float = 2.0,
    enable_batching: bool = True,
    max_batch_size: int = 32,
    batch_timeout_micros: int = 1000,
    num_batch_threads: int = 1,
    max_enqueued_batches: int = 100,
    max_request_bytes: int = 64 * 1024 * 1024,
    grpc_max_workers: int = 64,
    version_labels: Mapping[str, int] | None = None,
    wait: bool = True,
    max_batch_rows: int = 1024,
    ssl_config_file: str | os.PathLike = "",
    tensorflow_intra_op_parallelism: int = 0,
    tensorflow_inter_op_parallelism: int = 0,
) -> ModelServer:
    """Starts the server on `model_base_path` (numbered SavedModel versions).

    With `wait` (the CLI), blocks until SIGINT/SIGTERM and shuts down cleanly; without, returns the
    running `ModelServer` (its `port`/`rest_port` are the bound ports; call `stop()`).
    Raises ValueError for bad options (TLSConfigError for an unusable `ssl_config_file`) and OSError
    if a port cannot be bound.
    """
    options = ServerOptions(
        model_base_path=str(model_base_path), model_name=model_name, port=port, rest_api_port=rest_api_port, host=host,
        file_system_poll_wait_seconds=file_system_poll_wait_seconds, enable_batching=enable_batching,
        max_batch_size=max_batch_size, batch_timeout_micros=batch_timeout_micros,
        num_batch_threads=num_batch_threads,
        tensorflow_intra_op_parallelism=tensorflow_intra_op_parallelism,
        tensorflow_inter_op_parallelism=tensorflow_inter_op_parallelism,
        max_enqueued_batches=max_enqueued_batches, max_request_bytes=max_request_bytes, grpc_max_workers=grpc_max_workers,
        version_labels=dict(version_labels or {}), max_batch_rows=max_batch_rows, ssl_config_file=os.fspath(ssl_config_file),
    )
    server = ModelServer(options).start()
    if wait:
        server.wait()
    return server


def _flag_bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def _label(value: str) -> tuple[str, int]:
    label, sep, version = value.partition("=")
    if not sep or not label or not version.isdigit():
        raise argparse.ArgumentTypeError(f"expected LABEL=VERSION, got {value!r}")
    return label, int(version)


def build_arg_parser() -> argparse.ArgumentParser:
    d = ServerOptions(model_base_path="")
    p = argparse.ArgumentParser(
        prog="prodcat serve", description="Serve a pushed prodcat model over TF Serving's gRPC (and REST) API. Flags are "
        "tensorflow_model_server's (--model_base_path); the hyphenated spellings (--model-base-path) work too.")
    p.add_argument("--model_base_path", "--model-base-path", required=True, help="the model base path (numbered SavedModel versions)")
    p.add_argument("--model_name", "--model-name", default=d.model_name, help="name clients put in model_spec (default: %(default)s)")
    p.add_argument("--port", type=int, default=d.port, help="gRPC port (default: %(default)s; 0: any free port)")
    p.add_argument("--rest_api_port", "--rest-api-port", type=int, default=d.rest_api_port, help="REST port (default: 0, off)")
    p.add_argument("--host", default=d.host, help="address to bind (default: %(default)s, loopback only)")
    p.add_argument("--file_system_poll_wait_seconds", "--file-system-poll-wait-seconds", type=float, default=d.file_system_poll_wait_seconds,
                   help="how often to look for new versions (default: %(default)s)")
    p.add_argument("--enable_batching", "--enable-batching", type=_flag_bool, nargs="?", const=True, default=d.enable_batching,
                   help="merge concurrent requests into batches (default: true)")
    p.add_argument("--max_batch_size", "--max-batch-size", type=int, default=d.max_batch_size, help="rows per batch (default: %(default)s)")
    p.add_argument("--batch_timeout_micros", "--batch-timeout-micros", type=int, default=d.batch_timeout_micros,
                   help="how long a batch waits to fill (default: %(default)s)")
    p.add_argument("--num_batch_threads", "--num-batch-threads", type=int, default=d.num_batch_threads,
                   help="batches run in parallel per signature (default: %(default)s)")
    p.add_argument("--tensorflow_intra_op_parallelism", "--tensorflow-intra-op-parallelism", type=int, default=d.tensorflow_intra_op_parallelism,
                   help="threads one op may use (default: 0, TensorFlow's choice: every core)")
    p.add_argument("--tensorflow_inter_op_parallelism", "--tensorflow-inter-op-parallelism", type=int, default=d.tensorflow_inter_op_parallelism,
                   help="ops run at once across all calls (default: 0, TensorFlow's choice)")
    p.add_argument("--max_enqueued_batches", "--max-enqueued-batches", type=int, default=d.max_enqueued_batches,
                   help="queue bound, in batches; beyond it requests get UNAVAILABLE (default: %(default)s)")
    p.add_argument("--max_request_bytes", "--max-request-bytes", type=int, default=d.max_request_bytes,
                   help="largest request accepted (gRPC receive limit, REST body limit, and what a request may decode to; "
                        "beyond it RESOURCE_EXHAUSTED / HTTP 413; default: %(default)s)")
    p.add_argument("--max_batch_rows", "--max-batch-rows", type=int, default=d.max_batch_rows,
                   help="most rows (dimension 0) one request may carry; beyond it INVALID_ARGUMENT / HTTP 400 "
                        "(default: %(default)s; 0: no limit)")
    p.add_argument("--ssl_config_file", "--ssl-config-file", default=d.ssl_config_file, metavar="FILE",
                   help="serve gRPC over TLS: a text-format tensorflow.serving.SSLConfig (server_key, server_cert, custom_ca, "
                        "client_verify), as tensorflow_model_server; client_verify: true requires client certificates "
                        "signed by custom_ca (default: plaintext)")
    p.add_argument("--grpc_max_workers", "--grpc-max-workers", type=int, default=d.grpc_max_workers,
                   help="concurrent gRPC calls handled (default: %(default)s)")
    p.add_argument("--version_label", "--version-label", dest="version_labels", type=_label, action="append", default=[],
                   metavar="LABEL=VERSION", help="assign a version label (repeatable), e.g. stable=1700000000")
    p.add_argument("--log_level", "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_arg_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        serve(
            args.model_base_path, model_name=args.model_name, port=args.port, rest_api_port=args.rest_api_port,
            host=args.host, file_system_poll_wait_seconds=args.file_system_poll_wait_seconds,
            enable_batching=args.enable_batching, max_batch_size=args.max_batch_size,
            batch_timeout_micros=args.batch_timeout_micros, num_batch_threads=args.num_batch_threads,
            tensorflow_intra_op_parallelism=args.tensorflow_intra_op_parallelism,
            tensorflow_inter_op_parallelism=args.tensorflow_inter_op_parallelism,
            max_enqueued_batches=args.max_enqueued_batches, max_request_bytes=args.max_request_bytes,
            grpc_max_workers=args.grpc_max_workers, version_labels=dict(args.version_labels),
            max_batch_rows=args.max_batch_rows, ssl_config_file=args.ssl_config_file,
        )
    except (ValueError, OSError) as err:
        log.error("%s", err)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
