"""The threshold search: per-level confidence floors for a target hierarchical precision.

Its parts, one module each, in the order the search uses them:

- `tuning_data`: what it runs over, per eval product the path decoded with thresholds off, its
  per-level confidences and the true category (`TuningData`), and `ThresholdTuningError`;
- `scoring`: hierarchical precision/recall and coverage of a set of thresholds, exactly as the
  Evaluator scores served predictions, overall and per sensitive subtree;
- `level_search`: the per-level thresholds with the highest coverage at hP >= target, then the
  most correct served nodes (`tune_levels`: a monotone sweep over the level-1 threshold,
  coordinate ascent over the deeper levels);
- `subtree_floors`: the lowest floor of a sensitive subtree at which what it serves reaches the
  stricter sensitive target (`tune_subtree`);
- `readable_values`: the chosen thresholds moved to short decimals that decide every eval node
  alike.

`prodcat.thresholds.config_search` alternates the level search and the subtree floors until nothing
changes. This module keeps the search's import path: it re-exports what `tuning`, the CLI, the
pipeline component and the tests import from it.
"""

from __future__ import annotations

from prodcat.thresholds.level_search import LevelSolution, tune_levels
from prodcat.thresholds.readable_values import compact_levels, readable_floor, readable_levels, readable_threshold
from prodcat.thresholds.scoring import _level_vector as _level_vector  # tuning's curves read floors as the decoder does
from prodcat.thresholds.scoring import (
    Scores,
    SliceScores,
    node_floors,
    pooled_sensitive_scores,
    score,
    served_mask,
    slice_scores,
)
from prodcat.thresholds.subtree_floors import SubtreeSolution, tune_subtree
from prodcat.thresholds.tuning_data import ThresholdTuningError, TuningData

__all__ = [
    "LevelSolution",
    "Scores",
    "SliceScores",
    "SubtreeSolution",
    "ThresholdTuningError",
    "TuningData",
    "compact_levels",
    "node_floors",
    "pooled_sensitive_scores",
    "readable_floor",
    "readable_levels",
    "readable_threshold",
    "score",
    "served_mask",
    "slice_scores",
    "tune_levels",
    "tune_subtree",
]
