"""Slicing on the *predicted* sensitive subtree: precision among products whose served category
lies in a sensitive subtree, per subtree and pooled, checked against an independent computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tensorflow_model_analysis.metrics import metric_types

from prodcat import features as F
from prodcat.components.hierarchical_metrics import (
    HierarchicalCounts, _HierarchicalCombiner, metric_names, sensitive_subtree_names,
)
from prodcat.config import GOOGLE_SENSITIVE_PATHS
from prodcat.sensitive import sensitive_membership
from prodcat.taxonomy import Taxonomy


def _independent(taxonomy: Taxonomy, roots: dict[str, str], truths: list[list[str]], served: list[list[str]]) -> dict:
    """Per subtree, straight from the definition: subtree membership by the taxonomy's own subtree
    listing (not by ancestor paths), precision as plain ratios over the selected products."""
    out = {}
    for name, root in roots.items():
        members = set(taxonomy.subtree(root))
        chosen = [(t, s) for t, s in zip(truths, served) if s and s[-1] in members]
        out[f"sensitive_predicted_{name}_count"] = float(len(chosen))
        if chosen:
            out[f"sensitive_predicted_{name}_precision"] = sum(t[-1] in members for t, _ in chosen) / len(chosen)
            out[f"sensitive_predicted_{name}_hierarchical_precision"] = (
                sum(len(set(t) & set(s)) for t, s in chosen) / sum(len(s) for _, s in chosen))
        else:
            out[f"sensitive_predicted_{name}_precision"] = math.nan
            out[f"sensitive_predicted_{name}_hierarchical_precision"] = math.nan
    return out


def _sample(taxonomy: Taxonomy, roots: list[str], rng: np.random.Generator, n: int) -> tuple[list, list]:
    """Products whose true and served categories are often in (or near) sensitive subtrees."""
    sensitive = [c for r in roots for c in taxonomy.subtree(r)]
    everything = [c.id for c in taxonomy.categories]

    def draw() -> str:
        pool = sensitive if rng.random() < 0.6 else everything
        return pool[rng.integers(0, len(pool))]

    truths, served = [], []
    for _ in range(n):
        truth = taxonomy.ancestors(draw())
        full = truth if rng.random() < 0.5 else taxonomy.ancestors(draw())
        truths.append(truth)
        served.append(full[: rng.integers(0, len(full) + 1)])  # thresholded: any prefix, even none
    return truths, served


def test_per_subtree_predicted_precision_matches_an_independent_computation(google_taxonomy: Taxonomy) -> None:
    # "Mature > Weapons" nests inside "Mature": each is scored on its own.
    paths = (*GOOGLE_SENSITIVE_PATHS, "Mature > Weapons")
    roots = sensitive_subtree_names(google_taxonomy, paths)
    assert set(roots) == {"religious_ceremonial", "religious_ceremonial_clothing", "mature", "hunting_shooting",
                          "collectible_weapons", "medicine_drugs", "weapons"}
    rng = np.random.default_rng(7)
    truths, served = _sample(google_taxonomy, list(roots.values()), rng, 2000)
    membership = sensitive_membership(google_taxonomy, paths)
    counts = HierarchicalCounts()
    for t, s in zip(truths, served):
        counts.add(t, s, s, membership.get(t[-1], ""), membership.get(s[-1], "") if s else "", tuple(roots.values()))
    results = counts.results(google_taxonomy.depth, roots)

    expected = _independent(google_taxonomy, roots, truths, served)
    assert {k: results[k] for k in expected} == pytest.approx(expected, nan_ok=True)
    assert results["sensitive_predicted_mature_count"] >= results["sensitive_predicted_weapons_count"] > 0
    # Pooled over every sensitive prediction (deepest subtree decides "the same subtree").
    chosen = [(t, s) for t, s in zip(truths, served) if s and s[-1] in membership]
    assert results["sensitive_predictions"] == len(chosen)
    assert results["sensitive_predicted_precision"] == pytest.approx(
        np.mean([membership.get(t[-1]) == membership[s[-1]] for t, s in chosen]))
    assert results["sensitive_predicted_hierarchical_precision"] == pytest.approx(
        sum(len(set(t) & set(s)) for t, s in chosen) / sum(len(s) for _, s in chosen))


def test_hand_made_products() -> None:
    # Subtree roots "S" (with child "S1") and "W"; "1" and "2" are not sensitive.
    rows = [  # true path, served path
        (["S", "S1"], ["S", "S1"]),   # predicted S, right (exact and every node)
        (["S"], ["S", "S1"]),         # predicted S, true in S: right subtree, 1 of 2 nodes
        (["1", "2"], ["S"]),          # predicted S, wrong: 0 of 1 node
        (["W"], ["1"]),               # true W, not predicted W: does not count for W
        (["1"], []),                  # nothing served
    ]
    counts = HierarchicalCounts()
    for truth, served in rows:
        counts.add(truth, served, served, subtree_roots=("S", "W"))
    results = counts.results(2, {"s": "S", "w": "W"})
    assert results["sensitive_predicted_s_count"] == 3
    assert results["sensitive_predicted_s_precision"] == pytest.approx(2 / 3)
    assert results["sensitive_predicted_s_hierarchical_precision"] == pytest.approx((2 + 1 + 0) / (2 + 2 + 1))
    assert results["sensitive_predicted_w_count"] == 0
    assert math.isnan(results["sensitive_predicted_w_precision"]), "no prediction in W: precision undefined"


def test_merge_adds_the_per_subtree_counts() -> None:
    rows = [(["S", "S1"], ["S", "S1"]), (["1"], ["S"]), (["S"], ["S"])]
    a, b, both = HierarchicalCounts(), HierarchicalCounts(), HierarchicalCounts()
    for i, (t, s) in enumerate(rows):
        (a if i % 2 else b).add(t, s, s, subtree_roots=("S",))
        both.add(t, s, s, subtree_roots=("S",))
    a.merge(b)
    assert a.results(2, {"s": "S"}) == pytest.approx(both.results(2, {"s": "S"}), nan_ok=True)


def test_subtree_names_are_unique_and_skip_paths_the_taxonomy_lacks(google_taxonomy: Taxonomy) -> None:
    names = sensitive_subtree_names(google_taxonomy, [
        "Mature > Weapons", "Sporting Goods > Outdoor Recreation > Hunting & Shooting > Hunting",
        "Mature", "No Such > Category", "Mature"])
    assert list(names) == ["weapons", "hunting", "mature"]
    twins = Taxonomy.from_google_text("1 - A\n2 - A > Knives\n3 - B\n4 - B > Knives\n")
    assert sensitive_subtree_names(twins, ["A > Knives", "B > Knives"]) == {"a_knives": "2", "b_knives": "4"}
    assert metric_names(2, ["x"])[-3:] == ["sensitive_predicted_x_count", "sensitive_predicted_x_hierarchical_precision",
                                          "sensitive_predicted_x_precision"]


def test_the_tfma_combiner_reports_every_subtree(tmp_path) -> None:
    taxonomy_file = tmp_path / "taxonomy.txt"
    taxonomy_file.write_text("1 - Toys\n2 - Toys > Kites\n3 - Mature\n4 - Mature > Knives\n5 - Garden\n", encoding="utf-8")
    paths = ("Mature", "Garden", "Not > There")
    keys = {name: metric_types.MetricKey(name=name, example_weighted=None)
            for name in metric_names(2, ["mature", "garden"])}
    combiner = _HierarchicalCombiner(str(taxonomy_file), keys, "", paths)
    combiner.setup()

    def product(true_id: str, served: list[str], full: list[str]) -> metric_types.StandardMetricInputs:
        level_ids = np.array([x.encode() for x in full + [""] * (2 - len(full))], dtype=object)
        return metric_types.StandardMetricInputs(
            features={F.CATEGORY: np.array([true_id.encode()], dtype=object)},
            predictions={F.OUT_LEVEL_IDS: level_ids, F.OUT_DEPTH: np.array([len(served)]),
                         F.OUT_FULL_DEPTH: np.array([len(full)])})

    accumulator = combiner.create_accumulator()
    for element in [product("4", ["3", "4"], ["3", "4"]),   # Mature, right
                    product("2", ["3"], ["3", "4"]),        # served Mature (level 1 only), wrong
                    product("3", [], ["3", "4"]),           # nothing served
                    product("5", ["5"], ["5"])]:            # Garden, right
        accumulator = combiner.add_input(accumulator, element)
    values = {key.name: value for key, value in combiner.extract_output(accumulator).items()}
    assert values["sensitive_predicted_mature_count"] == 2
    assert values["sensitive_predicted_mature_precision"] == pytest.approx(1 / 2)
    assert values["sensitive_predicted_mature_hierarchical_precision"] == pytest.approx(2 / 3)
    assert values["sensitive_predicted_garden_count"] == 1 and values["sensitive_predicted_garden_precision"] == 1.0
    assert values["sensitive_predictions"] == 3
    assert values["sensitive_predicted_precision"] == pytest.approx(2 / 3)
