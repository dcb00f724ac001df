"""The counts behind the hierarchical metrics, and the metrics computed from them.

`HierarchicalCounts` adds up one product at a time and merges by addition; `results` turns the
counts into every value `metric_names` lists. Kept apart from the TFMA metric that wraps them
(`hierarchical_metrics.py`) as plain Python, without TFMA, Beam or TensorFlow, so the Evaluator's
combiner and the quality benchmark score served predictions with the same code.
"""

from __future__ import annotations

import collections
import dataclasses
import re
import unicodedata
from collections.abc import Iterable, Sequence

from prodcat.sensitive import sensitive_roots
from prodcat.taxonomy import Taxonomy

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
