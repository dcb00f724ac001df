"""The search run for one `ThresholdConfig` section, and the section written back with its result.

The level search and the sensitive-subtree floors (`prodcat.thresholds.search`) depend on each
other, so they alternate until neither changes; the values found are then moved to short readable
decimals. The section names sensitive floors as overrides by category path, so this module also
maps overrides to subtrees and back. `prodcat.thresholds.tuning` runs it on eval predictions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from prodcat.config import ThresholdConfig, ThresholdOverride
from prodcat.taxonomy import Taxonomy
from prodcat.thresholds import search
from prodcat.thresholds.search import TuningData

MAX_ROUNDS = 5


def _extra_floors(data: TuningData, floors: np.ndarray) -> np.ndarray:
    return search.node_floors(data, [0.0], floors)


def _sensitive_target_rounds(data: TuningData, target: float, sensitive_target: float | None,
                             policy_floor: float) -> tuple[search.LevelSolution, np.ndarray, list[search.SubtreeSolution]]:
    """Levels for the overall target, then sensitive floors, until neither changes."""
    floors = np.full(len(data.subtree_paths), policy_floor, np.float32)
    subtrees: list[search.SubtreeSolution] = []
    levels = search.tune_levels(data, target, _extra_floors(data, floors))
    for _ in range(MAX_ROUNDS):
        if not levels.reached or sensitive_target is None or not len(floors):
            break
        new = floors.copy()
        subtrees = []
        for s in range(len(floors)):
            solution = search.tune_subtree(data, s, sensitive_target, levels.per_level, new, policy_floor)
            new[s] = solution.floor
            subtrees.append(solution)
        if np.array_equal(new, floors):
            break
        floors = new
        levels = search.tune_levels(data, target, _extra_floors(data, floors))
    return levels, floors, subtrees


def tune_data(data: TuningData, thresholds: ThresholdConfig, target: float,
              sensitive_target: float | None) -> tuple[bool, str, tuple[float, ...], list[float], dict[int, bool | None]]:
    """(reached, message, per_level, sensitive floors, reached per subtree) with readable values."""
    policy = thresholds.sensitive.min_confidence
    levels, floors, subtrees = _sensitive_target_rounds(data, target, sensitive_target, policy)
    if not levels.reached:
        best = (f"the most precise setting found reaches hP {levels.best_precision:.3f} at coverage "
                f"{levels.best_precision_coverage:.3f}" if levels.best_precision >= 0 else "nothing can be served")
        return False, (f"target hierarchical precision {target:.3f} is not reachable on the eval split "
                       f"({data.products} products): {best}"), tuple(thresholds.per_level), [float(f) for f in floors], {}
    readable_floors = [search.readable_floor(data, s, float(f), policy) for s, f in enumerate(floors)]
    per_level = search.readable_levels(data, levels.per_level, _extra_floors(data, np.asarray(readable_floors, np.float32)))
    if not np.array_equal(search.served_mask(data, per_level, readable_floors),
                          search.served_mask(data, levels.per_level, floors)):  # never expected; stay exact
        per_level, readable_floors = tuple(levels.per_level), [float(f) for f in floors]
    reached = {s: sub.reached for s, sub in enumerate(subtrees)}
    return True, "", search.compact_levels(per_level), readable_floors, reached


def _override_roots(taxonomy: Taxonomy, data: TuningData, thresholds: ThresholdConfig) -> list[int | None]:
    """Per override: the index of the sensitive subtree whose root it names, or None."""
    roots = [taxonomy.resolve(p) for p in data.subtree_paths]
    root_ids = [r.id if r is not None else None for r in roots]
    out: list[int | None] = []
    for override in thresholds.overrides:
        node = taxonomy.resolve(override.path)
        out.append(root_ids.index(node.id) if node is not None and node.id in root_ids else None)
    return out


def sensitive_floors(taxonomy: Taxonomy, data: TuningData, thresholds: ThresholdConfig) -> list[float]:
    """Per sensitive subtree, the floor `thresholds` gives it: the policy minimum, or an override."""
    floors = [thresholds.sensitive.min_confidence] * len(data.subtree_paths)
    for override, s in zip(thresholds.overrides, _override_roots(taxonomy, data, thresholds)):
        if s is not None:
            floors[s] = max(floors[s], override.min_confidence)
    return floors


def tuned_config(taxonomy: Taxonomy, thresholds: ThresholdConfig, data: TuningData, per_level: Sequence[float],
                 floors: Sequence[float], temperatures: Sequence[float] | None = None) -> ThresholdConfig:
    """The config section with the tuned values: per-level floors, one override per sensitive
    subtree whose floor is above the policy minimum (earlier overrides of those subtrees replaced)."""
    policy = thresholds.sensitive.min_confidence
    kept = [o for o, s in zip(thresholds.overrides, _override_roots(taxonomy, data, thresholds)) if s is None]
    tuned = [ThresholdOverride(path=path, min_confidence=float(f))
             for path, f in zip(data.subtree_paths, floors) if np.float32(f) > np.float32(policy)]
    update: dict = {"per_level": tuple(float(v) for v in per_level), "overrides": tuple(kept + tuned)}
    if temperatures is not None:
        update["temperatures"] = tuple(float(t) for t in temperatures)
    return thresholds.model_copy(update=update)
