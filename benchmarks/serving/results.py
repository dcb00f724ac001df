"""The whole run's figures, the ratios to batch prediction, and whether the targets were met.

The targets are ratios and latencies measured side by side in one run on a shared machine, so
they compare across runs where absolute rates cannot. `to_json` is what `--json` writes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .batch_references import PredictThroughput
from .machine import MachineInfo
from .phases import PhaseResult
from .server_process import REPLAY_MODULE

TARGET_P99_MS_C1 = 30.0
TARGET_RATIO = 2 / 3


@dataclasses.dataclass
class ServingBenchmarkResult:
    """One server (one `--workers` count): every phase, its RSS, and the batch references around it."""

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
