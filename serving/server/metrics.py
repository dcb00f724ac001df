"""The server's counters as Prometheus metrics (`GET /monitoring/prometheus/metrics`).

Each server owns a `CollectorRegistry`, so two servers in one process (tests, benchmarks) never
mix their counts. The workers of `--workers N` count into one multiprocess directory and each
exports the sum over all of them. `snapshot()` reads the same counters back for tests and benchmarks.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import grpc
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

from prodcat.serving.server.options import ServerOptions

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
_PREFIX = "prodcat_serving_"
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # set by a WorkerPool for its workers
_COUNTERS = {  # snapshot key -> help; exported as prodcat_serving_<key>_total
    "batches": "Batches run by the batcher.",
    "merged_batches": "Batches holding 2+ requests.",
    "batched_tasks": "Requests run through the batcher.",
    "inline_tasks": "Requests run without batching.",
    "warmup_requests": "Warm-up requests replayed.",
}


class Stats:
    """Requests by API and status code, their latency, and what the batcher did, for one model."""

    def __init__(self, model_name: str = ServerOptions.model_name) -> None:
        self.model_name = model_name
        self.registry = CollectorRegistry()
        self._requests = Counter(f"{_PREFIX}request_count", "Requests by API and status code.",
                                 ["model_name", "api", "code"], registry=self.registry)
        self._latency = Histogram(f"{_PREFIX}request_latency_seconds", "Request time by API.",
                                  ["model_name", "api"], registry=self.registry)
        self._counters = {key: Counter(f"{_PREFIX}{key}", help_text, ["model_name"], registry=self.registry).labels(model_name)
                          for key, help_text in _COUNTERS.items()}
        self._lock = threading.Lock()
        self.max_tasks_per_batch = 0

    def add(self, key: str, n: int = 1) -> None:
        """Counts `n` more of one of `_COUNTERS` ("inline_tasks", "warmup_requests", ...)."""
        self._counters[key].inc(n)

    def request(self, api: str, code: grpc.StatusCode, seconds: float) -> None:
        self._requests.labels(self.model_name, api, code.name).inc()
        self._latency.labels(self.model_name, api).observe(seconds)

    def batch(self, tasks: int) -> None:
        """One run of the batcher, holding `tasks` requests."""
        self._counters["batches"].inc()
        self._counters["batched_tasks"].inc(tasks)
        if tasks > 1:
            self._counters["merged_batches"].inc()
        with self._lock:
            self.max_tasks_per_batch = max(self.max_tasks_per_batch, tasks)

    def snapshot(self) -> dict[str, Any]:
        """Every counter of `_COUNTERS` by key, and `max_tasks_per_batch` (the most requests one batch held)."""
        out: dict[str, Any] = {
            key: int(self.registry.get_sample_value(f"{_PREFIX}{key}_total", {"model_name": self.model_name}) or 0)
            for key in _COUNTERS}
        out["max_tasks_per_batch"] = self.max_tasks_per_batch
        return out

    def exposition(self, version: int) -> bytes:
        """The Prometheus text format, ending with the served `version` (0: none).

        The version gauge is written here rather than by prometheus_client, which prints every value
        as a float (1.7e+09): the version must read as the directory name it is.
        """
        name = f"{_PREFIX}model_version"
        gauge = (f"# HELP {name} The version being served (0: none).\n# TYPE {name} gauge\n"
                 f'{name}{{model_name="{self.model_name}"}} {version}\n')
        return generate_latest(self._exported_registry()) + gauge.encode()

    def _exported_registry(self) -> CollectorRegistry:
        """This server's registry, or with `--workers`, every worker's counts (prometheus_client's multiprocess mode)."""
        if not os.environ.get(MULTIPROCESS_ENV):
            return self.registry
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
