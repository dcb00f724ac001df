"""The per-level search: the thresholds with the highest coverage at hP >= target, then the most
correct served nodes.

The search, and why it is built this way:

* Coverage depends on the level-1 floor only (and on floors of level-1 subtrees such as Mature,
  fixed while the levels are searched), so the primary objective is a **monotone sweep**
  over the level-1 threshold: its candidates are the distinct level-1 confidences (every
  threshold between two of them serves the same products), tried from the lowest (most coverage)
  up; the first one for which *some* setting of the deeper levels reaches the target wins. With
  more than `grid` candidates the sweep goes coarse to fine: the first passing point of a
  quantile grid, then the same inside the bracket before it, down to single candidates (exact if
  feasibility is monotone in the level-1 threshold, which it nearly always is).
* "Some setting of the deeper levels reaches the target" means: the deeper thresholds that
  maximise the precision margin `correct nodes - target x served nodes` (hP >= target exactly
  when it is >= 0) make it >= 0. The deeper levels interact only through the path prefix, so the
  margin is maximised by **coordinate ascent**: one level at a time, the best threshold given the
  others is found exactly (sort the products reaching that level by confidence; a cumulative sum
  of what each product's served tail would add gives the margin of every candidate at once).
  Each step never lowers the objective, so it terminates. A joint search over all levels would
  cost (products + 1)^levels evaluations; coordinate ascent costs a few sorts per level. Its one
  weakness, a level that only pays off when the level below it is open too, is covered by
  starting from all-open, all-closed and the previous solution and keeping the best.
* With the level-1 threshold fixed, the deeper levels are set for the most correct served nodes
  (hierarchical recall) among settings with hP >= target: coordinate ascent on that constrained
  objective, started from the max-margin setting and from the settings maximising the margin at
  lower rates (a Lagrangian relaxation of the constraint), then a pass over pairs of adjacent
  levels. On small cases the result equals a brute-force search over every combination of
  thresholds (tests/thresholds/test_search.py).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from prodcat.thresholds.scoring import _EPS
from prodcat.thresholds.tuning_data import ThresholdTuningError, TuningData


class _LevelSearch:
    """Coordinate ascent over per-level thresholds with fixed extra floors (overrides, sensitive)."""

    def __init__(self, data: TuningData, target: float, extra_floors: np.ndarray) -> None:
        self.target = target
        self.conf = data.confidences
        self.correct = data.correct
        self.eligible = data.valid & (data.confidences >= extra_floors)
        self.depth = data.depth

    def counts(self, theta: np.ndarray) -> tuple[int, int, int]:
        """(covered, correct nodes, served nodes)."""
        served = np.logical_and.accumulate(self.eligible & (self.conf >= theta[None, :]), axis=1)
        return (int(np.count_nonzero(served[:, 0])), int(np.count_nonzero(served & self.correct)),
                int(np.count_nonzero(served)))

    def feasible(self, correct: float, served: float) -> bool:
        return correct - self.target * served >= -_EPS

    def step(self, theta: np.ndarray, k: int, mode: str, rate: float | None = None) -> bool:
        """Sets theta[k] to the best value given the other levels; True if the objective improved.

        mode "margin": maximise correct - rate x served nodes (rate: the target by default);
        "recall": maximise correct nodes among the settings with hP >= target.
        """
        passed = self.eligible & (self.conf >= theta[None, :])
        served = np.logical_and.accumulate(passed, axis=1)
        rows = np.flatnonzero((served[:, k - 1] if k else True) & self.eligible[:, k])
        if not rows.size:
            return False
        base_o = np.count_nonzero(served[:, :k] & self.correct[:, :k])
        base_p = np.count_nonzero(served[:, :k])
        after = np.logical_and.accumulate(passed[rows, k + 1:], axis=1)  # served below k, if k passes
        tail_o = self.correct[rows, k] + np.count_nonzero(after & self.correct[rows, k + 1:], axis=1)
        tail_p = 1 + np.count_nonzero(after, axis=1)
        values = self.conf[rows, k]
        order = np.argsort(-values, kind="stable")
        values = values[order]
        cum_o = np.cumsum(tail_o[order])
        cum_p = np.cumsum(tail_p[order])
        last = np.r_[np.nonzero(values[1:] != values[:-1])[0], len(values) - 1]
        options = values[last]                      # descending thresholds, ever larger pass sets
        o = base_o + cum_o[last]
        p = base_p + cum_p[last]
        if options[0] < 1.0:                        # threshold 1.0: nothing passes here
            options = np.r_[np.float32(1.0), options]
            o, p = np.r_[base_o, o], np.r_[base_p, p]
        margin = o - self.target * p
        if mode == "margin":
            key = [o - (self.target if rate is None else rate) * p, o]
        else:  # "recall": most correct nodes among settings that keep hP >= target
            feasible = margin >= -_EPS
            if not feasible.any():
                return False
            key = [feasible.astype(float), np.where(feasible, o, -1), margin]
        # the current setting's pass set is the option with the smallest threshold >= theta[k]
        current = np.nonzero(options >= theta[k])[0]
        current = current[-1] if len(current) else 0
        best = _argmax_lexicographic(key, prefer_last=True)
        if tuple(kk[best] for kk in key) <= tuple(kk[current] for kk in key):
            return False
        theta[k] = options[best]
        return True

    def ascend(self, theta: np.ndarray, mode: str, rate: float | None = None, max_sweeps: int = 20) -> np.ndarray:
        theta = theta.copy()
        for _ in range(max_sweeps):
            if not any([self.step(theta, k, mode, rate) for k in range(1, self.depth)]):
                break
        return theta

    def deepest(self, found: np.ndarray, rates: int = 8) -> np.ndarray:
        """With level 1 fixed: the most correct nodes at hP >= target.

        Recall ascent from the max-margin setting, and from the settings maximising the margin at
        lower rates (the Lagrangian relaxation of the constraint: lower rates trade precision for
        depth) that still meet the target; the best result wins.
        """
        best_theta, best_key = None, None
        starts = [found]
        for rate in np.linspace(self.target, 0.0, rates + 1)[1:]:
            for start in (found, np.where(np.arange(self.depth) == 0, found[0], 0.0).astype(np.float32)):
                starts.append(self.ascend(start, "margin", rate))
        for start in starts:
            _, right, served = self.counts(start)
            if not self.feasible(right, served):
                continue
            theta = self.ascend(start, "recall")
            _, right, served = self.counts(theta)
            key = (right, right - self.target * served)
            if best_key is None or key > best_key:
                best_theta, best_key = theta, key
        return self.pair_polish(best_theta, best_key)

    def pair_polish(self, theta: np.ndarray, key: tuple, values_per_level: int = 32, rounds: int = 3) -> np.ndarray:
        """Recall ascent over two adjacent levels at once: for each candidate threshold of level
        k+1 (up to `values_per_level` quantiles), the best level k; escapes the coordinate-wise
        optimum where opening level k pays only if level k+1 is raised at the same time."""
        for _ in range(rounds):
            improved = False
            for k in range(1, self.depth - 1):
                values = np.unique(self.conf[self.eligible[:, k + 1], k + 1])
                if values.size > values_per_level:
                    values = values[np.linspace(0, values.size - 1, values_per_level).round().astype(int)]
                for value in np.r_[values, np.float32(1.0)]:
                    if value == theta[k + 1]:
                        continue
                    trial = theta.copy()
                    trial[k + 1] = value
                    self.step(trial, k, "recall")
                    _, right, served = self.counts(trial)
                    if not self.feasible(right, served) or right < key[0]:
                        continue
                    trial = self.ascend(trial, "recall")
                    _, right, served = self.counts(trial)
                    if self.feasible(right, served) and (right, right - self.target * served) > key:
                        theta, key, improved = trial, (right, right - self.target * served), True
            if not improved:
                break
        return theta

    def best_margin(self, theta1: float, warm: np.ndarray | None) -> tuple[np.ndarray, tuple[int, int, int]]:
        """Deeper thresholds maximising the margin for a fixed level-1 threshold."""
        starts = [np.full(self.depth, 0.0, np.float32), np.full(self.depth, 1.0, np.float32)]
        if warm is not None:
            starts.append(warm.copy())
        best = None
        for start in starts:
            start[0] = theta1
            theta = self.ascend(start, "margin")
            counts = self.counts(theta)
            key = (counts[1] - self.target * counts[2], counts[1])
            if best is None or key > best[0]:
                best = (key, theta, counts)
        return best[1], best[2]


def _argmax_lexicographic(keys: list[np.ndarray], prefer_last: bool) -> int:
    """Index maximising keys[0], then keys[1], ...; ties go to the last index (lowest threshold)."""
    order = np.lexsort([np.arange(len(keys[0])) if prefer_last else -np.arange(len(keys[0]))] + keys[::-1])
    return int(order[-1])


@dataclasses.dataclass(frozen=True)
class LevelSolution:
    per_level: tuple[float, ...]      # one per taxonomy level
    reached: bool
    best_precision: float             # the highest hP the sweep saw (when not reached)
    best_precision_coverage: float


def tune_levels(data: TuningData, target: float, extra_floors: np.ndarray | None = None, grid: int = 32) -> LevelSolution:
    """Per-level thresholds with the highest coverage at hP >= target (then the most correct nodes)."""
    if data.products == 0:
        raise ThresholdTuningError("no eval products to tune thresholds on")
    extra = np.zeros_like(data.confidences) if extra_floors is None else extra_floors
    search = _LevelSearch(data, target, extra)
    # Every distinct level-1 confidence is a candidate (ascending threshold: descending coverage).
    level1 = np.unique(search.conf[search.eligible[:, 0], 0])
    best_seen = (-1.0, math.nan)
    warm: np.ndarray | None = None

    def check(theta1: float) -> tuple[bool, np.ndarray]:
        nonlocal warm, best_seen
        theta, (covered, right, served) = search.best_margin(theta1, warm)
        warm = theta
        if served and right / served > best_seen[0]:
            best_seen = (right / served, covered / data.products)
        return covered > 0 and search.feasible(right, served), theta

    # Coarse to fine: the first feasible point of a quantile grid, then the same within the
    # bracket between it and the last failing grid point (every candidate once it is small).
    found: np.ndarray | None = None
    lo, hi = 0, len(level1)  # the first feasible candidate is searched in level1[lo:hi]
    while lo < hi:
        index = np.arange(lo, hi) if hi - lo <= grid else np.unique(np.linspace(lo, hi - 1, grid).round().astype(int))
        previous, hit = lo - 1, None
        for i in index:
            ok, theta = check(float(level1[i]))
            if ok:
                hit, found = i, theta
                break
            previous = i
        if hit is None or hi - lo <= grid:
            break
        lo, hi = previous + 1, hit
    if found is None:
        return LevelSolution(tuple([1.0] * data.depth), False, best_seen[0], best_seen[1])
    theta = search.deepest(found)
    covered, right, served = search.counts(theta)
    return LevelSolution(tuple(float(v) for v in theta), True, right / served if served else math.nan,
                         covered / data.products)
