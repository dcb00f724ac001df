"""Threshold tuning end to end, without TensorFlow: eval predictions in, tuned ThresholdConfig and a
report out (achieved precision/coverage per target, per sensitive slice, precision-coverage curves).

`prodcat.trainer.retune` produces the `EvalPredictions` from a trained model; the CLI
(`prodcat tune-thresholds`) and the pipeline's ThresholdTuner both call `tune`.

The achieved figures are measured on the split the thresholds were chosen on, so they are a little
optimistic for new products (a handful of parameters, but chosen to just reach the target): leave
some room in the target, or tune on a split the Evaluator does not use.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np

from prodcat.config import ThresholdConfig, ThresholdOverride
from prodcat.taxonomy import Taxonomy
from prodcat.thresholds import search
from prodcat.thresholds.calibration import LevelCalibration, fit_level_temperatures
from prodcat.thresholds.search import Scores, SliceScores, ThresholdTuningError, TuningData

MAX_ROUNDS = 5
CURVE_POINTS = np.round(np.linspace(0.0, 1.0, 101), 2)


@dataclasses.dataclass
class EvalPredictions:
    """The eval split as the serving graph decodes it with thresholds off.

    `path_ids[i]`: product i's decoded path (level 1 first); `confidences[i, k]`: the confidence
    of its level-(k+1) node. `level_probs[k]` ([products, classes of level k+1]) and
    `level_labels[k]` (true class index, -1 below the true depth) are only needed to calibrate,
    with `sentence_embeddings` ([products, dim]) for the decoder's name fallback.
    """

    product_ids: list[str]
    true_ids: list[str]
    path_ids: list[list[str]]
    confidences: np.ndarray
    level_probs: list[np.ndarray] | None = None
    level_labels: list[np.ndarray] | None = None
    sentence_embeddings: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.true_ids)


# (temperatures) -> (path_ids, confidences): decodes the stored probabilities with temperatures.
Decode = Callable[[Sequence[float]], tuple[list[list[str]], np.ndarray]]


@dataclasses.dataclass(frozen=True)
class CurvePoint:
    """One point of a level's precision-coverage curve (the other thresholds as tuned)."""

    threshold: float
    hierarchical_precision: float
    hierarchical_recall: float
    coverage: float
    level_coverage: float   # share of products served at this level or deeper
    level_precision: float  # share of those whose node at this level is right


@dataclasses.dataclass(frozen=True)
class SubtreeReport:
    path: str
    floor: float
    reached: bool | None  # None: no eval product in the slice (floor kept at the policy minimum)
    scores: SliceScores

    def as_dict(self) -> dict:
        return {"path": self.path, "min_confidence": self.floor, "reached": self.reached,
                "hierarchical_precision": self.scores.precision, "coverage": self.scores.coverage,
                "served_inside": self.scores.served_inside, "products": self.scores.members,
                "true_or_served_hierarchical_precision": self.scores.either.precision,
                "true_or_served_products": self.scores.either.products,
                "wrong_nodes_of_products_served_outside": self.scores.wrong_outside}


@dataclasses.dataclass(frozen=True)
class TuningResult:
    """What tuning chose and what it achieves on the eval split (exactly as served)."""

    thresholds: ThresholdConfig          # the tuned config section (the input one when not reached)
    target_precision: float
    sensitive_precision: float | None
    reached: bool
    message: str
    products: int
    achieved: Scores                     # with the tuned thresholds
    configured: Scores                   # with the thresholds the model was exported with
    configured_per_level: tuple[float, ...]
    sensitive: tuple[SubtreeReport, ...]
    sensitive_pooled: Scores             # the Evaluator's sensitive slice (true or served sensitive)
    curves: dict[int, list[CurvePoint]]
    calibration: tuple[LevelCalibration, ...] = ()
    uncalibrated: dict | None = None     # headline of the same search without calibration

    def as_dict(self) -> dict:
        """JSON-ready (the report and the CLI's --json)."""
        t = self.thresholds
        return _clean({
            "target_precision": self.target_precision, "sensitive_precision": self.sensitive_precision,
            "reached": self.reached, "message": self.message, "products": self.products,
            "thresholds": {"per_level": list(t.per_level), "temperatures": list(t.temperatures),
                           "overrides": [o.model_dump() for o in t.overrides],
                           "sensitive_min_confidence": t.sensitive.min_confidence},
            "achieved": self.achieved.as_dict(),
            "configured": {"per_level": list(self.configured_per_level), **self.configured.as_dict()},
            "sensitive": [s.as_dict() for s in self.sensitive],
            "sensitive_pooled": {"hierarchical_precision": self.sensitive_pooled.precision,
                                 "products": self.sensitive_pooled.products},
            "calibration": [dataclasses.asdict(c) for c in self.calibration],
            "uncalibrated": self.uncalibrated,
            "curves": {str(level): [dataclasses.asdict(p) for p in points] for level, points in self.curves.items()},
        })


def _clean(value):  # noqa: ANN001, ANN202 - NaN is not JSON
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


