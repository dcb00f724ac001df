"""Threshold tuning: per-level confidence floors for a target hierarchical precision.

- `search`: the search itself (numpy): per-level floors with the highest coverage at hP >= target,
  sensitive-subtree floors for a stricter target, readable values;
- `calibration`: per-level temperature scaling fitted on the eval split;
- `tuning`: both together over a model's eval predictions: the tuned `ThresholdConfig`, achieved
  precision/coverage per target and per sensitive slice, precision-coverage curves per level;

A trained model's eval predictions and its re-export with new thresholds are
`prodcat.trainer.retune`; a finished run's model and eval split, `prodcat.reporting.tuning`
(`prodcat tune-thresholds`); the pipeline component is `prodcat.components.threshold_tuner`.
"""

from prodcat.thresholds.search import ThresholdTuningError, TuningData
from prodcat.thresholds.tuning import CurvePoint, EvalPredictions, TuningResult, format_result, tune

__all__ = ["CurvePoint", "EvalPredictions", "ThresholdTuningError", "TuningData", "TuningResult", "format_result", "tune"]
