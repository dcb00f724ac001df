"""The threshold search (numpy only, tiny synthetic cases): targets, maximum coverage, unreachable
targets, sensitive floors, readable values and the curves it reports."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from prodcat.config import SensitiveConfig, ThresholdConfig, ThresholdOverride
from prodcat.taxonomy import Taxonomy
from prodcat.thresholds import search
from prodcat.thresholds.result_table import format_result
from prodcat.thresholds.search import TuningData, score, served_mask, tune_levels
from prodcat.thresholds.tuning import EvalPredictions, tune


def synthetic(seed: int, products: int, levels: int = 3) -> TuningData:
    """Paths whose nodes are right more often when confident; wrong once, wrong below."""
    rng = np.random.default_rng(seed)
    conf = rng.uniform(0.05, 1.0, (products, levels)).astype(np.float32).round(2)
    correct = np.logical_and.accumulate(rng.uniform(size=(products, levels)) < conf ** 0.7, axis=1)
    depth = rng.integers(1, levels + 1, products)
    valid = np.arange(levels)[None, :] < depth[:, None]
    return TuningData.from_arrays(np.where(valid, conf, 0), correct, true_depth=depth, valid=valid)


def brute_force(data: TuningData, target: float) -> tuple[int, int] | None:
    """(covered, correct nodes) of the best setting over every combination of thresholds."""
    options = [np.union1d(np.unique(data.confidences[data.valid[:, k], k]), np.float32(1.0)) for k in range(data.depth)]
    best = None
    for combo in itertools.product(*options):
        s = score(data, served_mask(data, combo))
        if s.served_nodes and s.correct_nodes >= target * s.served_nodes - 1e-9:
            best = max(best or (0, 0), (s.covered, s.correct_nodes))
    return best


@pytest.mark.parametrize("seed", range(12))
def test_search_finds_the_brute_force_maximum_coverage(seed: int) -> None:
    data = synthetic(seed, products=10 + seed % 5)
    target = (0.6, 0.75, 0.85, 0.9)[seed % 4]
    best = brute_force(data, target)
    solution = tune_levels(data, target)
    if best is None:
        assert not solution.reached
        return
    assert solution.reached
    achieved = score(data, served_mask(data, solution.per_level))
    assert achieved.precision >= target - 1e-9, "the target is reached"
    assert achieved.covered == best[0], "with the highest coverage any thresholds give"
    assert achieved.correct_nodes == best[1], "and, at that coverage, the most correct nodes"


def test_a_reachable_target_is_reached_on_a_larger_case() -> None:
    data = synthetic(99, products=2000, levels=6)
    for target in (0.7, 0.85, 0.95):
        solution = tune_levels(data, target)
        assert solution.reached
        assert score(data, served_mask(data, solution.per_level)).precision >= target


def test_an_unreachable_target_is_reported_with_the_best_precision_seen() -> None:
    # The two most confident products tie at level 1 and one is wrong: 0.9 cannot be reached. The
    # best is to serve the first three at level 1 and the right level-2 node: 3/4.
    conf = np.array([[0.9, 0.8], [0.9, 0.7], [0.5, 0.4], [0.4, 0.3]], np.float32)
    correct = np.array([[1, 1], [0, 0], [1, 0], [0, 0]], bool)
    solution = tune_levels(TuningData.from_arrays(conf, correct), 0.9)
    assert not solution.reached
    assert solution.best_precision == pytest.approx(0.75)
    assert solution.best_precision_coverage == pytest.approx(0.75)


def test_deeper_levels_open_when_they_raise_precision() -> None:
    # Level 1 alone is 3/4 right (< 0.8 at full coverage); the confident level-2 nodes are right,
    # so serving them lifts hP to 5/6 and lets every product be covered.
    conf = np.array([[0.9, 0.95], [0.8, 0.9], [0.7, 0.2], [0.6, 0.1]], np.float32)
    correct = np.array([[1, 1], [1, 1], [1, 0], [0, 0]], bool)
    data = TuningData.from_arrays(conf, correct)
    solution = tune_levels(data, 0.8)
    achieved = score(data, served_mask(data, solution.per_level))
    assert achieved.coverage == 1.0 and achieved.precision == pytest.approx(5 / 6)
    assert score(data, served_mask(data, [solution.per_level[0], 1.0])).precision < 0.8


def test_readable_thresholds_decide_every_eval_node_alike() -> None:
    data = synthetic(7, products=300, levels=4)
    solution = tune_levels(data, 0.8)
    extra = np.zeros_like(data.confidences)
    readable = search.readable_levels(data, solution.per_level, extra)
    assert np.array_equal(served_mask(data, readable), served_mask(data, solution.per_level))
    assert all(len(repr(v)) <= 6 for v in readable), readable


@pytest.mark.parametrize("lower, upper", [(0.0, 0.31), (0.41318, 0.41319), (0.5, 0.5000001), (0.97, 1.0)])
def test_readable_threshold_lies_in_the_gap(lower: float, upper: float) -> None:
    value = search.readable_threshold(lower, upper)
    assert np.float32(lower) < np.float32(value) <= np.float32(upper)


# ------------------------------------------------------------------ with a taxonomy: sensitive subtrees
TREE = Taxonomy.from_paths(["Toys > Kites", "Toys > Dolls", "Garden > Pots", "Garden > Seeds", "Mature > Adult"])


def predictions(rows: list[tuple[str, str, float, float]]) -> EvalPredictions:
    """rows: (true leaf path, predicted leaf path, level-1 confidence, level-2 confidence)."""
    true_ids = [TREE.by_path(t).id for t, _, _, _ in rows]
    paths = [TREE.ancestors(TREE.by_path(p).id) for _, p, _, _ in rows]
    conf = np.array([[c1, c2] for _, _, c1, c2 in rows], np.float32)
    return EvalPredictions([str(i) for i in range(len(rows))], true_ids, paths, conf)


def sensitive_rows() -> list[tuple[str, str, float, float]]:
    rows = [("Toys > Kites", "Toys > Kites", 0.9, 0.9)] * 8 + [("Garden > Pots", "Garden > Pots", 0.8, 0.8)] * 8
    rows += [("Mature > Adult", "Mature > Adult", 0.95, 0.95)] * 6
    rows += [("Toys > Dolls", "Mature > Adult", 0.85, 0.85), ("Garden > Seeds", "Mature > Adult", 0.7, 0.7)]
    return rows


def test_sensitive_subtree_gets_the_lowest_floor_reaching_its_target() -> None:
    thresholds = ThresholdConfig(per_level=(0.3,), sensitive=SensitiveConfig(paths=("Mature",), min_confidence=0.5))
    result = tune(TREE, predictions(sensitive_rows()), thresholds, target_precision=0.8, sensitive_precision=0.98)
    assert result.reached
    (mature,) = result.sensitive
    assert mature.reached is True and mature.scores.precision == 1.0
    # the two wrong "Mature" predictions have confidence 0.85 and 0.7: the floor must exceed 0.85
    assert 0.85 < mature.floor <= 0.95
    assert result.thresholds.overrides == (ThresholdOverride(path="Mature", min_confidence=mature.floor),)
    # wrong sensitive labels are gone: those products are not served at all (Mature is level 1)
    assert result.achieved.coverage == pytest.approx(22 / 24)


def test_sensitive_floor_never_goes_below_the_policy_minimum() -> None:
    rows = [("Mature > Adult", "Mature > Adult", 0.95, 0.95)] * 4 + [("Toys > Kites", "Toys > Kites", 0.6, 0.6)] * 4
    thresholds = ThresholdConfig(per_level=(0.3,), sensitive=SensitiveConfig(paths=("Mature",), min_confidence=0.8))
    result = tune(TREE, predictions(rows), thresholds, 0.9, 0.98)
    assert result.sensitive[0].floor == 0.8 and result.thresholds.overrides == ()


def test_products_of_a_subtree_served_elsewhere_do_not_hold_its_floor_up() -> None:
    # Two Mature products are served as Toys: the Mature floor cannot change that, and the target
    # is on the products served inside Mature (all right here), so the policy floor stays.
    rows = [("Toys > Kites", "Toys > Kites", 0.9, 0.9)] * 10 + [("Mature > Adult", "Mature > Adult", 0.9, 0.9)] * 3
    rows += [("Mature > Adult", "Toys > Dolls", 0.9, 0.9)] * 2
    thresholds = ThresholdConfig(per_level=(0.3,), sensitive=SensitiveConfig(paths=("Mature",), min_confidence=0.5))
    result = tune(TREE, predictions(rows), thresholds, 0.8, 0.98)
    (mature,) = result.sensitive
    assert mature.reached is True and mature.floor == 0.5
    assert mature.scores.precision == 1.0 and mature.scores.coverage == pytest.approx(3 / 5)
    assert mature.scores.either.precision == pytest.approx(6 / 10), "the true-or-served slice is reported too"
    assert mature.scores.wrong_outside == 4


def test_unreachable_sensitive_target_is_flagged_and_explained() -> None:
    # A wrong Mature label at confidence 1.0 passes every floor (floors are at most 1.0).
    rows = [("Toys > Kites", "Toys > Kites", 0.9, 0.9)] * 10 + [("Mature > Adult", "Mature > Adult", 1.0, 1.0)] * 3
    rows += [("Toys > Dolls", "Mature > Adult", 1.0, 1.0)]
    thresholds = ThresholdConfig(per_level=(0.3,), sensitive=SensitiveConfig(paths=("Mature",), min_confidence=0.5))
    result = tune(TREE, predictions(rows), thresholds, 0.8, 0.98)
    assert result.reached and result.sensitive[0].reached is False
    assert result.sensitive[0].scores.precision == pytest.approx(6 / 8)
    text = format_result(result)
    assert "NOT REACHABLE" in text and "confidence 1.0" in text


def test_unreachable_overall_target_keeps_the_thresholds_and_says_why() -> None:
    rows = [("Toys > Kites", "Garden > Pots", 0.9, 0.9), ("Toys > Dolls", "Toys > Dolls", 0.9, 0.9)]
    thresholds = ThresholdConfig(per_level=(0.3,), sensitive=SensitiveConfig(paths=()))
    result = tune(TREE, predictions(rows), thresholds, 0.9)
    assert not result.reached
    assert result.thresholds == thresholds
    assert "not reachable" in result.message and "0.500" in result.message
    assert "NOT REACHABLE" in format_result(result)


def test_result_exposes_precision_coverage_curves_as_json_data() -> None:
    rows = [("Toys > Kites", "Toys > Kites", 0.9, 0.6), ("Toys > Dolls", "Toys > Kites", 0.6, 0.3),
            ("Garden > Pots", "Garden > Pots", 0.7, 0.9), ("Garden > Seeds", "Toys > Dolls", 0.4, 0.8)]
    thresholds = ThresholdConfig(per_level=(0.3,), sensitive=SensitiveConfig(paths=()))
    result = tune(TREE, predictions(rows), thresholds, 0.75)
    assert set(result.curves) == {1, 2}
    level1 = result.curves[1]
    assert [p.threshold for p in level1][:3] == [0.0, 0.01, 0.02] and len(level1) == 101
    assert level1[0].coverage == 1.0 and level1[-1].coverage == 0.0
    assert all(a.coverage >= b.coverage for a, b in zip(level1, level1[1:])), "coverage falls as the threshold rises"
    document = json.loads(json.dumps(result.as_dict()))
    assert document["curves"]["2"][50]["threshold"] == 0.5
    assert document["achieved"]["hierarchical_precision"] >= 0.75
    assert not any(isinstance(v, float) and math.isnan(v) for v in document["achieved"].values())


def test_explicit_non_sensitive_overrides_are_kept_and_honoured() -> None:
    rows = [("Toys > Kites", "Toys > Kites", 0.9, 0.9), ("Toys > Dolls", "Toys > Dolls", 0.9, 0.6),
            ("Garden > Pots", "Garden > Pots", 0.9, 0.9)]
    override = ThresholdOverride(path="Toys > Dolls", min_confidence=0.7)
    thresholds = ThresholdConfig(per_level=(0.3,), overrides=(override,), sensitive=SensitiveConfig(paths=()))
    result = tune(TREE, predictions(rows), thresholds, 0.9)
    assert override in result.thresholds.overrides
    assert result.achieved.served_nodes == 5, "the Dolls node (0.6 < its override 0.7) is not served"
