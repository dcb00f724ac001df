"""prodcat as a benchmark contestant: the real pipeline on given train/eval products.

Benchmarks call `train_and_predict` so that prodcat is trained exactly as users train it (TFX
pipeline, Transform graph, Evaluator) and scored on exactly the products the peers see.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prodcat.records import Product
from prodcat.readers import write_jsonl


@dataclasses.dataclass
class ProdcatRun:
    full_depth: list  # Prediction per eval product, thresholds off (the whole greedy path)
    served: list      # Prediction per eval product, as served (thresholded)
    train_seconds: float
    predict_seconds: float
    evaluator_metrics: dict[str, float]


def train_and_predict(
    train: Sequence[Product], evaluate: Sequence[Product] | None, taxonomy_path: str, work: Path,
    overrides: dict[str, Any] | None = None, name: str = "prodcat", predict: Sequence[Product] | None = None,
) -> ProdcatRun:
    """Runs the pipeline with `train`/`evaluate` as its train/eval splits, or, with `evaluate`
    None, on `train` alone split as `prodcat run --data` splits it (the configured `split`);
    predicts `predict` (default: `evaluate`) with the pushed model."""
    from prodcat.config import Config
    from prodcat.pipeline import local_runner
    from prodcat.reporting.summary import latest_run_summary
    from prodcat.serving.predict import Predictor

    data = work / "data"
    settings: dict[str, Any] = {
        "pipeline_name": name, "data": str(data), "taxonomy": taxonomy_path, "output_dir": str(work / "run"),
        "evaluation": {"min_hierarchical_f1": 0.0, "min_coverage": 0.0, "max_f1_regression": 1.0},
    }
    if evaluate is None:
        write_jsonl(list(train), data / "products.jsonl")
    else:
        write_jsonl(list(train), data / "train.jsonl")
        write_jsonl(list(evaluate), data / "eval.jsonl")
        settings["split"] = {"method": "files", "train_pattern": "train.jsonl", "eval_pattern": "eval.jsonl"}
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(settings.get(key), dict):
            settings[key] = {**settings[key], **value}
        else:
            settings[key] = value
    config = Config.model_validate(settings)
    started = time.time()
    prepared = local_runner.prepare(config)
    local_runner.run(prepared)
    train_seconds = time.time() - started
    metrics = latest_run_summary(config.metadata_path).metrics
    predictor = Predictor(config.serving_base)
    started = time.time()
    full, served = [], []
    products = list((evaluate or []) if predict is None else predict)
    for start in range(0, len(products), 256):
        batch = products[start:start + 256]
        full += predictor.predict(batch, full_depth=True)
        served += predictor.predict(batch, full_depth=False)
    return ProdcatRun(full, served, train_seconds, (time.time() - started) / 2, metrics)
