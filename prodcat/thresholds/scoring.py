"""Scoring a set of thresholds exactly as the Evaluator scores served predictions.

Everything is scored as `components/hierarchical_metrics.py` scores served predictions:
hierarchical precision (hP) over the served prefix extended with ancestors, coverage = share of
products served at level 1, and per sensitive subtree the slices the Evaluator reports. The
search's achieved figures are only worth anything if they are the ones the Evaluator will see.

How a path is cut (as `trainer/decoding.py` does it): node k of the path passes when its
confidence is >= its floor, the floor being the largest of the level's threshold, any explicit
override of a subtree holding the node and the sensitive floor of a sensitive subtree holding it;
the served path is the longest prefix of passing nodes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from prodcat.thresholds.tuning_data import TuningData

_EPS = 1e-9  # slack on "hP >= target" for float round-off of counts x target


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