# ----------------------------------------------------------------------------- the search
def _extra_floors(data: TuningData, floors: np.ndarray) -> np.ndarray:
    return search.node_floors(data, [0.0], floors)


def _sensitive_target_rounds(data: TuningData, target: float, sensitive_target: float | None,
                             policy_floor: float) -> tuple[search.LevelSolution, np.ndarray, list[search.SubtreeSolution]]:
    """Levels for the overall target, then sensitive floors, until neither changes."""
    floors = np.full(len(data.subtree_paths), policy_floor, np.float32)
    subtrees: list[search.SubtreeSolution] = []
    levels = search.tune_levels(data, target, _extra_floors(data, floors))
    for _ in range(MAX_ROUNDS):
        if not levels.reached or sensitive_target is None or not len(floors):
            break
        new = floors.copy()
        subtrees = []
        for s in range(len(floors)):
            solution = search.tune_subtree(data, s, sensitive_target, levels.per_level, new, policy_floor)
            new[s] = solution.floor
            subtrees.append(solution)
        if np.array_equal(new, floors):
            break
        floors = new
        levels = search.tune_levels(data, target, _extra_floors(data, floors))
    return levels, floors, subtrees


def tune_data(data: TuningData, thresholds: ThresholdConfig, target: float,
              sensitive_target: float | None) -> tuple[bool, str, tuple[float, ...], list[float], dict[int, bool | None]]:
    """(reached, message, per_level, sensitive floors, reached per subtree) with readable values."""
    policy = thresholds.sensitive.min_confidence
    levels, floors, subtrees = _sensitive_target_rounds(data, target, sensitive_target, policy)
    if not levels.reached:
        best = (f"the most precise setting found reaches hP {levels.best_precision:.3f} at coverage "
                f"{levels.best_precision_coverage:.3f}" if levels.best_precision >= 0 else "nothing can be served")
        return False, (f"target hierarchical precision {target:.3f} is not reachable on the eval split "
                       f"({data.products} products): {best}"), tuple(thresholds.per_level), [float(f) for f in floors], {}
    readable_floors = [search.readable_floor(data, s, float(f), policy) for s, f in enumerate(floors)]
    per_level = search.readable_levels(data, levels.per_level, _extra_floors(data, np.asarray(readable_floors, np.float32)))
    if not np.array_equal(search.served_mask(data, per_level, readable_floors),
                          search.served_mask(data, levels.per_level, floors)):  # never expected; stay exact
        per_level, readable_floors = tuple(levels.per_level), [float(f) for f in floors]
    reached = {s: sub.reached for s, sub in enumerate(subtrees)}
    return True, "", search.compact_levels(per_level), readable_floors, reached


def _override_roots(taxonomy: Taxonomy, data: TuningData, thresholds: ThresholdConfig) -> list[int | None]:
    """Per override: the index of the sensitive subtree whose root it names, or None."""
    roots = [taxonomy.resolve(p) for p in data.subtree_paths]
    root_ids = [r.id if r is not None else None for r in roots]
    out: list[int | None] = []
    for override in thresholds.overrides:
        node = taxonomy.resolve(override.path)
        out.append(root_ids.index(node.id) if node is not None and node.id in root_ids else None)
    return out


def sensitive_floors(taxonomy: Taxonomy, data: TuningData, thresholds: ThresholdConfig) -> list[float]:
    """Per sensitive subtree, the floor `thresholds` gives it: the policy minimum, or an override."""
    floors = [thresholds.sensitive.min_confidence] * len(data.subtree_paths)
    for override, s in zip(thresholds.overrides, _override_roots(taxonomy, data, thresholds)):
        if s is not None:
            floors[s] = max(floors[s], override.min_confidence)
    return floors


def tuned_config(taxonomy: Taxonomy, thresholds: ThresholdConfig, data: TuningData, per_level: Sequence[float],
                 floors: Sequence[float], temperatures: Sequence[float] | None = None) -> ThresholdConfig:
    """The config section with the tuned values: per-level floors, one override per sensitive
    subtree whose floor is above the policy minimum (earlier overrides of those subtrees replaced)."""
    policy = thresholds.sensitive.min_confidence
    kept = [o for o, s in zip(thresholds.overrides, _override_roots(taxonomy, data, thresholds)) if s is None]
    tuned = [ThresholdOverride(path=path, min_confidence=float(f))
             for path, f in zip(data.subtree_paths, floors) if np.float32(f) > np.float32(policy)]
    update: dict = {"per_level": tuple(float(v) for v in per_level), "overrides": tuple(kept + tuned)}
    if temperatures is not None:
        update["temperatures"] = tuple(float(t) for t in temperatures)
    return thresholds.model_copy(update=update)


