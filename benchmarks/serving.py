"""Online serving latency and throughput of `prodcat serve`, against batch prediction, in one run.

    python -m benchmarks.serving --model-base-path DIR [--products FILE] [--requests 1000]
        [--batch-requests 200] [--concurrency 1,8,32] [--batch-size 64] [--workers 1,2] [--json OUT]

`--workers 1,2` runs the whole benchmark for `prodcat serve --workers 1`, then `--workers 2`, and
prints them side by side.

Starts `prodcat serve` (`python -m prodcat.serving.server`) as a separate process on a free port
and drives it from a second separate process, the load generator: one thread and one gRPC
connection per concurrent client, sending pre-serialized PredictRequests (`serving_raw`, built here with
`PredictionClient.build_request`, so exactly what the client sends) through a raw-bytes stub. The
generator imports neither TensorFlow nor protobuf messages, so its own CPU use stays small; the
table shows it next to the server's (CPU seconds per wall second, i.e. cores busy).

Phases: single-product requests at each concurrency, then `--batch-size`-product requests at each
concurrency; each phase after its own short warm-up (one request per worker, not counted). For
each: p50/p95/p99 latency, requests/s, products/s, errors by gRPC code and how the server's batcher
merged requests (from its Prometheus metrics). Server RSS (VmRSS of /proc/<pid>/status) is read
with the model loaded and idle, after a global warm-up, and after the run.

On the same products, while the server is idle, once before and once after the serving phases:
`prodcat predict` (`predict_file` on the products written as JSONL; its steady-state rate after the
first batch, as `prodcat bench batch` measures it) and, in this (the benchmark's) process,
`Predictor.predict` with the model already loaded, in batches of `--predict-batch-size`, one call
per core at once as `prodcat predict` runs them (so this process's TensorFlow has `prodcat
predict`'s thread settings). The target
ratio is "serving products/s at the top concurrency / `prodcat predict` products/s" (the mean of
before and after); the ratio to Predictor.predict (no file I/O) is printed beside it. The machine
is shared: only ratios measured here, side by side, are comparable across runs; absolute figures
come with the machine and its load average.

`--target HOST:PORT` drives a TF Serving-compatible server that is already running instead (e.g.
`tensorflow_model_server --model_base_path=DIR`, where the binary is installed), so the C++
server's figures sit beside `prodcat predict` on the same machine; `--server-pid` lets the
benchmark read that server's RSS and CPU.

Products: `--products FILE`, else the demo data next to the model (`<output>/demo_data/*/
products.jsonl` of `prodcat run --output <output>`), else generated with prodcat.synth over
$PRODCAT_TAXONOMY.

The helpers here (server process, load generator, machine info, product loading) are shared with
benchmarks/soak.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


# Nothing above imports TensorFlow, grpc or prodcat: the load generator process imports this
# module and must stay light. Heavy imports happen inside the functions that need them.

REPO = Path(__file__).resolve().parents[1]
PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"
MODEL_NAME = "prodcat"
SERVER_MODULE = "prodcat.serving.server"  # `prodcat serve`
REPLAY_MODULE = "prodcat.benchmarks.replay_server"  # `prodcat serve` with model calls replayed (--replay-model)

TARGET_P99_MS_C1 = 30.0
TARGET_RATIO = 2 / 3


# ============================================================================= machine
@dataclasses.dataclass(frozen=True)
class MachineInfo:
    """What the figures were measured on: CPUs, memory, load average (1/5/15 min) before and after."""

    hostname: str
    cpu_count: int
    cpus_usable: int
    cpu_model: str
    mem_total_mib: float
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @classmethod
    def now(cls) -> MachineInfo:
        mem = _proc_kib("/proc/meminfo", "MemTotal")
        try:
            usable = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            usable = os.cpu_count() or 1
        return cls(socket.gethostname(), os.cpu_count() or 1, usable, cpu_model(), (mem or 0) / 1024, os.getloadavg())

    def finish(self) -> MachineInfo:
        return dataclasses.replace(self, load_after=os.getloadavg())

    def describe(self) -> str:
        fmt = lambda load: " ".join(f"{v:.2f}" for v in load)  # noqa: E731
        return (f"machine: {self.hostname}, {self.cpu_count} CPUs ({self.cpus_usable} usable, shared), {self.cpu_model}, "
                f"{self.mem_total_mib / 1024:.1f} GiB RAM\n"
                f"load average (1/5/15 min): before {fmt(self.load_before)}, after {fmt(self.load_after)}")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def _proc_kib(path: str, key: str) -> int | None:
    """A `Key:  123 kB` value of a /proc status-like file, in KiB (None if absent)."""
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100, linear interpolation); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


# ============================================================================= products
def find_demo_products(model_base_path: str | os.PathLike) -> Path | None:
    """The newest `demo_data/*/products.jsonl` of the `prodcat run --output` dir holding the model."""
    path = Path(model_base_path).resolve()
    for parent in [path, *path.parents][:4]:
        candidates = sorted((parent / "demo_data").glob("*/products.jsonl"), key=lambda p: p.stat().st_mtime)
        if candidates:
            return candidates[-1]
    return None


def load_products(
    n: int, products_path: str | os.PathLike | None = None, model_base_path: str | os.PathLike | None = None, seed: int = 0,
) -> tuple[list[Any], str]:
    """`n` products (prodcat.records.Product) and where they came from.

    From `products_path`, else the demo data next to the model, else prodcat.synth over the
    taxonomy of $PRODCAT_TAXONOMY. A file with fewer than `n` products is cycled (ids suffixed
    `~k`, since ids must be unique).
    """
    from prodcat.readers import read_products

    path = Path(products_path) if products_path else (find_demo_products(model_base_path) if model_base_path else None)
    if path is not None:
        pool = read_products(path)
        source = str(path)
        if not pool:
            raise ValueError(f"{path}: no products")
    else:
        from prodcat.synth import SynthConfig, generate
        from prodcat.taxonomy import load_taxonomy

        pool = generate(load_taxonomy(), SynthConfig(n_products=max(n, 100), seed=seed))
        source = f"prodcat.synth (seed {seed}) over {os.environ.get('PRODCAT_TAXONOMY') or 'the default taxonomy'}"
    products = pool[:n]
    for k in itertools.count(1):
        if len(products) >= n:
            break
        products += [dataclasses.replace(p, id=f"{p.id}~{k}") for p in pool[: n - len(products)]]
    if len(pool) < n:
        source += f" ({len(pool)} products, cycled)"
    return products, source


# ============================================================================= the server process
def _proc_mib(pid: int, key: str) -> float:
    """A memory figure of /proc/<pid>/status (VmRSS, VmHWM) in MiB (NaN if it cannot be read)."""
    kib = _proc_kib(f"/proc/{pid}/status", key)
    return float("nan") if kib is None else kib / 1024


def _proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (NaN if it cannot be read)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


class _ProcessFigures:
    """RSS, peak RSS and CPU seconds of the server's process and its children (`--workers`) from /proc (NaN without a pid)."""

    pid: int | None

    def _pids(self) -> list[int]:
        import psutil

        try:
            return [self.pid, *(child.pid for child in psutil.Process(self.pid).children(recursive=True))]
        except psutil.Error:
            return [self.pid]

    def _sum(self, figure: Callable[[int], float]) -> float:
        return sum(figure(pid) for pid in self._pids()) if self.pid else float("nan")

    def rss_mib(self) -> float:
        return self._sum(lambda pid: _proc_mib(pid, "VmRSS"))

    def peak_rss_mib(self) -> float:
        """The sum of each process's own peak (with workers, an upper bound on the peak of the whole)."""
        return self._sum(lambda pid: _proc_mib(pid, "VmHWM"))

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server's processes so far."""
        return self._sum(_proc_cpu_seconds)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _workers_in(server_args: Sequence[str]) -> int:
    """Server processes the flags ask for (`--workers`; 0 is one per core)."""
    from prodcat.serving.server import ServerOptions, build_arg_parser
    from prodcat.serving.server.workers import worker_count

    args = build_arg_parser().parse_known_args(["--model_base_path=.", *server_args])[0]
    return worker_count(ServerOptions.from_args(args).workers)


