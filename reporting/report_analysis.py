"""The report's analyses of the eval records: precision-coverage curves as one confidence
threshold is swept, the level-1 confusion, per-category scores and example mistakes.

Every figure is a count over `EvalRecord`s, so the curves can be checked against a direct count
of what serving would return (tests/reporting/test_report_analysis.py does).
"""

from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from prodcat.reporting.report_data import EvalRecord
from prodcat.taxonomy import Taxonomy

CURVE_THRESHOLDS = (0.3, 0.5, 0.7, 0.9)
MISTAKE_CATEGORIES = 5
MISTAKES_PER_CATEGORY = 3
TOP_CONFUSIONS = 10


def _correct_matrix(records: Sequence[EvalRecord], depth: int) -> tuple[np.ndarray, np.ndarray]:
    """[n, depth] prefix-minimum confidence (-1 past the path's end) and level correctness."""
    n = len(records)
    score = np.full((n, depth), -1.0)
    correct = np.zeros((n, depth), dtype=bool)
    for i, r in enumerate(records):
        running = math.inf
        for k, (node, confidence) in enumerate(zip(r.full_path[:depth], r.confidences)):
            running = min(running, confidence)
            score[i, k] = running
            correct[i, k] = len(r.true_path) > k and r.true_path[k] == node
    return score, correct


def level_curves(records: Sequence[EvalRecord], depth: int) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Per level k: (k, thresholds, coverage, precision) as one threshold t is swept over all levels.

    A product is covered at level k when the confidence of every level of its path up to k
    reaches t (serving stops at the first level below its floor); coverage counts all eval
    products, precision the covered ones whose level-k category is the true one (as TFMA's
    coverage_level_k / precision_level_k).
    """
    score, correct = _correct_matrix(records, depth)
    n = max(len(records), 1)
    curves = []
    for k in range(min(depth, labelled_depth(records))):
        order = np.argsort(-score[:, k], kind="stable")
        s, c = score[order, k], correct[order, k]
        valid = s >= 0
        s, c = s[valid], c[valid]
        if not len(s):
            continue
        covered = np.arange(1, len(s) + 1)
        right = np.cumsum(c)
        last = np.r_[s[1:] != s[:-1], True]  # one point per distinct threshold (ties included together)
        curves.append((k + 1, s[last], covered[last] / n, right[last] / covered[last]))
    return curves


def hierarchical_curve(records: Sequence[EvalRecord], depth: int,
                       thresholds: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, coverage, hierarchical precision, hierarchical recall) as one threshold is swept."""
    score, correct = _correct_matrix(records, depth)
    if thresholds is None:
        distinct = np.unique(score[score >= 0])
        thresholds = distinct if len(distinct) <= 400 else np.quantile(distinct, np.linspace(0, 1, 400))
    thresholds = np.sort(np.asarray(thresholds, dtype=float))[::-1]
    flat_score, flat_correct = score.reshape(-1), correct.reshape(-1)
    order = np.argsort(-flat_score, kind="stable")
    sorted_score = flat_score[order]
    cumulative_right = np.r_[0, np.cumsum(flat_correct[order])]
    level1 = np.sort(score[:, 0])
    true_nodes = max(sum(len(r.true_path) for r in records), 1)
    n = max(len(records), 1)
    # number of (product, level) pairs with score >= t, for descending sorted_score
    served_nodes = np.searchsorted(-sorted_score, -thresholds, side="right")
    right = cumulative_right[served_nodes]
    precision = np.divide(right, served_nodes, out=np.full(len(thresholds), np.nan), where=served_nodes > 0)
    coverage = (len(level1) - np.searchsorted(level1, thresholds, side="left")) / n
    return thresholds, coverage, precision, right / true_nodes


def curve_table(records: Sequence[EvalRecord], depth: int,
                thresholds: Sequence[float] = CURVE_THRESHOLDS) -> list[tuple[float, list[tuple[float, float]], tuple[float, float]]]:
    """At a few thresholds: per level (coverage, precision), and (coverage, hierarchical precision)."""
    score, correct = _correct_matrix(records, depth)
    n = max(len(records), 1)
    rows = []
    _, h_coverage, h_precision, _ = hierarchical_curve(records, depth, np.asarray(thresholds, dtype=float))
    for i, t in enumerate(sorted(thresholds, reverse=True)):
        levels = []
        for k in range(min(depth, labelled_depth(records))):
            covered = score[:, k] >= t
            levels.append((covered.sum() / n, correct[covered, k].mean() if covered.any() else float("nan")))
        rows.append((t, levels, (float(h_coverage[i]), float(h_precision[i]))))
    return sorted(rows)


def labelled_depth(records: Sequence[EvalRecord]) -> int:
    """The deepest level any eval product's label reaches (deeper levels have nothing to be right about)."""
    return max([len(r.true_path) for r in records] + [1])


