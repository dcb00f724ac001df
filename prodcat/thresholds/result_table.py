"""The table `prodcat tune-thresholds` prints (and the pipeline's ThresholdTuner logs) for a
`TuningResult`: configured vs tuned hP, hR and coverage, calibration, and each sensitive subtree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from prodcat.thresholds.search import Scores
from prodcat.thresholds.tuning_result import TuningResult


def format_result(result: TuningResult) -> str:
    """The table `prodcat tune-thresholds` prints."""
    def f(value: float | None) -> str:
        return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"

    def row(label: str, scores: Scores | None, status: str = "", values: tuple = ()) -> str:
        p, r, c = (scores.precision, scores.recall, scores.coverage) if scores is not None else values
        return f"  {label:<46} {f(p):>6} {f(r):>6} {f(c):>6}  {status}".rstrip()

    t = result.thresholds
    lines = [f"threshold tuning on {result.products} eval products"]
    if result.calibration:
        lines.append("  calibration, temperature per level (eval NLL before -> after): " + "  ".join(
            f"L{c.level} {c.temperature:.2f}{'*' if c.note else ''} ({f(c.nll_before)} -> {f(c.nll_after)})"
            for c in result.calibration if c.examples))
        lines += [f"    * L{c.level} left at 1.0: {c.note}" for c in result.calibration if c.examples and c.note]
    lines.append(f"  {'':<46} {'hP':>6} {'hR':>6} {'cover':>6}  status")
    lines.append(row("configured thresholds", result.configured))
    lines.append(f"      per_level {_levels(result.configured_per_level)}")
    lines.append(row(f"tuned for hP >= {result.target_precision:g}", result.achieved,
                     "reached" if result.reached else "NOT REACHABLE"))
    if result.reached:
        lines.append(f"      per_level {_levels(t.per_level)}" + (f"  temperatures {_levels(t.temperatures)}"
                                                               if t.temperatures else ""))
    if result.uncalibrated is not None:
        u = result.uncalibrated
        lines.append(row("same target without calibration", None, "reached" if u["reached"] else "NOT REACHABLE",
                         (u["hierarchical_precision"], u["hierarchical_recall"], u["coverage"])))
        lines.append(f"      per_level {_levels(u['per_level'])}")
    if result.sensitive:
        target = "not tuned" if result.sensitive_precision is None else f"hP >= {result.sensitive_precision:g}"
        lines.append(f"  sensitive subtrees ({target} over the products served inside; cover: the subtree's products served inside)")
    for s in result.sensitive:
        status = {True: "reached", False: "NOT REACHABLE", None: "no eval products"}[s.reached]
        if result.sensitive_precision is None:
            status = ""
        label = f"  {_short(s.path, 34)}  floor {s.floor:g}"
        lines.append(row(label, None, f"{status} ({s.scores.served_inside} served inside, {s.scores.members} "
                                      f"products; true-or-served hP {f(s.scores.either.precision)})".lstrip(),
                         (s.scores.precision, math.nan, s.scores.coverage)))
    if result.sensitive:
        lines.append(row("  all sensitive (true or served)", None, "",
                         (result.sensitive_pooled.precision, result.sensitive_pooled.recall, math.nan)))
    if result.message:
        lines.append(f"  {result.message}")
    for s in result.sensitive:
        if s.reached is False:
            lines.append(f"  {s.path}: even its most precise floor ({s.floor:g}) leaves hP {f(s.scores.precision)} "
                         "(wrong predictions at confidence 1.0 pass any floor)")
    return "\n".join(lines)


def _levels(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


def _short(path: str, width: int = 34) -> str:
    return path if len(path) <= width else "..." + path[-(width - 3):]
