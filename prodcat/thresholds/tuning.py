"""Threshold tuning end to end, without TensorFlow: eval predictions in, tuned ThresholdConfig and a
report out (achieved precision/coverage per target, per sensitive slice, precision-coverage curves).

`prodcat.trainer.retune` produces the `EvalPredictions` from a trained model; the CLI
(`prodcat tune-thresholds`) and the pipeline's ThresholdTuner both call `tune`. Its parts: the
search for a config section (`config_search`), the result (`tuning_result`) and its table
(`result_table`); this module runs them over the predictions, with or without calibration.

The achieved figures are measured on the split the thresholds were chosen on, so they are a little
optimistic for new products (a handful of parameters, but chosen to just reach the target): leave
some room in the target, or tune on a split the Evaluator does not use.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np

from prodcat.config import ThresholdConfig
from prodcat.taxonomy import Taxonomy
from prodcat.thresholds import search
from prodcat.thresholds.calibration import LevelCalibration, fit_level_temperatures
from prodcat.thresholds.config_search import sensitive_floors, tune_data, tuned_config
from prodcat.thresholds.search import Scores, ThresholdTuningError, TuningData
from prodcat.thresholds.tuning_result import CurvePoint, SubtreeReport, TuningResult

CURVE_POINTS = np.round(np.linspace(0.0, 1.0, 101), 2)


@dataclasses.dataclass
class EvalPredictions:
    """The eval split as the serving graph decodes it with thresholds off.

    `path_ids[i]`: product i's decoded path (level 1 first); `confidences[i, k]`: the confidence
    of its level-(k+1) node. `level_probs[k]` ([products, classes of level k+1]) and
    `level_labels[k]` (true class index, -1 below the true depth) are only needed to calibrate,
    with `sentence_embeddings` ([products, dim]) and `name_query_embeddings` (the short text's) for
    the decoder's name evidence.
    """

    product_ids: list[str]
    true_ids: list[str]
    path_ids: list[list[str]]
    confidences: np.ndarray
    level_probs: list[np.ndarray] | None = None
    level_labels: list[np.ndarray] | None = None
    sentence_embeddings: np.ndarray | None = None
    name_query_embeddings: np.ndarray | None = None
    unfamiliar: np.ndarray | None = None  # [products] bool: served under `per_level_unfamiliar`; None: no product

    def __len__(self) -> int:
        return len(self.true_ids)


# (temperatures) -> (path_ids, confidences): decodes the stored probabilities with temperatures.
Decode = Callable[[Sequence[float]], tuple[list[list[str]], np.ndarray]]


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
    data = TuningData.build(taxonomy, predictions.true_ids, predictions.path_ids, predictions.confidences, thresholds,
                           predictions.unfamiliar)
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
    calibrated_data = TuningData.build(taxonomy, predictions.true_ids, path_ids, confidences, thresholds,
                                      predictions.unfamiliar)
    found = _search(taxonomy, calibrated_data, thresholds, target_precision, sensitive_precision, temperatures)
    plain_scores = evaluate(taxonomy, data, plain.thresholds)
    return _report(taxonomy, found, configured, thresholds.per_level, target_precision, sensitive_precision, calibration, {
        "reached": plain.reached, "per_level": list(plain.thresholds.per_level),
        "hierarchical_precision": plain_scores.precision, "hierarchical_recall": plain_scores.recall,
        "coverage": plain_scores.coverage})