def curves(data: TuningData, per_level: Sequence[float], floors: Sequence[float],
           points: Sequence[float] = CURVE_POINTS) -> dict[int, list[CurvePoint]]:
    """Per level: hP, hR, coverage and the level's own coverage/precision as its threshold moves
    over `points`, the other levels and the sensitive floors as given."""
    base = list(search._level_vector(per_level, data.depth))
    out: dict[int, list[CurvePoint]] = {}
    for k in range(data.depth):
        if not data.valid[:, k].any():
            continue
        level_points = []
        for value in points:
            theta = list(base)
            theta[k] = float(value)
            s = search.score(data, search.served_mask(data, theta, floors))
            covered = s.level_covered[k]
            level_points.append(CurvePoint(
                float(value), s.precision, s.recall, s.coverage, covered / s.products,
                s.level_correct[k] / covered if covered else math.nan))
        out[k + 1] = level_points
    return out


def evaluate(taxonomy: Taxonomy, data: TuningData, thresholds: ThresholdConfig) -> Scores:
    """What `thresholds` serve on the eval split (data decoded with thresholds.temperatures)."""
    return search.score(data, search.served_mask(data, thresholds.per_level, sensitive_floors(taxonomy, data, thresholds)))


@dataclasses.dataclass(frozen=True)
class _Search:
    data: TuningData
    thresholds: ThresholdConfig   # tuned (the input section when not reached)
    reached: bool
    message: str
    subtree_reached: dict[int, bool | None]


def _search(taxonomy: Taxonomy, data: TuningData, thresholds: ThresholdConfig, target: float,
            sensitive_target: float | None, temperatures: Sequence[float] | None = None) -> _Search:
    reached, message, per_level, floors, subtree_reached = tune_data(data, thresholds, target, sensitive_target)
    tuned = tuned_config(taxonomy, thresholds, data, per_level, floors, temperatures) if reached else thresholds
    return _Search(data, tuned, reached, message, subtree_reached)


def _report(taxonomy: Taxonomy, found: _Search, configured: Scores, configured_levels: Sequence[float], target: float,
            sensitive_target: float | None, calibration: Sequence[LevelCalibration] = (),
            uncalibrated: dict | None = None) -> TuningResult:
    data, thresholds = found.data, found.thresholds
    floors = sensitive_floors(taxonomy, data, thresholds)
    served = search.served_mask(data, thresholds.per_level, floors)
    sensitive = tuple(SubtreeReport(path, float(floors[s]), found.subtree_reached.get(s), search.slice_scores(data, served, s))
                      for s, path in enumerate(data.subtree_paths))
    return TuningResult(
        thresholds=thresholds, target_precision=target, sensitive_precision=sensitive_target, reached=found.reached,
        message=found.message, products=data.products, achieved=search.score(data, served), configured=configured,
        configured_per_level=tuple(configured_levels), sensitive=sensitive,
        sensitive_pooled=search.pooled_sensitive_scores(data, served),
        curves=curves(data, thresholds.per_level, floors) if found.reached else {},
        calibration=tuple(calibration), uncalibrated=uncalibrated)


def tune(
    taxonomy: Taxonomy, predictions: EvalPredictions, thresholds: ThresholdConfig, target_precision: float,
    sensitive_precision: float | None = None, calibrate: bool = False, decode: Decode | None = None,
) -> TuningResult:
    """Tunes `thresholds` (the section the model was exported with) on its eval predictions.

    `predictions` are decoded with `thresholds.temperatures`. With `calibrate`, per-level
    temperatures are fitted on `predictions.level_probs` (the model's own probabilities) and
    `decode(temperatures)` re-decodes the eval split with them; the thresholds are tuned on the
    calibrated confidences, and the result also reports the search without calibration.
    """
    if not len(predictions):
        raise ThresholdTuningError("the eval split has no labelled products to tune thresholds on")
    data = TuningData.build(taxonomy, predictions.true_ids, predictions.path_ids, predictions.confidences, thresholds)
    configured = evaluate(taxonomy, data, thresholds)
    plain = _search(taxonomy, data, thresholds, target_precision, sensitive_precision)
    if not calibrate:
        return _report(taxonomy, plain, configured, thresholds.per_level, target_precision, sensitive_precision)

    if predictions.level_probs is None or predictions.level_labels is None or decode is None:
        raise ValueError("calibration needs the eval split's per-level probabilities, labels and a decoder")
    calibration = fit_level_temperatures(predictions.level_probs, predictions.level_labels)
    # Rounded before decoding, so the config holds exactly the temperatures tuned on; trailing
    # 1.0s dropped (levels past the tuple are not scaled).
    temperatures = [float(f"{c.temperature:.3g}") for c in calibration]
    while temperatures and temperatures[-1] == 1.0:
        temperatures.pop()
    path_ids, confidences = decode(temperatures)
    calibrated_data = TuningData.build(taxonomy, predictions.true_ids, path_ids, confidences, thresholds)
    found = _search(taxonomy, calibrated_data, thresholds, target_precision, sensitive_precision, temperatures)
    plain_scores = evaluate(taxonomy, data, plain.thresholds)
    return _report(taxonomy, found, configured, thresholds.per_level, target_precision, sensitive_precision, calibration, {
        "reached": plain.reached, "per_level": list(plain.thresholds.per_level),
        "hierarchical_precision": plain_scores.precision, "hierarchical_recall": plain_scores.recall,
        "coverage": plain_scores.coverage})


# ----------------------------------------------------------------------------- text report
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
