"""The load: pre-serialized PredictRequests sent from a separate process, and a check of what came back.

The generator runs in its own (spawned) process, one thread and one gRPC connection per
concurrent client, sending bytes through a raw-bytes stub: it imports neither TensorFlow nor
protobuf messages, so its CPU use stays small and is reported apart from the server's. The
requests are built here as the client builds them, so the server sees exactly what clients send.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from collections.abc import Sequence
from typing import Any

from .server_process import MODEL_NAME

PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"


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
    """How the server answered one abusive request (benchmarks/soak.py checks the codes)."""

    kind: str
    code: str  # gRPC status code name ("OK" if it unexpectedly succeeded)
    details: str
    latency_s: float


@dataclasses.dataclass
class LoadResult:
    """What one phase's load met: latencies of the valid requests, errors by code, CPU of the generator."""

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

