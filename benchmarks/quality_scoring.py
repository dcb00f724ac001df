"""Every figure of `benchmarks.quality`'s table for one system on one set of products.

Weighted F1 per level, hierarchical P/R/F1, leaf accuracy, macro F1, coverage at hierarchical
precision 0.90, and the per-level-1-category breakdown; all computed with the Evaluator's own
`HierarchicalCounts`, so every system is scored by the same code. `benchmarks.ablation` scores
its variants with it too.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence

import numpy as np  # noqa: E402

from prodcat.components.hierarchical_metrics import HierarchicalCounts  # noqa: E402
from prodcat.taxonomy import Taxonomy  # noqa: E402

TARGET_PRECISION = 0.90


# ----------------------------------------------------------------------------- scoring
def coverage_at_precision(true_paths: Sequence[list[str]], paths: Sequence[list[str]], confidences: Sequence[float],
                          target: float = TARGET_PRECISION) -> tuple[float, float | None]:
    """(largest coverage whose hierarchical precision >= target, the confidence threshold giving it).

    Products are kept in order of decreasing confidence; products with equal confidence are kept
    or dropped together (a threshold cannot split them). Hierarchical precision of a kept set is
    the set-based micro precision of `HierarchicalCounts`; (0.0, None) when no threshold reaches it.
    """
    n = len(paths)
    if n == 0:
        return float("nan"), None
    order = np.argsort(-np.asarray(confidences, dtype=np.float64), kind="stable")
    conf = np.asarray(confidences, dtype=np.float64)[order]
    overlap = np.array([len(set(true_paths[i]) & set(paths[i])) for i in order], dtype=np.float64)
    predicted = np.array([len(set(paths[i])) for i in order], dtype=np.float64)
    cum_overlap, cum_predicted = np.cumsum(overlap), np.cumsum(predicted)
    last_of_group = np.append(conf[1:] != conf[:-1], True)  # cut only between distinct confidences
    precision = np.divide(cum_overlap, cum_predicted, out=np.zeros(n), where=cum_predicted > 0)
    ok = np.flatnonzero(last_of_group & (precision >= target) & (cum_predicted > 0))
    if not len(ok):
        return 0.0, None
    k = ok[-1]
    return (k + 1) / n, float(conf[k])


def leaf_macro_f1(true_paths: Sequence[list[str]], paths: Sequence[list[str]]) -> float:
    """Macro F1 of the exact category over the categories labelled in the evaluation split."""
    from sklearn.metrics import f1_score

    y_true = [t[-1] for t in true_paths]
    y_pred = [p[-1] if p else "" for p in paths]
    return float(f1_score(y_true, y_pred, labels=sorted(set(y_true)), average="macro", zero_division=0))


def score(true_paths: Sequence[list[str]], paths: Sequence[list[str]], confidences: Sequence[float],
          depth: int) -> dict[str, float]:
    """Every table figure for one system on one set of products (paths: ids, level 1 first)."""
    counts = HierarchicalCounts()
    for truth, path in zip(true_paths, paths):
        counts.add(list(truth), list(path), list(path))
    values = counts.results(depth)
    levels = [k for k in range(1, depth + 1) if counts.level_total[k]]
    out = {f"weighted_f1_level_{k}": values[f"weighted_f1_level_{k}"] for k in levels}
    out["mean_level_weighted_f1"] = float(np.mean([values[f"weighted_f1_level_{k}"] for k in levels])) if levels else float("nan")
    for name in ("hierarchical_precision", "hierarchical_recall", "hierarchical_f1", "leaf_accuracy"):
        out[name] = values[name]
    out["leaf_macro_f1"] = leaf_macro_f1(true_paths, paths) if paths else float("nan")
    coverage, threshold = coverage_at_precision(true_paths, paths, confidences)
    out["coverage_at_hp90"] = coverage
    out["coverage_threshold"] = threshold
    out["products"] = len(paths)
    return out


def level1_breakdown(taxonomy: Taxonomy, true_paths: Sequence[list[str]], paths: Sequence[list[str]]) -> dict[str, dict]:
    """Per true level-1 category: products, level-1 F1 of that class, and hF1 / leaf accuracy of its products."""
    out: dict[str, dict] = {}
    predicted_l1 = collections.Counter(p[0] if p else "" for p in paths)
    by_l1: dict[str, list[int]] = collections.defaultdict(list)
    for i, truth in enumerate(true_paths):
        by_l1[truth[0]].append(i)
    for l1, rows in by_l1.items():
        counts = HierarchicalCounts()
        for i in rows:
            counts.add(list(true_paths[i]), list(paths[i]), list(paths[i]))
        values = counts.results(taxonomy.depth)
        tp = sum(1 for i in rows if paths[i] and paths[i][0] == l1)
        precision = tp / predicted_l1[l1] if predicted_l1[l1] else 0.0
        recall = tp / len(rows)
        out[l1] = {
            "name": taxonomy[l1].name, "products": len(rows),
            "level1_f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
            # no overlap at all gives 0/0 in the Evaluator's F1: that is an F1 of 0 here
            "hierarchical_f1": 0.0 if np.isnan(values["hierarchical_f1"]) else values["hierarchical_f1"],
            "leaf_accuracy": values["leaf_accuracy"],
        }
    return out
