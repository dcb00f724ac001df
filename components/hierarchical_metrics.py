"""Hierarchical metrics as a TFMA metric, computed by the TFX Evaluator with Beam.

Scores the prediction serving returns (thresholded and tree-consistent) against the product's
true category, using the taxonomy the model was trained with:

- hierarchical precision / recall / F1 (Kiritchenko et al.): the predicted and the true node are
  each extended with all their ancestors; micro-averaged over products;
- leaf accuracy: the served category equals the true one;
- coverage (a prediction at level 1) and coverage at each level;
- per-level accuracy and weighted F1 of the full greedy path (each level as a flat task, the
  MWPD convention), and per-level precision among products covered at that level;
- sensitive subtrees, sliced on the *true* category by TFMA (how good are we on these products)
  and here on the *served* category (how trustworthy is a sensitive prediction), which a feature
  slice cannot do: hierarchical precision over products whose true or served category is
  sensitive; the precision of sensitive predictions (served category in a sensitive subtree and
  the true category in that same subtree), their hierarchical precision and count; and the same
  three for each configured subtree on its own (`sensitive_predicted_<subtree>_count`,
  `..._hierarchical_precision`, `..._precision`, see `sensitive_subtree_names`).

The counting and the metric names are in `hierarchical_counts.py`; this module is what TFMA loads.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma
import tensorflow_text  # noqa: F401  (the Evaluator loads models whose Transform graph uses its ops)
from tensorflow_model_analysis.metrics import metric_types

from prodcat import features as F
from prodcat.components.hierarchical_counts import (  # noqa: F401  (re-exported)
    PREDICTED_SUBTREE_METRICS, HierarchicalCounts, metric_names, sensitive_subtree_names, weighted_f1,
)
from prodcat.module_config import load_component_taxonomy
from prodcat.sensitive import sensitive_membership
# The Evaluator loads the model with Keras, which needs prodcat's Keras classes registered. In an
# SDK worker process (portable runner, Dataflow, Flink) nothing else imports them: this module is
# unpickled with the metric, in the same fused stage, before the model loads.
from prodcat.trainer import model as _registers_keras_objects  # noqa: F401

METRIC_NAME = "hierarchical"


class HierarchicalMetrics(metric_types.Metric):
    """TFMA metric over the serving outputs; configured with the run's taxonomy file."""

    def __init__(self, taxonomy_path: str, name: str = METRIC_NAME, code_fingerprint: str = "",
                 sensitive_paths: list[str] | None = None) -> None:
        super().__init__(_hierarchical_computations, taxonomy_path=taxonomy_path, name=name,
                         sensitive_paths=list(sensitive_paths or []))
        self.code_fingerprint = code_fingerprint

    @property
    def compute_confidence_interval(self) -> bool:
        return False


metric_types.register_metric(HierarchicalMetrics)


def _hierarchical_computations(
    taxonomy_path: str, name: str = METRIC_NAME, sensitive_paths: list[str] | None = None,
    model_names: list[str] | None = None,
    output_names: list[str] | None = None, sub_keys: list[Any] | None = None, example_weighted: bool = False,
) -> metric_types.MetricComputations:
    computations = []
    taxonomy = load_component_taxonomy(taxonomy_path)
    subtrees = sensitive_subtree_names(taxonomy, sensitive_paths or ())
    for model_name in model_names or [""]:
        # Products are unweighted; keys carry example_weighted=None so that MetricsSpec.thresholds
        # (keyed the same way by TFMA) gate these values directly.
        keys = {
            metric: metric_types.MetricKey(name=metric, model_name=model_name, example_weighted=None)
            for metric in metric_names(taxonomy.depth, subtrees)
        }
        computations.append(metric_types.MetricComputation(
            keys=list(keys.values()),
            preprocessors=[metric_types.FeaturePreprocessor(feature_keys=[F.CATEGORY], model_names=[model_name] if model_name else None)],
            combiner=_HierarchicalCombiner(taxonomy_path, keys, model_name, tuple(sensitive_paths or ())),
        ))
    return computations


def _text(value: Any) -> str:
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size else b""
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _strings(value: Any) -> list[str]:
    return [_text(v) for v in np.asarray(value).reshape(-1)]


class _HierarchicalCombiner(beam.CombineFn):
    def __init__(self, taxonomy_path: str, keys: dict[str, metric_types.MetricKey], model_name: str,
                 sensitive_paths: tuple[str, ...] = ()) -> None:
        self._taxonomy_path = taxonomy_path
        self._keys = keys
        self._model_name = model_name
        self._sensitive_paths = sensitive_paths
        self._taxonomy = None
        self._sensitive: dict[str, str] = {}
        self._subtrees: dict[str, str] = {}
        self._subtree_roots: tuple[str, ...] = ()

    def setup(self) -> None:
        self._taxonomy = load_component_taxonomy(self._taxonomy_path)
        self._sensitive = sensitive_membership(self._taxonomy, self._sensitive_paths)
        self._subtrees = sensitive_subtree_names(self._taxonomy, self._sensitive_paths)
        self._subtree_roots = tuple(self._subtrees.values())

    def create_accumulator(self) -> HierarchicalCounts:
        return HierarchicalCounts()

    def add_input(self, accumulator: HierarchicalCounts, element: metric_types.StandardMetricInputs) -> HierarchicalCounts:
        if self._taxonomy is None:
            self.setup()
        predictions = element.predictions
        if self._model_name and isinstance(predictions, dict) and self._model_name in predictions:
            predictions = predictions[self._model_name]
        true_id = _text(element.features[F.CATEGORY])
        node = self._taxonomy.get(true_id)
        if node is None:  # unlabelled example: nothing to score
            return accumulator
        level_ids = _strings(predictions[F.OUT_LEVEL_IDS])
        depth = int(np.asarray(predictions[F.OUT_DEPTH]).reshape(-1)[0])
        full_depth = int(np.asarray(predictions[F.OUT_FULL_DEPTH]).reshape(-1)[0])
        served = level_ids[:depth]
        accumulator.add(self._taxonomy.ancestors(node.id), served, level_ids[:full_depth],
                        self._sensitive.get(node.id, ""), self._sensitive.get(served[-1], "") if served else "",
                        self._subtree_roots)
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[HierarchicalCounts]) -> HierarchicalCounts:
        accumulators = iter(accumulators)
        result = next(accumulators)
        for accumulator in accumulators:
            result.merge(accumulator)
        return result

    def extract_output(self, accumulator: HierarchicalCounts) -> dict[metric_types.MetricKey, float]:
        if self._taxonomy is None:
            self.setup()
        values = accumulator.results(self._taxonomy.depth, self._subtrees)
        return {key: values[name] for name, key in self._keys.items()}


def metrics_spec(taxonomy_path: str, code_fingerprint: str = "", sensitive_paths: tuple[str, ...] = ()) -> tfma.MetricsSpec:
    """The MetricsSpec that registers these metrics in an EvalConfig.

    `code_fingerprint` (of this module) is part of the config so that TFX's cache re-evaluates
    when the metric code changes.
    """
    import json

    return tfma.MetricsSpec(metrics=[
        tfma.MetricConfig(class_name="ExampleCount"),
        tfma.MetricConfig(
            class_name=HierarchicalMetrics.__name__, module=__name__,
            config=json.dumps({"taxonomy_path": taxonomy_path, "code_fingerprint": code_fingerprint,
                               "sensitive_paths": list(sensitive_paths)}),
        ),
    ])
