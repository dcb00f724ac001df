"""Audited precision: what reviewers' audit decisions say about the served categories.

A served category is right when the reviewer's category lies at or below it (the served path is a
prefix of the true one); at level k, when the served and true paths agree at level k. Products the
reviewer could not tell are left out. Each stratum's precision is a binomial proportion (Wilson
interval); overall and per-level figures weight strata by their share of served products, since
the audit samples small strata (sensitive subtrees) more heavily than their share.
"""

from __future__ import annotations

import dataclasses
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from prodcat.config import ConfigError
from prodcat.review.items import QueueMeta, queue_taxonomy
from prodcat.review.log import Decision, ReviewLog
from prodcat.review.sampling import Estimate, stratified, wilson
from prodcat.taxonomy import Taxonomy


@dataclasses.dataclass(frozen=True)
class AuditStats:
    """The audit of one model version."""

    model_version: str
    coverage: float  # share of the audited batch served a category, the operating point measured
    products: int  # products in the audited batch
    sampled: int  # products drawn for the audit
    judged: int  # decisions with a category
    cannot_tell: int
    confidence: float
    precision: Estimate  # served categories, strata weighted
    per_level: dict[int, Estimate]  # strata weighted
    per_stratum: dict[str, Estimate]  # level-1 categories and sensitive subtrees, each on its own

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["per_level"] = {str(k): v.to_json() for k, v in self.per_level.items()}
        return out


def _outcomes(decision: Decision, taxonomy: Taxonomy) -> tuple[bool, dict[int, bool]]:
    """(served category right, per served level: right at that level) for one judged decision."""
    truth = taxonomy.ancestors(decision.category_id) if decision.category_id in taxonomy else []
    served = taxonomy.ancestors(decision.served_id) if decision.served_id in taxonomy else []
    levels = {k: k <= len(truth) and truth[k - 1] == served[k - 1] for k in range(1, len(served) + 1)}
    return bool(served) and decision.served_id in truth, levels


def audit_stats(meta: QueueMeta, decisions: Iterable[Decision], taxonomy: Taxonomy,
                confidence: float = 0.95) -> AuditStats:
    """The precision estimates of one audit queue from its decisions."""
    decisions = [d for d in decisions if d.queue == "audit" and d.model_version == meta.model_version]
    judged = [d for d in decisions if d.category_id is not None and d.served_id is not None]
    overall: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    levels: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for decision in judged:
        right, per_level = _outcomes(decision, taxonomy)
        stratum = decision.stratum or ""
        overall[stratum][0] += right
        overall[stratum][1] += 1
        for level, ok in per_level.items():
            levels[level][stratum][0] += ok
            levels[level][stratum][1] += 1

    def weighted(counts: dict[str, list[int]]) -> Estimate:
        return stratified({name: (c[0], c[1]) for name, c in counts.items()}, meta.strata, confidence)

    return AuditStats(
        model_version=meta.model_version, coverage=meta.coverage, products=meta.products,
        sampled=sum(meta.sampled.values()), judged=len(judged), cannot_tell=len(decisions) - len(judged),
        confidence=confidence, precision=weighted(overall),
        per_level={level: weighted(levels[level]) for level in sorted(levels)},
        per_stratum={name: wilson(c[0], c[1], confidence) for name, c in sorted(overall.items())},
    )


def log_stats(log: ReviewLog, taxonomy_of: Callable[[QueueMeta], Taxonomy], confidence: float = 0.95) -> list[AuditStats]:
    """Every audited model version of a log, oldest queue first; `taxonomy_of` gives each one's taxonomy."""
    decisions = log.decisions(queue="audit")
    return [audit_stats(meta, decisions, taxonomy_of(meta), confidence)
            for meta in log.queue_metas() if meta.queue == "audit"]


def read_stats(log_path: str | os.PathLike, taxonomy: Taxonomy | None = None, confidence: float = 0.95) -> list[AuditStats]:
    """The audits of a review log file; each model's own taxonomy (`taxonomy` when its model is gone)."""
    if not Path(log_path).is_file():
        raise FileNotFoundError(f"{log_path}: no review log here")

    def taxonomy_of(meta: QueueMeta) -> Taxonomy:
        try:
            return queue_taxonomy(meta.model_dir)
        except FileNotFoundError:
            if taxonomy is None:
                raise
            return taxonomy

    log = ReviewLog(log_path)
    try:
        return log_stats(log, taxonomy_of, confidence)
    finally:
        log.close()


def previous_audit(logs: Sequence[str | os.PathLike], taxonomy: Taxonomy) -> AuditStats:
    """The audit of the newest audited model version in `logs`, for the Evaluator's audit gate.

    No audited decision anywhere is a `ConfigError`: a gate that silently passed would hide it.
    """
    audited = [s for log in logs if Path(log).is_file() for s in read_stats(log, taxonomy) if s.precision.value is not None]
    if not audited:
        raise ConfigError(f"evaluation.audit_gate is on but no review log in review.logs ({', '.join(map(str, logs)) or 'none'}) "
                          "holds audit decisions: audit a model first (prodcat review --queue audit), or turn the gate off")
    return max(audited, key=lambda s: (int(s.model_version) if s.model_version.isdigit() else -1, s.model_version))


def _interval(estimate: Estimate) -> str:
    if estimate.value is None:
        return "no judged products"
    return f"{estimate.value:.3f} [{estimate.low:.3f}, {estimate.high:.3f}] (n={estimate.n})"


def format_stats(stats: list[AuditStats]) -> str:
    """The text `prodcat review stats` prints."""
    if not stats:
        return "no audit queue in this log (prodcat review --queue audit builds one)"
    lines = []
    for s in stats:
        lines += [
            f"audit of model {s.model_version}: {s.judged} judged of {s.sampled} sampled ({s.cannot_tell} cannot tell), "
            f"{int(s.confidence * 100)}% intervals",
            f"  measured at coverage {s.coverage:.3f} ({s.products} products in the audited batch)",
            f"  precision of served categories: {_interval(s.precision)}",
        ]
        lines += [f"  level {level}: {_interval(e)}" for level, e in s.per_level.items()]
        lines.append("  per level-1 category / sensitive subtree:")
        width = max((len(name) for name in s.per_stratum), default=0)
        lines += [f"    {name:<{width}}  {_interval(e)}" for name, e in s.per_stratum.items()]
    return "\n".join(lines)
