"""What the threshold search runs over: the eval split as the serving graph decodes it with thresholds off.

Per eval product: the path decoded with thresholds off (greedy, or beam search) with its per-level
confidences, and the true category. `TuningData.build` turns category ids into the arrays the
search and the scoring read (which node is right, which explicit override floors it, which
sensitive subtree holds it), once, so that each of the search's many evaluations is a few numpy
operations; `TuningData.from_arrays` builds them without a taxonomy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from prodcat.config import ThresholdConfig
from prodcat.sensitive import sensitive_roots
from prodcat.taxonomy import Taxonomy


class ThresholdTuningError(ValueError):
    """Tuning cannot produce thresholds (no eval products, unreachable target, ...)."""


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
        confidences: np.ndarray, thresholds: ThresholdConfig, unfamiliar: np.ndarray | None = None,
    ) -> TuningData:
        """From category ids: `path_ids[i]` is product i's decoded path (thresholds off) and
        `confidences[i, k]` the confidence of its node at level k+1.

        The sensitive subtrees of `thresholds.sensitive` that the taxonomy has are the tuned
        ones; an explicit override of one of them is taken as an earlier tuning result and
        replaced; every other override is a fixed floor, and so are the floors of
        `thresholds.per_level_unfamiliar` on the products `unfamiliar` marks (unlike the training data).
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
                if unfamiliar is not None and unfamiliar[i]:
                    fixed_floors[i, k] = max(fixed_floors[i, k], thresholds.for_level_unfamiliar(k + 1))
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
