"""The report's analyses of made-up eval records: precision-coverage curves, worst categories and mistakes."""

from __future__ import annotations

import numpy as np
import pytest
from report_fixtures import _records

from prodcat.reporting import report_analysis as A
from prodcat.reporting.report_data import EvalRecord
from prodcat.taxonomy import Taxonomy


def _serve(record: EvalRecord, threshold: float) -> tuple[str, ...]:
    """What serving would return with one floor for every level."""
    depth = next((k for k, c in enumerate(record.confidences) if c < threshold), len(record.full_path))
    return record.full_path[:depth]


def test_curves_equal_a_direct_count_of_what_serving_would_return(tiny_google: Taxonomy) -> None:
    records = _records(tiny_google, 300, seed=7)
    depth = A.used_depth(records)
    for level, thresholds, coverage, precision in A.level_curves(records, depth):
        for t, cov, prec in list(zip(thresholds, coverage, precision))[::7]:
            served = [(r, _serve(r, t)) for r in records]
            covered = [(r, s) for r, s in served if len(s) >= level]
            assert cov == pytest.approx(len(covered) / len(records))
            right = sum(len(r.true_path) >= level and r.true_path[level - 1] == s[level - 1] for r, s in covered)
            assert prec == pytest.approx(right / len(covered))
    grid = np.array([0.0, 0.25, 0.5, 0.75, 0.95])
    thresholds, coverage, precision, recall = A.hierarchical_curve(records, depth, grid)
    for t, cov, prec, rec in zip(thresholds, coverage, precision, recall):
        served = [(r, set(_serve(r, t))) for r in records]
        overlap = sum(len(set(r.true_path) & s) for r, s in served)
        assert cov == pytest.approx(sum(bool(s) for _, s in served) / len(records))
        assert prec == pytest.approx(overlap / sum(len(s) for _, s in served))
        assert rec == pytest.approx(overlap / sum(len(r.true_path) for r in records))


def test_worst_categories_and_mistakes(tiny_google: Taxonomy) -> None:
    wrong = EvalRecord("a", "kite", ("1", "2", "3"), ("4", "5"), (0.9, 0.8), 2)
    shallow = EvalRecord("b", "kite 2", ("1", "2", "3"), ("1", "2", "3"), (0.9, 0.8, 0.1), 2)
    right = EvalRecord("c", "pot", ("4", "5"), ("4", "5"), (0.9, 0.9), 2)
    deep = EvalRecord("d", "pot 2", ("4",), ("4", "5"), (0.9, 0.9), 2)
    scores = {s.category_id: s for s in A.category_scores([wrong, shallow, right])}
    assert (scores["3"].support, scores["3"].f1) == (2, 0.0)
    assert scores["5"].precision == 0.5 and scores["5"].recall == 1.0
    assert A.category_scores([wrong, shallow, right])[0].category_id == "3"
    assert [A.mistake_kind(r) for r in (wrong, shallow, right)] == ["wrong category", "stopped early", "correct"]
    assert A.mistake_kind(deep) == "too specific"
    assert A.example_mistakes([shallow, wrong, right], "3") == [wrong, shallow]
    assert A.example_mistakes([shallow, wrong, right], "3", exclude={"a"}) == [shallow]
