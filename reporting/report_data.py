"""What the run report shows, as plain typed data: collected from a run (`report_run`), analysed
(`report_analysis`) and rendered (`report_page`), so each step can be tested without the others."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from prodcat.config import Config
from prodcat.review.stats import AuditStats, read_stats
from prodcat.taxonomy import Taxonomy


def audits(config: Config, taxonomy: Taxonomy) -> list[AuditStats]:
    """The audits in the run's review logs (`review.logs`); a log moved away since is left out."""
    return [stats for log in config.review.logs if Path(log).is_file() for stats in read_stats(log, taxonomy)]


def synthetic_data_note(config: Config) -> str:
    """For a model trained on the generated demo data (no `data` configured): what it can and cannot
    know, so nobody mistakes its confident answers on real products for a real model's; else ""."""
    if config.data is not None:
        return ""
    demo = config.demo
    sellers = f"{demo.n_shops} made-up shops" + (" and one-off sellers" if demo.one_off_sellers else "")
    return (f"Demo data: {demo.n_products:,} synthetic products (the config's demo: section, seed {demo.seed}) from "
            f"{sellers}, labelled with {demo.n_categories} categories of the taxonomy. The model knows only those "
            f"categories and the generator's vocabulary: a real product of any other category gets a confident wrong "
            f"answer. Train on your own products (prodcat run --data FILE) for a model of your catalogue.")


class NoEvaluationError(LookupError):
    """The run has no (finished) evaluation: there is nothing to report."""


@dataclasses.dataclass(frozen=True)
class EvalRecord:
    """One eval product: its truth and the model's decoded path (beam search over the tree) with per-level confidences."""

    product_id: str
    title: str
    true_path: tuple[str, ...]        # category ids, level 1 first
    full_path: tuple[str, ...]        # the decoded path to its end, ids
    confidences: tuple[float, ...]    # one per level of full_path
    served_depth: int                 # how many levels of full_path serving returns (thresholds)
    language: str = ""
    shop: str = ""

    @property
    def served_path(self) -> tuple[str, ...]:
        return self.full_path[: self.served_depth]

    @property
    def served_category(self) -> str | None:
        return self.full_path[self.served_depth - 1] if self.served_depth else None


@dataclasses.dataclass(frozen=True)
class SliceMetrics:
    """One slice of the Evaluator's metrics, as TFMA stored them."""

    column: str                       # "" for the overall slice
    value: str
    metrics: dict[str, float]         # the candidate model's values
    diffs: dict[str, float]           # change vs the baseline model, when there was one

    @property
    def slice_id(self) -> str:
        return f"{self.column}={self.value}" if self.column else "overall"


@dataclasses.dataclass(frozen=True)
class GateVerdict:
    """One gate of the eval config on one slice, with TFMA's verdict."""

    slice_id: str
    metric: str
    is_diff: bool
    bound: str
    value: float | None
    verdict: str                      # "pass", "fail", or "n/a" (e.g. no baseline to compare with)
    message: str = ""


@dataclasses.dataclass
class ReportData:
    """Everything one report shows about one run's model."""

    run_id: str
    taxonomy: Taxonomy
    records: list[EvalRecord]
    slices: list[SliceMetrics]
    gates: list[GateVerdict]
    blessed: bool | None
    evaluation_uri: str = ""
    model_dir: str = ""
    examples_uri: str = ""
    missing_slices: list[str] = dataclasses.field(default_factory=list)
    floors: tuple[float, ...] = ()    # the served model's per-level confidence floors
    generated_at: str = ""
    data_note: str = ""               # what the training data was, when a reader could mistake it (the demo)
    audits: list[AuditStats] = dataclasses.field(default_factory=list)  # reviewers' audits (`review.logs`)
