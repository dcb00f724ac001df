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
"""

from __future__ import annotations

import collections
import dataclasses
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma
import tensorflow_text  # noqa: F401  (the Evaluator loads models whose Transform graph uses its ops)
from tensorflow_model_analysis.metrics import metric_types

from prodcat import features as F
from prodcat.module_config import load_component_taxonomy
from prodcat.sensitive import sensitive_membership, sensitive_roots
from prodcat.taxonomy import Taxonomy
# The Evaluator loads the model with Keras, which needs prodcat's Keras classes registered. In an
# SDK worker process (portable runner, Dataflow, Flink) nothing else imports them: this module is
# unpickled with the metric, in the same fused stage, before the model loads.
from prodcat.trainer import model as _registers_keras_objects  # noqa: F401

METRIC_NAME = "hierarchical"

# Per sensitive subtree, over the products whose served category lies in it (`{}`: its short name).
PREDICTED_SUBTREE_METRICS = ("sensitive_predicted_{}_count", "sensitive_predicted_{}_hierarchical_precision",
                             "sensitive_predicted_{}_precision")


def metric_names(depth: int, sensitive_subtrees: Iterable[str] = ()) -> list[str]:
    """Every value the metric reports, in a stable order (used by reports and gates).

    `sensitive_subtrees`: the short names of the sensitive subtrees (`sensitive_subtree_names`).
    """
    names = ["hierarchical_precision", "hierarchical_recall", "hierarchical_f1", "leaf_accuracy", "coverage",
             "sensitive_products", "sensitive_hierarchical_precision", "sensitive_predicted_precision",
             "sensitive_predictions", "sensitive_predicted_hierarchical_precision"]
    for level in range(1, depth + 1):
        names += [f"accuracy_level_{level}", f"weighted_f1_level_{level}",
                  f"coverage_level_{level}", f"precision_level_{level}"]
    for subtree in sensitive_subtrees:
        names += [pattern.format(subtree) for pattern in PREDICTED_SUBTREE_METRICS]
    return names


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")


def sensitive_subtree_names(taxonomy: Taxonomy, paths: Iterable[str]) -> dict[str, str]:
    """Short name -> root id of each configured sensitive subtree that `taxonomy` has, in config order.

    The name is the subtree's last path segment as an identifier ("Health & Beauty > Health Care >
    Medicine & Drugs" -> "medicine_drugs"); when two subtrees share it, more of the path is used.
    """
    roots = list(dict.fromkeys(sensitive_roots(taxonomy, paths)))
    segments = {root: [_slug(part) for part in taxonomy[root].path_str.split(" > ")] for root in roots}

    def name(root: str, parts: int) -> str:
        return "_".join(s for s in segments[root][-parts:] if s) or f"id_{_slug(root)}"

    names: dict[str, str] = {}
    for root in roots:
        parts = 1
        while parts < len(segments[root]) and any(
                name(root, parts) == name(other, parts) for other in roots if other != root):
            parts += 1
        candidate = name(root, parts)
        names[candidate if candidate not in names else f"{candidate}_id_{_slug(root)}"] = root
    return names


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


@dataclasses.dataclass
class HierarchicalCounts:
    """Additive counts from which every metric is derived; merging is addition."""

    products: int = 0
    covered: int = 0
    leaf_correct: int = 0
    h_overlap: int = 0
    h_predicted: int = 0
    h_true: int = 0
    level_total: dict[int, int] = dataclasses.field(default_factory=lambda: collections.Counter())
    level_correct: dict[int, int] = dataclasses.field(default_factory=lambda: collections.Counter())
    level_covered: dict[int, int] = dataclasses.field(default_factory=lambda: collections.Counter())
    level_covered_correct: dict[int, int] = dataclasses.field(default_factory=lambda: collections.Counter())
    # per level: (true class, predicted class) -> count, for weighted F1
    confusion: dict[int, dict[tuple[str, str], int]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(collections.Counter))
    sensitive_products: int = 0
    sensitive_overlap: int = 0
    sensitive_predicted_nodes: int = 0
    sensitive_predictions: int = 0
    sensitive_predictions_correct: int = 0
    sensitive_predictions_overlap: int = 0
    sensitive_predictions_nodes: int = 0
    # per sensitive subtree root id, over products whose served category lies in that subtree:
    # their number, how many have their true category in it too, and hierarchical precision counts
    subtree_predicted: dict[str, int] = dataclasses.field(default_factory=lambda: collections.Counter())
    subtree_predicted_correct: dict[str, int] = dataclasses.field(default_factory=lambda: collections.Counter())
    subtree_predicted_overlap: dict[str, int] = dataclasses.field(default_factory=lambda: collections.Counter())
    subtree_predicted_nodes: dict[str, int] = dataclasses.field(default_factory=lambda: collections.Counter())

    def add(self, true_path: list[str], predicted_path: list[str], full_path: list[str],
            true_sensitive: str = "", predicted_sensitive: str = "", subtree_roots: Sequence[str] = ()) -> None:
        """`predicted_path`: the served (thresholded) path; `full_path`: the greedy path to its end;
        `*_sensitive`: the sensitive subtree (path) the true / served category lies in, or "" (the
        deepest one when subtrees nest); `subtree_roots`: ids of the sensitive subtree roots, each
        scored on its own over the products whose served path passes through it."""
        overlap = len(set(true_path) & set(predicted_path))
        if true_sensitive or predicted_sensitive:
            self.sensitive_products += 1
            self.sensitive_overlap += overlap
            self.sensitive_predicted_nodes += len(set(predicted_path))
        if predicted_sensitive:
            self.sensitive_predictions += 1
            self.sensitive_predictions_correct += predicted_sensitive == true_sensitive
            self.sensitive_predictions_overlap += overlap
            self.sensitive_predictions_nodes += len(set(predicted_path))
        for root in subtree_roots:
            if root in predicted_path:
                self.subtree_predicted[root] += 1
                self.subtree_predicted_correct[root] += root in true_path
                self.subtree_predicted_overlap[root] += overlap
                self.subtree_predicted_nodes[root] += len(set(predicted_path))
        self.products += 1
        self.covered += bool(predicted_path)
        self.leaf_correct += bool(predicted_path) and predicted_path[-1] == true_path[-1]
        true_set, predicted_set = set(true_path), set(predicted_path)
        self.h_overlap += len(true_set & predicted_set)
        self.h_predicted += len(predicted_set)
        self.h_true += len(true_set)
        for level, true_id in enumerate(true_path, start=1):
            predicted = full_path[level - 1] if len(full_path) >= level else ""
            self.level_total[level] += 1
            self.level_correct[level] += predicted == true_id
            self.confusion[level][(true_id, predicted)] += 1
        for level, predicted in enumerate(predicted_path, start=1):
            self.level_covered[level] += 1
            self.level_covered_correct[level] += len(true_path) >= level and true_path[level - 1] == predicted

    def merge(self, other: HierarchicalCounts) -> None:
        for field in ("products", "covered", "leaf_correct", "h_overlap", "h_predicted", "h_true", "sensitive_products",
                      "sensitive_overlap", "sensitive_predicted_nodes", "sensitive_predictions",
                      "sensitive_predictions_correct", "sensitive_predictions_overlap", "sensitive_predictions_nodes"):
            setattr(self, field, getattr(self, field) + getattr(other, field))
        for field in ("level_total", "level_correct", "level_covered", "level_covered_correct", "subtree_predicted",
                      "subtree_predicted_correct", "subtree_predicted_overlap", "subtree_predicted_nodes"):
            getattr(self, field).update(getattr(other, field))
        for level, confusion in other.confusion.items():
            self.confusion[level].update(confusion)

    def results(self, depth: int, sensitive_subtrees: dict[str, str] | None = None) -> dict[str, float]:
        """Every metric; `sensitive_subtrees` (short name -> root id) adds the per-subtree ones."""
        p = _ratio(self.h_overlap, self.h_predicted)
        r = _ratio(self.h_overlap, self.h_true)
        out = {
            "hierarchical_precision": p,
            "hierarchical_recall": r,
            # No correct node at all (e.g. nothing served) is an F1 of 0, not undefined.
            "hierarchical_f1": 0.0 if self.h_true and not self.h_overlap else _ratio(2 * p * r, p + r),
            "leaf_accuracy": _ratio(self.leaf_correct, self.products),
            "coverage": _ratio(self.covered, self.products),
            "sensitive_products": float(self.sensitive_products),
            "sensitive_hierarchical_precision": _ratio(self.sensitive_overlap, self.sensitive_predicted_nodes),
            "sensitive_predicted_precision": _ratio(self.sensitive_predictions_correct, self.sensitive_predictions),
            "sensitive_predictions": float(self.sensitive_predictions),
            "sensitive_predicted_hierarchical_precision": _ratio(self.sensitive_predictions_overlap,
                                                                 self.sensitive_predictions_nodes),
        }
        for level in range(1, depth + 1):
            out[f"accuracy_level_{level}"] = _ratio(self.level_correct[level], self.level_total[level])
            out[f"weighted_f1_level_{level}"] = weighted_f1(self.confusion.get(level, {}))
            out[f"coverage_level_{level}"] = _ratio(self.level_covered[level], self.products)
            out[f"precision_level_{level}"] = _ratio(self.level_covered_correct[level], self.level_covered[level])
        count, hierarchical, exact = PREDICTED_SUBTREE_METRICS
        for name, root in (sensitive_subtrees or {}).items():
            out[count.format(name)] = float(self.subtree_predicted[root])
            out[hierarchical.format(name)] = _ratio(self.subtree_predicted_overlap[root], self.subtree_predicted_nodes[root])
            out[exact.format(name)] = _ratio(self.subtree_predicted_correct[root], self.subtree_predicted[root])
        return out


def weighted_f1(confusion: dict[tuple[str, str], int]) -> float:
    """Support-weighted mean of per-class F1 over the true classes (scikit-learn's 'weighted')."""
    tp: collections.Counter = collections.Counter()
    predicted: collections.Counter = collections.Counter()
    support: collections.Counter = collections.Counter()
    for (true_id, pred_id), count in confusion.items():
        support[true_id] += count
        predicted[pred_id] += count
        if true_id == pred_id:
            tp[true_id] += count
    total = sum(support.values())
    if not total:
        return float("nan")
    score = 0.0
    for cls, n in support.items():
        denominator = n + predicted[cls]
        score += n * (2 * tp[cls] / denominator if denominator else 0.0)
    return score / total


def _ratio(a: float, b: float) -> float:
    return float(a) / float(b) if b else float("nan")


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
