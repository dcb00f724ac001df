"""Training and predicting every system of `benchmarks.quality`, fold by fold, with the time each takes.

A peer (`benchmarks.peers`) is fitted and asked in-process; prodcat runs its real pipeline on
each fold's training side and is asked through the served model's Predictor. Both fill one
`SystemRun` per system, which the report (`benchmarks.quality_report`) scores.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

from prodcat.records import Product

from .run_context import _log


# ----------------------------------------------------------------------------- running systems
@dataclasses.dataclass
class SystemRun:
    """One system's predictions for every evaluation product, pooled over folds, in fold order."""

    system: str
    products: list[Product] = dataclasses.field(default_factory=list)
    paths: list[list[str]] = dataclasses.field(default_factory=list)
    confidences: list[float] = dataclasses.field(default_factory=list)
    served_paths: list[list[str]] | None = None  # prodcat: the thresholded paths as served
    train_seconds: float = 0.0
    predict_seconds: float = 0.0
    notes: dict = dataclasses.field(default_factory=dict)
    error: str | None = None



def run_peer(name: str, data, text, run: SystemRun) -> None:  # noqa: ANN001
    from .peers import make_peer

    for i, fold in enumerate(data.folds):
        peer = make_peer(name, text)
        started = time.perf_counter()
        peer.fit(fold.train, data.taxonomy)
        run.train_seconds += time.perf_counter() - started
        started = time.perf_counter()
        output = peer.predict(fold.test)
        run.predict_seconds += time.perf_counter() - started
        run.products += fold.test
        run.paths += output.paths
        run.confidences += output.confidences
        _log(f"{name}: fold {i + 1}/{len(data.folds)} done ({len(fold.train)} train, {len(fold.test)} eval)")


def run_prodcat(data, work: Path, run: SystemRun, overrides: dict | None = None) -> None:  # noqa: ANN001
    """Each fold's training side goes through `prodcat run --data` unchanged: the default config
    splits it into train and eval (early stopping, the Evaluator) as it would a user's data."""
    from .prodcat_runner import train_and_predict
    from prodcat.serving.predict import Predictor

    run.served_paths = []
    run.notes["evaluator_metrics_on_dev"] = []
    for i, fold in enumerate(data.folds):
        fold_work = work / "prodcat" / f"fold{i + 1}"
        if fold_work.exists():  # a fresh pipeline every run: no cached component, no older model version
            shutil.rmtree(fold_work)
        result = train_and_predict(fold.train, None, data.taxonomy_path, fold_work,
                                   overrides={"enable_cache": False, **(overrides or {})},
                                   name=f"bench-{data.dataset}-{i + 1}", predict=[])  # predicted below, timed
        run.train_seconds += result.train_seconds
        run.notes["evaluator_metrics_on_dev"].append(result.evaluator_metrics)
        predictor = Predictor(fold_work / "run" / "serving" / "prodcat")
        full = []
        started = time.perf_counter()
        for start in range(0, len(fold.test), 256):
            full += predictor.predict(fold.test[start:start + 256], full_depth=True)
        run.predict_seconds += time.perf_counter() - started
        served = []
        for start in range(0, len(fold.test), 256):
            served += predictor.predict(fold.test[start:start + 256], full_depth=False)
        run.products += fold.test
        run.paths += [[level.id for level in p.levels] for p in full]
        run.confidences += [min((level.confidence for level in p.levels), default=0.0) for p in full]
        run.served_paths += [[level.id for level in p.levels] for p in served]
        _log(f"prodcat: fold {i + 1}/{len(data.folds)} done ({len(fold.train)} train, {len(fold.test)} eval, "
             f"pipeline {result.train_seconds:.0f} s)")
