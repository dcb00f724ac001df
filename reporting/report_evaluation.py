"""The Evaluator's verdict on a run's model, read back from its TFMA evaluation: every slice's
metrics (numbers exactly as TFMA stored them) and each gate of the eval config with its verdict."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.writers import eval_config_writer

from prodcat.reporting.report_data import GateVerdict, SliceMetrics


def load_slices(evaluation_uri: str) -> tuple[list[SliceMetrics], str]:
    """Every slice's metrics for the candidate model, as `tfma.load_metrics` gives them."""
    candidate = _candidate_name(evaluation_uri)
    slices = []
    for metrics_for_slice in tfma.load_metrics(evaluation_uri):
        column, value = _slice_column_value(metrics_for_slice.slice_key)
        metrics: dict[str, float] = {}
        diffs: dict[str, float] = {}
        for item in metrics_for_slice.metric_keys_and_values:
            key = item.key
            if key.model_name and key.model_name != candidate:
                continue
            if not item.value.HasField("double_value"):
                continue
            target = diffs if key.is_diff else metrics
            target.setdefault(key.name, item.value.double_value.value)
        slices.append(SliceMetrics(column, value, metrics, diffs))
    return slices, candidate


def _candidate_name(evaluation_uri: str) -> str:
    eval_config = _eval_config(evaluation_uri)
    if eval_config is not None:
        for spec in eval_config.model_specs:
            if not spec.is_baseline:
                return spec.name
    return "candidate"


def _eval_config(evaluation_uri: str) -> Any:
    try:
        return eval_config_writer.load_eval_run(evaluation_uri)[0]
    except (OSError, ValueError, IndexError):
        return None


def _slice_column_value(slice_key: Any) -> tuple[str, str]:
    """("", "") for the overall slice; one (column, value) for single-feature slices."""
    keys = list(slice_key.single_slice_keys)
    if not keys:
        return "", ""
    parts = []
    for key in keys:
        kind = key.WhichOneof("kind")
        raw = getattr(key, kind) if kind else b""
        parts.append((key.column, raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)))
    return " & ".join(c for c, _ in parts), " & ".join(v for _, v in parts)


def load_gates(evaluation_uri: str, slices: Sequence[SliceMetrics]) -> tuple[list[GateVerdict], list[str]]:
    """Each gate of the eval config on each slice it applies to, with TFMA's verdict.

    The thresholds come from the EvalConfig stored with the evaluation; a gate failed when the
    validation result lists it among the failures, passed when it has a value and is not listed,
    and does not apply ("n/a") without a value (e.g. a change threshold on a run with no baseline).
    """
    try:
        result = tfma.load_validation_result(evaluation_uri)
    except (OSError, ValueError, IndexError):
        result = None
    failures: dict[tuple[str, str, bool], str] = {}
    if result is not None:
        for per_slice in result.metric_validations_per_slice:
            column, value = _slice_column_value(per_slice.slice_key)
            slice_id = f"{column}={value}" if column else "overall"
            for failure in per_slice.failures:
                failures[(slice_id, failure.metric_key.name, failure.metric_key.is_diff)] = failure.message
    verdicts: list[GateVerdict] = []
    seen: set[tuple[str, str, bool]] = set()
    eval_config = _eval_config(evaluation_uri)
    for metric, spec, threshold in _thresholds(eval_config):
        for part, is_diff in (("value_threshold", False), ("change_threshold", True)):
            if not threshold.HasField(part):
                continue
            bound = _bound_text(getattr(threshold, part), is_diff)
            for slice_metrics in slices:
                if spec is not None and not _spec_matches(spec, slice_metrics):
                    continue
                key = (slice_metrics.slice_id, metric, is_diff)
                if key in seen:
                    continue
                seen.add(key)
                value = (slice_metrics.diffs if is_diff else slice_metrics.metrics).get(metric)
                if key in failures:
                    verdict = "fail"
                elif value is None or math.isnan(value):
                    verdict = "n/a"
                else:
                    verdict = "pass"
                verdicts.append(GateVerdict(slice_metrics.slice_id, metric, is_diff, bound, value, verdict,
                                            failures.get(key, "")))
    for (slice_id, metric, is_diff), message in failures.items():  # failures of gates the report could not place
        if (slice_id, metric, is_diff) not in seen:
            verdicts.append(GateVerdict(slice_id, metric, is_diff, "", None, "fail", message))
    missing = [str(spec).strip().replace("\n", " ") or "overall" for spec in (result.missing_slices if result else [])]
    return verdicts, missing


def _thresholds(eval_config: Any) -> Iterable[tuple[str, Any, Any]]:
    """(metric name, slicing spec or None for every slice, MetricThreshold) from an EvalConfig."""
    if eval_config is None:
        return
    for spec in eval_config.metrics_specs:
        for metric, threshold in spec.thresholds.items():
            yield metric, None, threshold
        for metric, per_slice in spec.per_slice_thresholds.items():
            for item in per_slice.thresholds:
                for slicing_spec in item.slicing_specs:
                    yield metric, slicing_spec, item.threshold


def _spec_matches(spec: Any, slice_metrics: SliceMetrics) -> bool:
    columns = set(spec.feature_keys) | set(spec.feature_values)
    if not columns:
        return not slice_metrics.column
    if columns != set(slice_metrics.column.split(" & ")):
        return False
    return len(columns) > 1 or all(slice_metrics.value == value for value in spec.feature_values.values())


def _bound_text(threshold: Any, is_diff: bool) -> str:
    parts = []
    if is_diff:
        for kind in ("absolute", "relative"):
            if threshold.HasField(kind):
                value = getattr(threshold, kind).value
                higher = threshold.direction != 1  # MetricDirection: 2 HIGHER_IS_BETTER, 1 LOWER_IS_BETTER
                parts.append(f"{'relative ' if kind == 'relative' else ''}change vs baseline "
                             f"{'≥' if higher else '≤'} {value:+.4g}")
        return ", ".join(parts)
    if threshold.HasField("lower_bound"):
        parts.append(f"≥ {threshold.lower_bound.value:.4g}")
    if threshold.HasField("upper_bound"):
        parts.append(f"≤ {threshold.upper_bound.value:.4g}")
    return " and ".join(parts)