class ServerProcess(_ProcessFigures):
    """`python -m prodcat.serving.server` in a child process, with gRPC and REST on free ports.

    Its output goes to `log_path` (a temporary file by default). `start()` returns once a
    version is AVAILABLE; `stop()` sends SIGTERM (then SIGKILL) to this one process.
    """

    def __init__(
        self, model_base_path: str | os.PathLike, extra_args: Sequence[str] = (), *, log_path: str | os.PathLike | None = None,
        startup_timeout_s: float = 600.0, model_name: str = MODEL_NAME, module: str = SERVER_MODULE,
    ) -> None:
        self.module = module  # benchmarks.replay_server: the same server without model calls
        self.model_base_path = str(Path(model_base_path).resolve())
        self.extra_args, self.model_name, self.startup_timeout_s = list(extra_args), model_name, startup_timeout_s
        self.workers = _workers_in(self.extra_args)
        self.log_path = Path(log_path) if log_path else None
        self.proc: subprocess.Popen | None = None
        self.port = self.rest_port = 0
        self.startup_s = 0.0
        self.version: int | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def command(self) -> list[str]:
        return [sys.executable, "-m", self.module, f"--model_base_path={self.model_base_path}",
                f"--model_name={self.model_name}", f"--port={self.port}", f"--rest_api_port={self.rest_port}",
                "--log_level=WARNING", *self.extra_args]

    def start(self) -> ServerProcess:
        import tempfile

        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="prodcat-serve-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        last_error = ""
        for _ in range(3):  # a port picked free may be taken by the time the server binds it
            self.port, self.rest_port = free_port(), free_port()
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
            started = time.monotonic()
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
            try:
                self._wait_ready()
                self.startup_s = time.monotonic() - started
                return self
            except _ServerExited as err:
                last_error = str(err)
                if "cannot bind" not in last_error:
                    break
        raise RuntimeError(f"prodcat serve did not start: {last_error}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise _ServerExited(f"exited with status {self.proc.returncode}; log {self.log_path}:\n{self.log_tail()}")
            status = self.status()
            available = [s for s in status if s.get("state") == "AVAILABLE"]
            if available and self._listening() >= self.workers:
                self.version = int(available[0]["version"])
                return
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"prodcat serve was not ready after {self.startup_timeout_s:.0f} s; log {self.log_path}:\n{self.log_tail()}")

    def _listening(self) -> int:
        """How many of the server's processes listen on its gRPC port (with `--workers`, the workers that serve)."""
        import psutil

        listening = 0
        for pid in self._pids():
            try:
                connections = psutil.Process(pid).net_connections(kind="tcp")
            except psutil.Error:
                continue
            listening += any(c.status == psutil.CONN_LISTEN and c.laddr.port == self.port for c in connections)
        return listening

    def status(self) -> list[dict]:
        """GetModelStatus over REST ([] if the server does not answer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.rest_port}/v1/models/{self.model_name}", timeout=5) as r:
                return json.loads(r.read()).get("model_version_status", [])
        except (OSError, ValueError, urllib.error.URLError):
            return []

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def available(self) -> bool:
        return self.alive() and any(s.get("state") == "AVAILABLE" for s in self.status())

    def metrics(self) -> dict[str, float]:
        """The server's Prometheus counters, summed over labels, plus `requests_<CODE>` per status code."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.rest_port}/monitoring/prometheus/metrics", timeout=5) as r:
                text = r.read().decode("utf-8")
        except (OSError, urllib.error.URLError):
            return {}
        out: dict[str, float] = {}
        for line in text.splitlines():
            match = re.match(r"^prodcat_serving_(\w+?)(?:_total)?(\{[^}]*\})?\s+(\S+)$", line)
            if not match:
                continue
            name, labels, value = match.groups()
            out[name] = out.get(name, 0.0) + float(value)
            if name == "request_count" and labels:
                code = re.search(r'code="(\w+)"', labels)
                if code:
                    key = f"requests_{code.group(1)}"
                    out[key] = out.get(key, 0.0) + float(value)
        return out

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(Path(self.log_path).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def __enter__(self) -> ServerProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _ServerExited(RuntimeError):
    pass


class ExternalServer(_ProcessFigures):
    """A TF Serving-compatible server already running at `target` (e.g. `tensorflow_model_server`).

    The benchmark drives it as it drives `prodcat serve`, so the C++ server's figures can be set
    beside `prodcat predict` on the same machine. With `pid` (a process on this machine) its RSS
    and CPU are read from /proc; without, they are NaN. Its batching counters are not read (TF
    Serving names its metrics differently), so requests per batch are NaN.
    """

    def __init__(self, target: str, model_name: str = MODEL_NAME, pid: int | None = None, startup_timeout_s: float = 60.0) -> None:
        self.target, self.model_name, self._pid = target, model_name, pid
        self.startup_timeout_s, self.startup_s = startup_timeout_s, 0.0
        self.version: int | None = None

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def command(self) -> list[str]:
        return ["(external)", self.target, f"model {self.model_name}"] + ([f"pid {self._pid}"] if self._pid else [])

    def start(self) -> ExternalServer:
        """Waits until the model has an AVAILABLE version (GetModelStatus over gRPC)."""
        from prodcat.serving.client import PredictionClient, PredictionError

        if self._pid is not None and not Path(f"/proc/{self._pid}").exists():
            raise RuntimeError(f"--server-pid {self._pid}: no such process on this machine")
        deadline, last = time.monotonic() + self.startup_timeout_s, ""
        with PredictionClient(self.target, self.model_name, timeout=10) as client:
            while time.monotonic() < deadline:
                try:
                    available = [s for s in client.model_status() if s.state == "AVAILABLE"]
                except PredictionError as err:
                    available, last = [], str(err)
                if available:
                    self.version = max(s.version for s in available)
                    return self
                time.sleep(0.5)
        raise RuntimeError(f"no AVAILABLE version of model {self.model_name!r} at {self.target} after "
                           f"{self.startup_timeout_s:.0f} s{': ' + last if last else ''}")

    def metrics(self) -> dict[str, float]:
        return {}

    def __enter__(self) -> ExternalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        pass  # not ours to stop


# ============================================================================= load generation
@dataclasses.dataclass
class LoadSpec:
    """One load phase, run by `run_load` (in the load generator process).

    `n_requests` valid requests cycling through `requests` (serialized PredictRequests) from
    `concurrency` threads. With `abusive` and `abuse_every`, one abusive request (cycling through
    the kinds) follows every `abuse_every` valid ones in the global order.
    """

    target: str
    requests: list[bytes]
    n_requests: int
    concurrency: int
    timeout_s: float = 60.0
    abusive: list[tuple[str, bytes]] = dataclasses.field(default_factory=list)
    abuse_every: int = 0


@dataclasses.dataclass
class AbuseOutcome:
    kind: str
    code: str  # gRPC status code name ("OK" if it unexpectedly succeeded)
    details: str
    latency_s: float


@dataclasses.dataclass
class LoadResult:
    n_ok: int
    errors: dict[str, int]  # gRPC code name -> failed valid requests
    error_samples: list[str]
    latencies_s: list[float]  # successful valid requests
    wall_s: float
    client_cpu_s: float  # CPU time of the whole load generator process during the phase
    first_response: bytes | None  # one successful response, to check its content
    abuse: list[AbuseOutcome] = dataclasses.field(default_factory=list)

    @property
    def n_errors(self) -> int:
        return sum(self.errors.values())


def run_load(spec: LoadSpec) -> LoadResult:
    """Sends the phase's requests; runs in the load generator process (needs only grpc)."""
    import grpc

    # One connection per concurrent client, as independent clients have: with `--workers` the kernel
    # spreads connections (not requests) over the server's processes.
    channels = [grpc.insecure_channel(spec.target, options=[
        ("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1), ("grpc.use_local_subchannel_pool", 1),
    ]) for _ in range(max(1, spec.concurrency))]
    schedule: list[tuple[bool, int]] = []  # (abusive, index)
    abuse_count = 0
    for i in range(spec.n_requests):
        schedule.append((False, i))
        if spec.abusive and spec.abuse_every and (i + 1) % spec.abuse_every == 0:
            schedule.append((True, abuse_count))
            abuse_count += 1
    counter = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    errors: dict[str, int] = {}
    samples: list[str] = []
    abuse: list[AbuseOutcome] = []
    first: list[bytes] = []

    def worker(channel: grpc.Channel) -> None:
        predict = channel.unary_unary(PREDICT_METHOD)  # no (de)serializers: bytes in, bytes out
        mine: list[float] = []
        while True:
            k = next(counter)
            if k >= len(schedule):
                break
            abusive, index = schedule[k]
            kind, payload = spec.abusive[index % len(spec.abusive)] if abusive else ("", spec.requests[index % len(spec.requests)])
            started = time.perf_counter()
            try:
                response = predict(payload, timeout=spec.timeout_s)
                code, details = "OK", ""
            except grpc.RpcError as err:
                response, code, details = None, err.code().name, err.details() or ""
            except Exception as err:  # a client-side failure counts as an error too
                response, code, details = None, f"CLIENT_{type(err).__name__}", str(err)
            elapsed = time.perf_counter() - started
            if abusive:
                with lock:
                    abuse.append(AbuseOutcome(kind, code, details[:300], elapsed))
            elif code == "OK":
                mine.append(elapsed)
                if not first:
                    with lock:
                        first.append(response)
            else:
                with lock:
                    errors[code] = errors.get(code, 0) + 1
                    if len(samples) < 5:
                        samples.append(f"{code}: {details[:300]}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(channel,), name=f"load-{i}", daemon=True) for i, channel in enumerate(channels)]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    for channel in channels:
        channel.close()
    return LoadResult(len(latencies), errors, samples, latencies, wall, cpu, first[0] if first else None, abuse)


class LoadGenerator:
    """A separate (spawned) process that runs `run_load` phases; reused across phases."""

    def __init__(self) -> None:
        import concurrent.futures
        import multiprocessing

        self._pool = concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))

    def run(self, spec: LoadSpec) -> LoadResult:
        return self._pool.submit(run_load, spec).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> LoadGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serialized_requests(target: str, products: Sequence[Any], per_request: int, model_name: str = MODEL_NAME) -> list[bytes]:
    """PredictRequests of `per_request` consecutive products each, as the client builds them."""
    from prodcat.serving.client import PredictionClient

    with PredictionClient(target, model_name) as client:
        return [client.build_request(list(products[i:i + per_request])).SerializeToString()
                for i in range(0, len(products) - per_request + 1, per_request)]


def check_response(payload: bytes | None, rows: int) -> str | None:
    """None if `payload` is a PredictResponse with `rows` decodable predictions, else what is wrong."""
    if payload is None:
        return "no successful response"
    from tensorflow_serving.apis import predict_pb2

    from prodcat.serving.tensor_codec import tensor_proto_to_ndarray
    from prodcat.contract.signatures import predictions_from_outputs

    response = predict_pb2.PredictResponse.FromString(payload)
    outputs = {name: tensor_proto_to_ndarray(t) for name, t in response.outputs.items()}
    try:
        predictions = predictions_from_outputs([str(i) for i in range(rows)], outputs)
    except (KeyError, IndexError, ValueError) as err:
        return f"undecodable response: {type(err).__name__}: {err}"
    if len(predictions) != rows or any(len(np_rows) != rows for np_rows in outputs.values()):
        return f"expected {rows} rows, got {[len(v) for v in outputs.values()]}"
    return None


# ============================================================================= batch predict
@dataclasses.dataclass(frozen=True)
class PredictThroughput:
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


# ============================================================================= the benchmark
@dataclasses.dataclass
class PhaseResult:
    """One (request size, concurrency) phase against the server."""

    products_per_request: int
    concurrency: int
    requests: int
    errors: dict[str, int]
    error_samples: list[str]
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    wall_s: float
    server_cpu_s: float
    client_cpu_s: float
    batches: float  # batcher runs during the phase (server metrics)
    batched_requests: float  # requests that went through the batcher
    inline_requests: float  # requests run outside the batcher (e.g. larger than max_batch_size)
    response_problem: str | None  # None: a sample response decoded to the right number of predictions

    @property
    def n_errors(self) -> int:
        return sum(self.errors.values())

    @property
    def requests_per_s(self) -> float:
        return (self.requests - self.n_errors) / self.wall_s if self.wall_s > 0 else float("nan")

    @property
    def products_per_s(self) -> float:
        return self.requests_per_s * self.products_per_request

    @property
    def label(self) -> str:
        return "single" if self.products_per_request == 1 else f"batch{self.products_per_request}"


@dataclasses.dataclass
class ServingBenchmarkResult:
    machine: MachineInfo
    model_base_path: str
    model_version: int | None
    products_source: str
    n_products: int
    server_command: list[str]
    server_startup_s: float
    rss_idle_mib: float  # model loaded, before any request
    rss_warm_mib: float  # after the global warm-up
    rss_end_mib: float  # after all phases
    rss_peak_mib: float  # VmHWM at the end
    phases: list[PhaseResult]
    predictor_load_s: float
    predict_before: PredictThroughput
    predict_after: PredictThroughput
    predict_file_before: Any  # benchmarks.batch.PredictFileRun: `prodcat predict` on the same products
    predict_file_after: Any
    workers: int = 1  # server processes (`--workers`)

    @property
    def predict_products_per_s(self) -> float:
        """In-process Predictor.predict (model loaded, no I/O): the stricter reference."""
        return (self.predict_before.products_per_s + self.predict_after.products_per_s) / 2

    @property
    def predict_file_products_per_s(self) -> float:
        """`prodcat predict` (read, predict, write JSON lines), steady state: what the target compares with."""
        return (self.predict_file_before.steady_products_per_s + self.predict_file_after.steady_products_per_s) / 2

    def phase(self, products_per_request: int, concurrency: int) -> PhaseResult | None:
        return next((p for p in self.phases if p.products_per_request == products_per_request and p.concurrency == concurrency), None)

    def ratio(self, products_per_request: int = 1, concurrency: int | None = None, against: str = "prodcat predict") -> float:
        """Serving products/s at `concurrency` (default: the highest run) / batch products/s, `against`
        `prodcat predict` (the target's reference) or "Predictor.predict" (in process, no I/O)."""
        phases = [p for p in self.phases if p.products_per_request == products_per_request]
        if concurrency is not None:
            phases = [p for p in phases if p.concurrency == concurrency]
        if not phases:
            return float("nan")
        batch = self.predict_file_products_per_s if against == "prodcat predict" else self.predict_products_per_s
        return max(phases, key=lambda p: p.concurrency).products_per_s / batch

    @property
    def external_server(self) -> bool:
        """The benchmark drove a server it did not start (`--target`)."""
        return bool(self.server_command) and self.server_command[0] == "(external)"

    @property
    def replayed_model(self) -> bool:
        """The server ran benchmarks.replay_server: no model calls, the server's own ceiling."""
        return REPLAY_MODULE in self.server_command

    def targets(self) -> list[tuple[str, str, bool | None]]:
        """(target, measured, met) rows; met None when the phase was not run."""
        rows: list[tuple[str, str, bool | None]] = []
        c1 = self.phase(1, 1)
        rows.append((f"single-product p99 at concurrency 1 <= {TARGET_P99_MS_C1:.0f} ms",
                     f"{c1.p99_ms:.1f} ms" if c1 else "not run", c1.p99_ms <= TARGET_P99_MS_C1 if c1 else None))
        top = max((p.concurrency for p in self.phases), default=0)
        at_top = [p for p in self.phases if p.concurrency == top]
        errors = sum(p.n_errors for p in at_top)
        rows.append((f"no errors at concurrency {top}", f"{errors} errors in {sum(p.requests for p in at_top)} requests",
                     errors == 0 if at_top else None))
        ratio = self.ratio(1)
        rows.append((f"single-product serving at concurrency {top} / prodcat predict >= {TARGET_RATIO:.2f}", f"{ratio:.2f}",
                     ratio >= TARGET_RATIO if ratio == ratio else None))
        return rows

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["phases"] = [dict(dataclasses.asdict(p), requests_per_s=p.requests_per_s, products_per_s=p.products_per_s) for p in self.phases]
        out["predict_products_per_s"] = self.predict_products_per_s
        out["predict_file_products_per_s"] = self.predict_file_products_per_s
        out["ratio_single_top"] = self.ratio(1)
        out["ratio_single_top_vs_predictor"] = self.ratio(1, against="Predictor.predict")
        out["targets"] = [{"target": t, "measured": m, "met": ok} for t, m, ok in self.targets()]
        return out


def run_serving_benchmark(
    model_base_path: str | os.PathLike,
    products_path: str | os.PathLike | None = None,
    *,
    n_products: int = 2000,
    requests: int = 1000,
    batch_requests: int = 200,
    concurrency: Sequence[int] = (1, 8, 32),
    batch_size: int = 64,
    predict_batch_size: int = 256,
    warmup_requests: int = 200,
    timeout_s: float = 60.0,
    server_args: Sequence[str] = (),
    replay_model: bool = False,
    target: str | None = None,
    server_pid: int | None = None,
    model_name: str = MODEL_NAME,
    log: Any = None,
) -> ServingBenchmarkResult:
    """Runs the whole benchmark (see the module docstring); `log(str)` reports progress.

    `target`: drive a server already running there (`ExternalServer`, e.g. tensorflow_model_server
    serving `model_base_path` as `model_name`) instead of starting `prodcat serve`."""
    if target and (replay_model or server_args):
        raise ValueError("--target drives a running server: --replay-model and --server-arg start one")
    log = log or (lambda message: None)
    machine = MachineInfo.now()
    from prodcat.serving.predict import resolve_model_dir

    model_dir = resolve_model_dir(model_base_path)  # fails early, with prodcat's message, if there is no model
    products, source = load_products(max(n_products, batch_size), products_path, model_base_path)
    from prodcat.readers import write_jsonl

    from .batch import time_predict_file

    scratch = Path(tempfile.mkdtemp(prefix="prodcat-bench-serving-"))
    write_jsonl(products, scratch / "products.jsonl")

    def predict_file() -> Any:
        return time_predict_file(model_dir, scratch / "products.jsonl", scratch / "predictions.jsonl",
                                 predict_batch_size)

    try:
        result = _run_with_server(model_base_path, products, source, machine, predict_file, requests=requests,
                                batch_requests=batch_requests, concurrency=concurrency, batch_size=batch_size,
                                predict_batch_size=predict_batch_size, warmup_requests=warmup_requests,
                                timeout_s=timeout_s, server_args=server_args, replay_model=replay_model,
                                target=target, server_pid=server_pid, model_name=model_name, log=log)
        if target and str(result.model_version) != Path(model_dir).name:
            log(f"WARNING: the server at {target} serves version {result.model_version}, `prodcat predict` ran "
                f"{model_dir}: the ratios compare different models")
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run_with_server(
    model_base_path: str | os.PathLike, products: list, source: str, machine: MachineInfo, predict_file: Callable[[], Any], *,
    requests: int, batch_requests: int, concurrency: Sequence[int], batch_size: int, predict_batch_size: int,
    warmup_requests: int, timeout_s: float, server_args: Sequence[str], replay_model: bool, target: str | None,
    server_pid: int | None, model_name: str, log: Callable[[str], None],
) -> ServingBenchmarkResult:
    from prodcat.serving.predict import Predictor
    from prodcat.serving.tf_threads import available_cpus

    module = REPLAY_MODULE if replay_model else SERVER_MODULE
    server_cm: ServerProcess | ExternalServer = (
        ExternalServer(target, model_name, server_pid) if target
        else ServerProcess(model_base_path, server_args, module=module, model_name=model_name))
    with server_cm as server, LoadGenerator() as loadgen:
        log(f"server pid {server.pid} on {server.target} ready in {server.startup_s:.1f} s"
            + (f" (log {server.log_path})" if isinstance(server, ServerProcess) else ""))
        rss_idle = server.rss_mib()
        singles = serialized_requests(server.target, products, 1, model_name)
        batches = serialized_requests(server.target, products, batch_size, model_name) if batch_requests > 0 else []

        started = time.perf_counter()
        predictor = Predictor(model_base_path, available_cpus())  # as `prodcat predict` runs it
        predictor_load_s = time.perf_counter() - started
        predict_before = time_predictor(predictor, products, predict_batch_size)
        log(f"batch predict (before): {predict_before.products_per_s:.1f} products/s")
        file_before = predict_file()
        log(f"prodcat predict (before): steady {file_before.steady_products_per_s:.1f} products/s")

        def phase(payloads: list[bytes], per_request: int, conc: int, n: int) -> PhaseResult:
            loadgen.run(LoadSpec(server.target, payloads, conc, conc, timeout_s))  # one request per worker, not counted
            metrics0, cpu0 = server.metrics(), server.cpu_seconds()
            result = loadgen.run(LoadSpec(server.target, payloads, n, conc, timeout_s))
            cpu, metrics1 = server.cpu_seconds() - cpu0, server.metrics()
            delta = lambda key: metrics1.get(key, 0.0) - metrics0.get(key, 0.0)  # noqa: E731
            lat = result.latencies_s
            out = PhaseResult(
                per_request, conc, n, result.errors, result.error_samples,
                percentile(lat, 50) * 1e3, percentile(lat, 95) * 1e3, percentile(lat, 99) * 1e3, (max(lat) if lat else float("nan")) * 1e3,
                result.wall_s, cpu, result.client_cpu_s, delta("batches"), delta("batched_tasks"), delta("inline_tasks"),
                check_response(result.first_response, per_request),
            )
            log(f"{out.label:>8} c{conc:<3} {out.requests_per_s:8.1f} req/s {out.products_per_s:8.1f} products/s "
                f"p50 {out.p50_ms:7.1f} p99 {out.p99_ms:7.1f} ms errors {out.n_errors}")
            return out

        # global warm-up: both request sizes, some concurrency
        loadgen.run(LoadSpec(server.target, singles, warmup_requests, min(8, max(concurrency)), timeout_s))
        if batches:
            loadgen.run(LoadSpec(server.target, batches, max(2, warmup_requests // batch_size), 2, timeout_s))
        rss_warm = server.rss_mib()
        phases = [phase(singles, 1, c, requests) for c in concurrency]
        if batches:
            phases += [phase(batches, batch_size, c, batch_requests) for c in concurrency]
        rss_end, rss_peak = server.rss_mib(), server.peak_rss_mib()
        predict_after = time_predictor(predictor, products, predict_batch_size)
        log(f"batch predict (after): {predict_after.products_per_s:.1f} products/s")
        file_after = predict_file()
        log(f"prodcat predict (after): steady {file_after.steady_products_per_s:.1f} products/s")
        command = server.command
        version, startup_s = server.version, server.startup_s
        workers = server.workers if isinstance(server, ServerProcess) else 1
    return ServingBenchmarkResult(
        machine.finish(), str(model_base_path), version, source, len(products), command, startup_s,
        rss_idle, rss_warm, rss_end, rss_peak, phases, predictor_load_s, predict_before, predict_after, file_before, file_after,
        workers,
    )


def _met(ok: bool | None) -> str:
    return "not run" if ok is None else ("MET" if ok else "MISSED")


def format_report(result: ServingBenchmarkResult) -> str:
    r = result
    lines = [
        "prodcat serving benchmark",
        r.machine.describe(),
        f"model: {r.model_base_path} (version {r.model_version}); products: {r.n_products} from {r.products_source}",
        (f"server: running at {r.server_command[1]} ({', '.join(r.server_command[2:])}), started outside the benchmark"
         + ("" if r.server_command[-1].startswith("pid") else "; no --server-pid: its RSS and CPU are not read")
         if r.external_server else
         f"server: separate process, `{' '.join(['prodcat serve', *r.server_command[3:]])}`, ready in {r.server_startup_s:.1f} s")
        + (f"\nMODEL CALLS REPLAYED ({REPLAY_MODULE}): every answer is one recorded row, no TensorFlow runs; the figures "
           "are the server's own cost and the ceiling any model could reach through it; targets do not apply"
           if r.replayed_model else ""),
        "load generator: separate process, one thread and one connection per concurrent request, pre-serialized serving_raw "
        "PredictRequests over a raw-bytes gRPC stub",
        "",
        f"{'request':<8} {'conc':>4} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'req/s':>8} {'products/s':>10} {'srv CPU':>7} {'gen CPU':>7} {'req/batch':>9} {'inline':>6}",
    ]
    for p in r.phases:
        per_batch = p.batched_requests / p.batches if p.batches else float("nan")
        lines.append(
            f"{p.label:<8} {p.concurrency:>4} {p.requests:>8} {p.n_errors:>6} {p.p50_ms:>8.1f} {p.p95_ms:>8.1f} {p.p99_ms:>8.1f} "
            f"{p.max_ms:>8.1f} {p.requests_per_s:>8.1f} {p.products_per_s:>10.1f} {p.server_cpu_s / p.wall_s:>7.2f} "
            f"{p.client_cpu_s / p.wall_s:>7.2f} {per_batch:>9.1f} {p.inline_requests:>6.0f}")
    lines.append("(srv CPU / gen CPU: CPU seconds per wall second of the server / the load generator process; "
                 "req/batch: requests per batcher run; inline: requests run outside the batcher)")
    for p in r.phases:
        if p.errors:
            lines.append(f"errors {p.label} c{p.concurrency}: {p.errors}; e.g. {p.error_samples[:2]}")
        if p.response_problem:
            lines.append(f"response check {p.label} c{p.concurrency}: {p.response_problem}")
    lines += [
        "",
        f"server RSS (VmRSS): model loaded, idle {r.rss_idle_mib:.0f} MiB; after warm-up {r.rss_warm_mib:.0f} MiB; "
        f"after the run {r.rss_end_mib:.0f} MiB (peak VmHWM {r.rss_peak_mib:.0f} MiB)",
        f"batch Predictor.predict (this process, model loaded in {r.predictor_load_s:.1f} s, batches of {r.predict_before.batch_size}, "
        f"{r.predict_before.parallel_calls} at once, {r.predict_before.products} predictions): before serving {r.predict_before.products_per_s:.1f}, after "
        f"{r.predict_after.products_per_s:.1f}, mean {r.predict_products_per_s:.1f} products/s",
        f"prodcat predict (same products as a JSONL file, batches of {r.predict_before.batch_size}, as many at once; steady state after "
        f"the first batch: read, predict, write): before serving {r.predict_file_before.steady_products_per_s:.1f}, "
        f"after {r.predict_file_after.steady_products_per_s:.1f}, mean {r.predict_file_products_per_s:.1f} products/s",
    ]
    top = max((p.concurrency for p in r.phases), default=0)
    for per_request in sorted({p.products_per_request for p in r.phases}):
        label = "single-product" if per_request == 1 else f"{per_request}-product"
        at = r.phase(per_request, top)
        lines.append(f"ratio {label} serving at concurrency {top} ({at.products_per_s:.1f} products/s) / prodcat predict "
                     f"({r.predict_file_products_per_s:.1f}): {r.ratio(per_request):.2f}; / Predictor.predict "
                     f"({r.predict_products_per_s:.1f}): {r.ratio(per_request, against='Predictor.predict'):.2f}")
    if r.replayed_model:
        return "\n".join(lines)
    lines += ["", "targets:"]
    lines += [f"  {target:<66} {measured:<30} {_met(ok)}" for target, measured, ok in r.targets()]
    return "\n".join(lines)


def format_workers_comparison(results: Sequence[ServingBenchmarkResult]) -> str:
    """Single-product serving of each `--workers` count side by side, each against its own `prodcat predict`."""
    lines = ["workers side by side (same products and machine, one server after the other; each ratio against the "
             "`prodcat predict` measured around that server):",
             f"{'workers':>7} {'conc':>4} {'products/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'srv CPU':>7} {'/ predict':>9}"]
    for r in results:
        for p in (p for p in r.phases if p.products_per_request == 1):
            lines.append(f"{r.workers:>7} {p.concurrency:>4} {p.products_per_s:>10.1f} {p.p50_ms:>8.1f} {p.p99_ms:>8.1f} "
                         f"{p.server_cpu_s / p.wall_s:>7.2f} {p.products_per_s / r.predict_file_products_per_s:>9.2f}")
    first, top = results[0], max(p.concurrency for p in results[0].phases)
    for r in results[1:]:
        mine, base = r.phase(1, top), first.phase(1, top)
        if mine and base:
            lines.append(f"{r.workers} workers / {first.workers} at concurrency {top}: {mine.products_per_s / base.products_per_s:.2f}x "
                         f"products/s; RSS idle {r.rss_idle_mib:.0f} vs {first.rss_idle_mib:.0f} MiB")
    return "\n".join(lines)


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def build_arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="prodcat bench serving", description=__doc__.splitlines()[0])
    p.add_argument("--model-base-path", required=True, help="model base path (numbered versions), e.g. OUTPUT/serving/prodcat")
    p.add_argument("--products", help="products file (default: the demo data next to the model, else prodcat.synth)")
    p.add_argument("--n-products", type=int, default=2000, help="distinct products used (default: %(default)s)")
    p.add_argument("--requests", type=int, default=1000, help="single-product requests per concurrency (default: %(default)s)")
    p.add_argument("--batch-requests", type=int, default=200,
                   help="batch requests per concurrency (default: %(default)s; 0: no batch phases)")
    p.add_argument("--batch-size", type=int, default=64, help="products per batch request (default: %(default)s)")
    p.add_argument("--concurrency", type=_ints, default=[1, 8, 32], help="comma-separated (default: 1,8,32)")
    p.add_argument("--predict-batch-size", type=int, default=256, help="Predictor.predict batch size (default: %(default)s)")
    p.add_argument("--warmup-requests", type=int, default=200, help="global warm-up requests (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=60.0, help="per-request deadline, seconds (default: %(default)s)")
    p.add_argument("--workers", type=_ints, default=[1], metavar="N[,N...]",
                   help="prodcat serve --workers: each count in turn, compared side by side (default: 1), e.g. 1,2")
    p.add_argument("--server-arg", action="append", default=[], metavar="FLAG",
                   help="extra flag for prodcat serve, repeatable, e.g. --server-arg=--max_batch_size=64")
    p.add_argument("--replay-model", action="store_true",
                   help="serve with benchmarks.replay_server (model calls replayed, no TensorFlow): the server's own "
                        "cost per request and the throughput ceiling it leaves any model")
    p.add_argument("--target", metavar="HOST:PORT",
                   help="drive a TF Serving-compatible server already running there (e.g. tensorflow_model_server "
                        "serving --model-base-path) instead of starting prodcat serve")
    p.add_argument("--server-pid", type=int, help="with --target: the server's process id on this machine, for its RSS and CPU")
    p.add_argument("--model-name", default=MODEL_NAME, help="model name the server serves (default: %(default)s)")
    p.add_argument("--json", help="also write the results as JSON here")
    p.add_argument("--check", action="store_true", help="exit with status 1 if a target is missed")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_arg_parser().parse_args(argv)
    if min(args.n_products, args.requests, args.batch_size, args.predict_batch_size) < 1 or args.batch_requests < 0:
        print("prodcat bench serving: sizes must be positive", file=sys.stderr)
        return 2
    from prodcat.serving.predict import ModelNotFoundError

    if (args.target or args.replay_model) and args.workers != [1]:
        print("prodcat bench serving: --workers starts prodcat serve's workers: not with --target (a running server) "
              "or --replay-model (one process)", file=sys.stderr)
        return 2
    results = []
    try:
        for workers in args.workers:
            results.append(run_serving_benchmark(
                args.model_base_path, args.products, n_products=args.n_products, requests=args.requests,
                batch_requests=args.batch_requests, concurrency=args.concurrency, batch_size=args.batch_size,
                predict_batch_size=args.predict_batch_size, warmup_requests=args.warmup_requests, timeout_s=args.timeout,
                server_args=[*args.server_arg, *([f"--workers={workers}"] if workers != 1 else [])],
                replay_model=args.replay_model, target=args.target, server_pid=args.server_pid,
                model_name=args.model_name, log=lambda m: print(f"  {m}", file=sys.stderr, flush=True),
            ))
    except (ModelNotFoundError, FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"prodcat bench serving: {err}", file=sys.stderr)
        return 2
    print("\n\n".join(format_report(result) for result in results))
    if len(results) > 1:
        print("\n" + format_workers_comparison(results))
    if args.json:
        payload = [r.to_json() for r in results] if len(results) > 1 else results[0].to_json()
        Path(args.json).write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    return 1 if args.check and any(ok is False for r in results for _, _, ok in r.targets()) else 0


if __name__ == "__main__":
    from benchmarks.serving import main as _main  # the importable module, so the load generator can unpickle its types

    sys.exit(_main())
