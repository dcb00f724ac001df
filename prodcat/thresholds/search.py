"""The threshold search: per-level confidence floors for a target hierarchical precision.

Input: per eval product, the path the serving graph decodes with thresholds off (greedy, or beam
search) with its per-level confidences, and the true category. Everything is scored exactly as
`components/hierarchical_metrics.py` scores served predictions: hierarchical precision (hP) over
the served prefix extended with ancestors, coverage = share of products served at level 1.

How a path is cut (as `trainer/decoding.py` does it): node k of the path passes when its
confidence is >= its floor, the floor being the largest of the level's threshold, any explicit
override of a subtree holding the node and the sensitive floor of a sensitive subtree holding it;
the served path is the longest prefix of passing nodes.

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
* Each sensitive subtree gets the lowest floor (not below `sensitive.min_confidence`, the policy
  minimum) at which the hierarchical precision of the products served a category in it (the
  Evaluator's `sensitive_predicted_<subtree>_hierarchical_precision`) reaches the sensitive target;
  then the levels are re-tuned with those floors, and so on until nothing changes.

Chosen thresholds are then moved to a short decimal in the middle of the gap between the
confidences they separate: same decisions on the eval split, robust to float rounding, readable.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from prodcat.config import ThresholdConfig
from prodcat.sensitive import sensitive_roots
from prodcat.taxonomy import Taxonomy

_EPS = 1e-9  # slack on "hP >= target" for float round-off of counts x target


class ThresholdTuningError(ValueError):
    """Tuning cannot produce thresholds (no eval products, unreachable target, ...)."""


# ----------------------------------------------------------------------------- data
@dataclasses.dataclass(frozen=True)
class TuningData:
    """Per eval product: the decoded path with thresholds off, its confidences and the truth.

    Arrays are [products, levels] unless noted; `in_subtree` is [products, levels, subtrees] and
    says which sensitive subtree each path node lies in.
    """

    confidences: np.ndarray      # float32, 0 past the path's end
    valid: np.ndarray            # bool: the path has a node at this level
    correct: np.ndarray          # bool: that node is the true category's ancestor at this level
    true_depth: np.ndarray       # int [products]
    fixed_floors: np.ndarray     # float32: floors of explicit (not tuned) overrides, per node
    in_subtree: np.ndarray       # bool [products, levels, subtrees]
    true_in_subtree: np.ndarray  # bool [products, subtrees]
    subtree_paths: tuple[str, ...] = ()

    @property
    def products(self) -> int:
        return int(self.confidences.shape[0])

    @property
    def depth(self) -> int:
        return int(self.confidences.shape[1])

    @classmethod
    def build(
        cls, taxonomy: Taxonomy, true_ids: Sequence[str], path_ids: Sequence[Sequence[str]],
        confidences: np.ndarray, thresholds: ThresholdConfig,
    ) -> TuningData:
        """From category ids: `path_ids[i]` is product i's decoded path (thresholds off) and
        `confidences[i, k]` the confidence of its node at level k+1.

        The sensitive subtrees of `thresholds.sensitive` that the taxonomy has are the tuned
        ones; an explicit override of one of them is taken as an earlier tuning result and
        replaced; every other override is a fixed floor.
        """
        n, depth = len(true_ids), taxonomy.depth
        if len(path_ids) != n or len(confidences) != n:
            raise ValueError(f"{n} true categories but {len(path_ids)} paths and {len(confidences)} confidence rows")
        roots = sensitive_roots(taxonomy, thresholds.sensitive.paths)
        paths = tuple(taxonomy[r].path_str for r in roots)
        fixed = []
        for override in thresholds.overrides:
            node = taxonomy.resolve(override.path)
            if node is None:
                raise ThresholdTuningError(f"threshold override path {override.path!r} is not in the taxonomy")
            if node.id not in roots:
                fixed.append((node.id, override.min_confidence))
        conf = np.zeros((n, depth), np.float32)
        valid = np.zeros((n, depth), bool)
        correct = np.zeros((n, depth), bool)
        true_depth = np.zeros(n, np.int64)
        fixed_floors = np.zeros((n, depth), np.float32)
        in_subtree = np.zeros((n, depth, len(roots)), bool)
        true_in_subtree = np.zeros((n, len(roots)), bool)
        confidences = np.asarray(confidences, np.float32)
        for i, (true_id, path) in enumerate(zip(true_ids, path_ids)):
            if true_id not in taxonomy:
                raise ThresholdTuningError(f"product {i}: true category {true_id!r} is not in the taxonomy")
            truth = taxonomy.ancestors(true_id)
            true_depth[i] = len(truth)
            true_set = set(truth)
            true_in_subtree[i] = [r in true_set for r in roots]
            for k, node_id in enumerate(path):
                if not node_id:
                    break
                lineage = set(taxonomy.ancestors(node_id))
                conf[i, k] = confidences[i, k]
                valid[i, k] = True
                correct[i, k] = k < len(truth) and truth[k] == node_id
                fixed_floors[i, k] = max([f for cid, f in fixed if cid in lineage], default=0.0)
                in_subtree[i, k] = [r in lineage for r in roots]
        return cls(conf, valid, correct, true_depth, fixed_floors, in_subtree, true_in_subtree, paths)

    @classmethod
    def from_arrays(cls, confidences: np.ndarray, correct: np.ndarray, true_depth: np.ndarray | None = None,
                    valid: np.ndarray | None = None) -> TuningData:
        """Without a taxonomy (no overrides, no sensitive subtrees): for experiments and tests.

        `valid` defaults to "the path goes on while the confidence is > 0"; `true_depth` to the
        path's depth.
        """
        conf = np.asarray(confidences, np.float32)
        valid = np.cumprod(conf > 0, axis=1).astype(bool) if valid is None else np.asarray(valid, bool)
        correct = np.asarray(correct, bool) & valid
        true_depth = valid.sum(axis=1) if true_depth is None else np.asarray(true_depth)
        n, depth = conf.shape
        return cls(np.where(valid, conf, 0).astype(np.float32), valid, correct, true_depth,
                   np.zeros((n, depth), np.float32), np.zeros((n, depth, 0), bool), np.zeros((n, 0), bool))


# ----------------------------------------------------------------------------- scoring
@dataclasses.dataclass(frozen=True)
class Scores:
    """Hierarchical precision/recall and coverage of a set of served paths (as the Evaluator)."""

    products: int
    covered: int
    served_nodes: int
    correct_nodes: int
    true_nodes: int
    level_covered: tuple[int, ...] = ()
    level_correct: tuple[int, ...] = ()

    @property
    def precision(self) -> float:
        return self.correct_nodes / self.served_nodes if self.served_nodes else math.nan

    @property
    def recall(self) -> float:
        return self.correct_nodes / self.true_nodes if self.true_nodes else math.nan

    @property
    def coverage(self) -> float:
        return self.covered / self.products if self.products else math.nan

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        if self.true_nodes and not self.correct_nodes:
            return 0.0
        return 2 * p * r / (p + r) if p + r > 0 else math.nan

    def as_dict(self) -> dict[str, float]:
        out = {"products": self.products, "hierarchical_precision": self.precision, "hierarchical_recall": self.recall,
               "hierarchical_f1": self.f1, "coverage": self.coverage}
        for k, (covered, right) in enumerate(zip(self.level_covered, self.level_correct), start=1):
            out[f"coverage_level_{k}"] = covered / self.products if self.products else math.nan
            out[f"precision_level_{k}"] = right / covered if covered else math.nan
        return out


def _level_vector(per_level: Sequence[float], depth: int) -> np.ndarray:
    """Per-level floors as the decoder reads them: the last value repeats for deeper levels."""
    values = list(per_level)[:depth] or [0.0]
    return np.asarray(values + [values[-1]] * (depth - len(values)), np.float32)


def node_floors(data: TuningData, per_level: Sequence[float], sensitive_floors: Sequence[float] = ()) -> np.ndarray:
    """[products, levels] floor of every path node (float32, as in the serving graph)."""
    floors = np.maximum(_level_vector(per_level, data.depth)[None, :], data.fixed_floors)
    if data.in_subtree.shape[2]:
        s = np.asarray(sensitive_floors, np.float32)
        floors = np.maximum(floors, np.where(data.in_subtree, s[None, None, :], np.float32(0)).max(axis=2))
    return floors


def served_mask(data: TuningData, per_level: Sequence[float], sensitive_floors: Sequence[float] = ()) -> np.ndarray:
    """[products, levels] True where the path node is served (its whole prefix passes)."""
    passed = data.valid & (data.confidences >= node_floors(data, per_level, sensitive_floors))
    return np.cumprod(passed, axis=1).astype(bool)


def score(data: TuningData, served: np.ndarray, rows: np.ndarray | None = None) -> Scores:
    if rows is not None:
        data_correct, true_depth, served = data.correct[rows], data.true_depth[rows], served[rows]
    else:
        data_correct, true_depth = data.correct, data.true_depth
    right = served & data_correct
    return Scores(
        products=int(served.shape[0]), covered=int(served[:, 0].sum()) if served.size else 0,
        served_nodes=int(served.sum()), correct_nodes=int(right.sum()), true_nodes=int(true_depth.sum()),
        level_covered=tuple(int(v) for v in served.sum(axis=0)), level_correct=tuple(int(v) for v in right.sum(axis=0)),
    )


@dataclasses.dataclass(frozen=True)
class SliceScores:
    """One sensitive subtree.

    The target is on the products *served* a category in the subtree (how trustworthy a
    sensitive label is; the Evaluator's `sensitive_predicted_<subtree>_hierarchical_precision`),
    which the subtree's floor controls. The slice of products whose true *or* served category
    lies in it (as TFMA's sensitive slices) also counts the subtree's products served elsewhere,
    which no floor of the subtree can change; it is reported beside.
    """

    path: str
    served: Scores              # products served inside the subtree
    either: Scores              # products whose true or served category is in the subtree
    members: int                # products whose true category is in the subtree
    members_served_inside: int  # ... served inside it
    wrong_outside: int          # wrong served nodes of members served outside the subtree

    @property
    def precision(self) -> float:
        return self.served.precision

    @property
    def served_inside(self) -> int:
        return self.served.products

    @property
    def coverage(self) -> float:
        """Share of the subtree's products served a category inside it."""
        return self.members_served_inside / self.members if self.members else math.nan


def slice_scores(data: TuningData, served: np.ndarray, subtree: int) -> SliceScores:
    depth = served.sum(axis=1)
    last = np.take_along_axis(data.in_subtree[:, :, subtree], np.maximum(depth - 1, 0)[:, None], axis=1)[:, 0]
    inside = last & (depth > 0)
    members = data.true_in_subtree[:, subtree]
    outside = members & ~inside
    wrong_outside = int((served[outside] & ~data.correct[outside]).sum())
    return SliceScores(data.subtree_paths[subtree], score(data, served, inside), score(data, served, members | inside),
                       int(members.sum()), int((inside & members).sum()), wrong_outside)


def pooled_sensitive_scores(data: TuningData, served: np.ndarray) -> Scores:
    """The Evaluator's `sensitive_hierarchical_precision` slice: true or served category sensitive."""
    depth = served.sum(axis=1)
    any_node = data.in_subtree.any(axis=2)
    last = np.take_along_axis(any_node, np.maximum(depth - 1, 0)[:, None], axis=1)[:, 0] & (depth > 0)
    return score(data, served, data.true_in_subtree.any(axis=1) | last)


# ----------------------------------------------------------------------------- level search
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


# ----------------------------------------------------------------------------- sensitive floors
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


# ----------------------------------------------------------------------------- export values
def readable_threshold(lower: float, upper: float, max_digits: int = 7) -> float | None:
    """A short decimal x with lower < x <= upper (in float32), from the middle half of the gap;
    `upper` itself when no decimal of at most `max_digits` digits fits (None if max_digits < 7)."""
    lo32, hi32 = np.float32(lower), np.float32(upper)
    if not lo32 < hi32:
        return float(hi32)
    a, b = lower + (upper - lower) / 4, upper - (upper - lower) / 4
    for digits in range(1, max_digits + 1):
        scale = 10 ** digits
        x = math.ceil(a * scale) / scale
        if x <= b and lo32 < np.float32(x) <= hi32:
            return x
    return float(hi32) if max_digits >= 7 else None


def readable_levels(data: TuningData, per_level: Sequence[float], extra_floors: np.ndarray) -> tuple[float, ...]:
    """Each level's threshold moved to a readable value that decides every eval node alike.

    1.0 stays 1.0 when it serves nothing at its level (a closed level); a threshold below every
    confidence of its level becomes a value between 0 and the lowest one, not 0. A level the eval
    split cannot inform (no product reaches it) takes the previous level's value, so that the
    exported vector is as short as the evidence (the decoder repeats the last value).
    """
    eligible = data.valid & (data.confidences >= extra_floors)
    raw = _level_vector(per_level, data.depth)
    served = np.logical_and.accumulate(eligible & (data.confidences >= raw[None, :]), axis=1)
    out: list[float] = []
    for k in range(data.depth):
        reached = eligible[:, k] & (served[:, k - 1] if k else True)
        if k and not reached.any():
            out.append(out[-1])
            continue
        values = data.confidences[eligible[:, k], k]
        theta = raw[k]
        if values.size and theta <= values.min():  # everything passes: between 0 and the lowest value
            short = readable_threshold(0.0, float(values.min()), max_digits=3)
            out.append(0.0 if short is None else short)
            continue
        if theta >= 1.0 and not (values >= 1.0).any():
            out.append(1.0)
            continue
        below = values[values < theta]
        out.append(readable_threshold(float(below.max()) if below.size else 0.0, float(theta)))
    return tuple(out)


def readable_floor(data: TuningData, subtree: int, floor: float, policy_floor: float) -> float:
    """A sensitive subtree's floor as a readable value (the policy minimum itself when it is that)."""
    if np.float32(floor) <= np.float32(policy_floor):
        return float(policy_floor)
    if floor >= 1.0:
        return 1.0
    values = data.confidences[data.valid & data.in_subtree[:, :, subtree]]
    below = values[values < np.float32(floor)]
    return readable_threshold(max(float(below.max()) if below.size else 0.0, policy_floor), float(floor))


def compact_levels(per_level: Sequence[float]) -> tuple[float, ...]:
    """Drops trailing repeats (the decoder repeats the last value for deeper levels)."""
    values = list(per_level)
    while len(values) > 1 and values[-1] == values[-2]:
        values.pop()
    return tuple(values)
