"""What threshold tuning returns: the tuned section, what it achieves overall, per sensitive subtree
and along each level's precision-coverage curve, and its JSON form (the report and `--json`).

Kept apart from `prodcat.thresholds.tuning`, which computes it, so that the report, the CLI and
the pipeline component can read the result's shape on one page.
"""

from __future__ import annotations

import dataclasses
import math

from prodcat.config import ThresholdConfig
from prodcat.thresholds.calibration import LevelCalibration
from prodcat.thresholds.search import Scores, SliceScores


@dataclasses.dataclass(frozen=True)
class CurvePoint:
    """One point of a level's precision-coverage curve (the other thresholds as tuned)."""

    threshold: float
    hierarchical_precision: float
    hierarchical_recall: float
    coverage: float
    level_coverage: float   # share of products served at this level or deeper
    level_precision: float  # share of those whose node at this level is right


@dataclasses.dataclass(frozen=True)
class SubtreeReport:
    path: str
    floor: float
    reached: bool | None  # None: no eval product in the slice (floor kept at the policy minimum)
    scores: SliceScores

    def as_dict(self) -> dict:
        return {"path": self.path, "min_confidence": self.floor, "reached": self.reached,
                "hierarchical_precision": self.scores.precision, "coverage": self.scores.coverage,
                "served_inside": self.scores.served_inside, "products": self.scores.members,
                "true_or_served_hierarchical_precision": self.scores.either.precision,
                "true_or_served_products": self.scores.either.products,
                "wrong_nodes_of_products_served_outside": self.scores.wrong_outside}


@dataclasses.dataclass(frozen=True)
class TuningResult:
    """What tuning chose and what it achieves on the eval split (exactly as served)."""

    thresholds: ThresholdConfig          # the tuned config section (the input one when not reached)
    target_precision: float
    sensitive_precision: float | None
    reached: bool
    message: str
    products: int
    achieved: Scores                     # with the tuned thresholds
    configured: Scores                   # with the thresholds the model was exported with
    configured_per_level: tuple[float, ...]
    sensitive: tuple[SubtreeReport, ...]
    sensitive_pooled: Scores             # the Evaluator's sensitive slice (true or served sensitive)
    curves: dict[int, list[CurvePoint]]
    calibration: tuple[LevelCalibration, ...] = ()
    uncalibrated: dict | None = None     # headline of the same search without calibration

    def as_dict(self) -> dict:
        """JSON-ready (the report and the CLI's --json)."""
        t = self.thresholds
        return _clean({
            "target_precision": self.target_precision, "sensitive_precision": self.sensitive_precision,
            "reached": self.reached, "message": self.message, "products": self.products,
            "thresholds": {"per_level": list(t.per_level), "temperatures": list(t.temperatures),
                           "overrides": [o.model_dump() for o in t.overrides],
                           "sensitive_min_confidence": t.sensitive.min_confidence},
            "achieved": self.achieved.as_dict(),
            "configured": {"per_level": list(self.configured_per_level), **self.configured.as_dict()},
            "sensitive": [s.as_dict() for s in self.sensitive],
            "sensitive_pooled": {"hierarchical_precision": self.sensitive_pooled.precision,
                                 "products": self.sensitive_pooled.products},
            "calibration": [dataclasses.asdict(c) for c in self.calibration],
            "uncalibrated": self.uncalibrated,
            "curves": {str(level): [dataclasses.asdict(p) for p in points] for level, points in self.curves.items()},
        })


def _clean(value):  # noqa: ANN001, ANN202 - NaN is not JSON
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value