def used_depth(records: Sequence[EvalRecord]) -> int:
    """The deepest level any eval product's label or decoded path reaches."""
    return max([len(r.true_path) for r in records] + [len(r.full_path) for r in records] + [1])


def level1_confusion(records: Sequence[EvalRecord], taxonomy: Taxonomy) -> tuple[np.ndarray, list[str], list[str]]:
    """Counts of (true level-1, predicted level-1 on the decoded path); rows/columns ordered by name."""
    counts = collections.Counter((r.true_path[0], r.full_path[0] if r.full_path else "") for r in records)
    true_ids = sorted({t for t, _ in counts}, key=lambda cid: taxonomy[cid].name)
    predicted_ids = sorted({p for _, p in counts}, key=lambda cid: taxonomy[cid].name if cid else "~")
    ids = true_ids + [p for p in predicted_ids if p not in true_ids]
    matrix = np.zeros((len(true_ids), len(ids)), dtype=int)
    for (t, p), count in counts.items():
        matrix[true_ids.index(t), ids.index(p)] = count
    names = [taxonomy[cid].name if cid else "(none)" for cid in ids]
    return matrix, [taxonomy[cid].name for cid in true_ids], names


def top_confusions(matrix: np.ndarray, row_names: Sequence[str], col_names: Sequence[str],
                   limit: int = TOP_CONFUSIONS) -> list[tuple[int, str, str]]:
    """The most frequent (count, true, predicted) level-1 confusions of `level1_confusion`'s matrix."""
    pairs = ((int(matrix[i, j]), row_names[i], col_names[j]) for i in range(matrix.shape[0])
             for j in range(matrix.shape[1]) if matrix[i, j] and row_names[i] != col_names[j])
    return sorted(pairs, reverse=True)[:limit]


@dataclasses.dataclass(frozen=True)
class CategoryScore:
    category_id: str
    support: int          # eval products labelled with it
    predicted: int        # eval products served it
    correct: int
    precision: float
    recall: float
    f1: float


def category_scores(records: Sequence[EvalRecord]) -> list[CategoryScore]:
    """Per labelled category, precision/recall/F1 of the served category (exact match), worst first."""
    support = collections.Counter(r.true_path[-1] for r in records)
    predicted = collections.Counter(r.served_category for r in records if r.served_category)
    correct = collections.Counter(r.true_path[-1] for r in records if r.served_category == r.true_path[-1])
    scores = []
    for cid, n in support.items():
        p = correct[cid] / predicted[cid] if predicted[cid] else float("nan")
        r = correct[cid] / n
        f1 = 2 * correct[cid] / (n + predicted[cid])
        scores.append(CategoryScore(cid, n, predicted[cid], correct[cid], p, r, f1))
    return sorted(scores, key=lambda s: (s.f1, -s.support, s.category_id))


def mistake_kind(record: EvalRecord) -> str:
    """How the served path relates to the label: correct, stopped early, too specific, wrong, none."""
    served = record.served_path
    if not served:
        return "no prediction"
    if tuple(record.true_path[: len(served)]) != tuple(served):
        return "too specific" if tuple(served[: len(record.true_path)]) == tuple(record.true_path) else "wrong category"
    if len(served) < len(record.true_path):
        return "stopped early"
    return "correct"


def example_mistakes(records: Sequence[EvalRecord], category_id: str, limit: int = MISTAKES_PER_CATEGORY,
                     exclude: frozenset[str] | set[str] = frozenset()) -> list[EvalRecord]:
    """Mistakes involving a category (labelled with it, or wrongly served it): confident wrong
    categories first, then too specific ones, then products served too shallow or not at all;
    products in `exclude` (already shown) are skipped."""
    rank = {"wrong category": 0, "too specific": 1, "stopped early": 2, "no prediction": 3}
    involved = [r for r in records if (r.true_path[-1] == category_id or r.served_category == category_id)
                and mistake_kind(r) != "correct" and r.product_id not in exclude]
    involved.sort(key=lambda r: (rank[mistake_kind(r)], -shown_confidence(r), r.product_id))
    return involved[:limit]


def mistake_groups(records: Sequence[EvalRecord],
                   categories: int = MISTAKE_CATEGORIES) -> list[tuple[CategoryScore, list[EvalRecord]]]:
    """The worst categories that have mistakes, each with its example mistakes (each product once)."""
    groups: list[tuple[CategoryScore, list[EvalRecord]]] = []
    listed: set[str] = set()
    for score in category_scores(records):
        if len(groups) >= categories:
            break
        mistakes = example_mistakes(records, score.category_id, exclude=listed)
        if mistakes:
            groups.append((score, mistakes))
            listed.update(r.product_id for r in mistakes)
    return groups


def shown_confidence(record: EvalRecord) -> float:
    """The confidence of the last served level (of level 1 when nothing is served)."""
    if record.served_depth:
        return record.confidences[record.served_depth - 1]
    return record.confidences[0] if record.confidences else 0.0
