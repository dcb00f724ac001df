"""Sensitive-subtree floors: a stricter target for what a sensitive subtree (e.g. Mature) serves.

Each sensitive subtree gets the lowest floor (not below `sensitive.min_confidence`, the policy
minimum) at which the hierarchical precision of the products served a category in it (the
Evaluator's `sensitive_predicted_<subtree>_hierarchical_precision`) reaches the sensitive target;
`prodcat.thresholds.config_search` then re-tunes the levels with those floors, and so on until nothing
changes. The lowest such floor, because a higher one only serves fewer of the subtree's products.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from prodcat.thresholds.scoring import _EPS, served_mask, slice_scores
from prodcat.thresholds.tuning_data import TuningData


@dataclasses.dataclass(frozen=True)
class SubtreeSolution:
    path: str
    floor: float
    reached: bool | None  # None: the eval split has no product in this slice


def tune_subtree(data: TuningData, subtree: int, target: float, per_level: Sequence[float],
                 floors: Sequence[float], policy_floor: float) -> SubtreeSolution:
    """The lowest floor >= policy_floor for `subtree` at which the products served inside it reach
    hP >= target (nothing served inside counts as reached); when none does, the most precise one."""
    floors = np.asarray(floors, np.float32).copy()
    nodes = data.valid & data.in_subtree[:, :, subtree]
    values = np.unique(data.confidences[nodes])
    options = np.unique(np.r_[np.float32(policy_floor), values[values > policy_floor], np.float32(1.0)]).astype(np.float32)
    path = data.subtree_paths[subtree]
    floors[subtree] = options[0]
    if slice_scores(data, served_mask(data, per_level, floors), subtree).either.products == 0:
        return SubtreeSolution(path, float(options[0]), None)
    best: tuple[float, float] | None = None
    for option in options:
        floors[subtree] = option
        precision = slice_scores(data, served_mask(data, per_level, floors), subtree).precision
        if math.isnan(precision) or precision >= target - _EPS:  # nan: nothing served in the slice
            return SubtreeSolution(path, float(option), True)
        if best is None or precision > best[1]:
            best = (float(option), precision)
    return SubtreeSolution(path, best[0] if best else 1.0, False)
