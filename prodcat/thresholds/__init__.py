"""Threshold tuning: per-level confidence floors for a target hierarchical precision.

- `search`: the search itself (numpy), re-exported from its parts: `tuning_data` (what it runs
  over), `scoring` (hP/coverage as the Evaluator), `level_search` (per-level floors with the
  highest coverage at hP >= target), `subtree_floors` (sensitive-subtree floors for a stricter
  target), `readable_values` (short decimals deciding every eval node alike);
- `calibration`: per-level temperature scaling fitted on the eval split;
- `tuning`: both together over a model's eval predictions (`tune`), through `config_search` (the
  search for one config section, alternating levels and sensitive floors): the tuned
  `ThresholdConfig`, achieved precision/coverage per target and per sensitive slice,
  precision-coverage curves per level (`tuning_result`), and the table printed (`result_table`);

A trained model's eval predictions and its re-export with new thresholds are
`prodcat.trainer.retune`; a finished run's model and eval split, `prodcat.reporting.tuning`
(`prodcat tune-thresholds`); the pipeline component is `prodcat.components.threshold_tuner`.
"""

from prodcat.thresholds.result_table import format_result
from prodcat.thresholds.search import ThresholdTuningError, TuningData
from prodcat.thresholds.tuning import EvalPredictions, tune
from prodcat.thresholds.tuning_result import CurvePoint, TuningResult

__all__ = ["CurvePoint", "EvalPredictions", "ThresholdTuningError", "TuningData", "TuningResult", "format_result", "tune"]
