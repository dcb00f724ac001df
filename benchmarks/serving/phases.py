"""One load phase (a request size at a concurrency) against the server, and the figures it yields.

Each phase has its own short warm-up, so a change of request size or concurrency is not timed.
The server's CPU and its batcher's counters are read just around the measured load, so the
figures are the phase's own; a sample response is decoded, so a fast wrong answer is caught.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .load_generator import LoadGenerator, LoadSpec, check_response

if TYPE_CHECKING:
    from .external_server import ExternalServer
    from .server_process import ServerProcess


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100, linear interpolation); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


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



def measure_phase(
    server: ServerProcess | ExternalServer, loadgen: LoadGenerator, payloads: list[bytes], per_request: int, conc: int, n: int,
    timeout_s: float, log: Callable[[str], None],
) -> PhaseResult:
    """`n` requests of `per_request` products each from `conc` clients, after one request per client (not counted)."""
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
