"""The optional gate on the precision of sensitive predictions (slicing on the predicted subtree)."""

from __future__ import annotations

import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_specs

from prodcat.config import Config
from prodcat.pipeline.pipeline import eval_config


def _gated(config: Config) -> dict[str, list]:
    ec = eval_config(config, "/tmp/taxonomy.txt")
    thresholds = metric_specs.metric_thresholds_from_metrics_specs(ec.metrics_specs, eval_config=ec)
    return {key.name: sliced for key, sliced in thresholds.items() if not key.is_diff}


def test_off_by_default() -> None:
    assert Config().evaluation.min_sensitive_predicted_precision == 0.0
    assert "sensitive_predicted_precision" not in _gated(Config())


def test_a_floor_gates_the_overall_slice() -> None:
    config = Config.model_validate({"evaluation": {"min_sensitive_predicted_precision": 0.8}})
    sliced = _gated(config)["sensitive_predicted_precision"]
    assert [spec for spec, _ in sliced] == [tfma.SlicingSpec()]
    (_, threshold), = sliced
    assert threshold.lower_bound.value == 0.8  # TFMA keys the value part of a MetricThreshold on its own
