"""Golden predictions: a change to prodcat's code must not change what a trained model predicts.

Two models are trained as users train them, each by `prodcat run` in its own process: a small demo
run and the default configuration on 1,200 real Shopify products of a few dozen shops. Their
predictions (full decoded path and as served, each level's confidence) are compared with the
files recorded next to this module by pytest-regressions. A refactor keeps them identical; a
change meant to move predictions (a new default, a model change) re-records them on purpose, and
the diff shows in review which products moved:

    make golden     # records them (pytest --regen-all), then checks a second training matches

A run is reproducible: Transform batches by a fixed size and the Trainer is seeded, so two runs
over the same products give identical predictions. A training inside a process that has already
trained another model is not (the golden Shopify model then differed on 48 of 250 products),
hence one process per run here, as `prodcat run` has it. Confidences are compared to within
`CONFIDENCE_TOLERANCE` (another CPU may round differently), categories exactly.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest

from prodcat.contract.signatures import Prediction
from prodcat.records import Product

GOLDEN = Path(__file__).with_suffix("")
CONFIDENCE_TOLERANCE = 1e-3
MAX_LEVELS = 7
DEMO_CONFIG = "demo:\n  n_products: 900\n  n_categories: 15\n  n_shops: 6\n  seed: 3\nmodel:\n  epochs: 5\n"
DEMO_PREDICTED_PRODUCTS = 400
SHOPIFY_TRAIN_PRODUCTS = 1200
SHOPIFY_PREDICTED_PRODUCTS = 300

pytestmark = pytest.mark.e2e


def prodcat_run(work: Path, *args: str) -> Path:
    """`prodcat run ARGS --output work/run` in a fresh interpreter; returns the Trainer's model
    (predicted whether or not the Evaluator blessed it: the gates are not what is pinned here)."""
    output = work / "run"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    result = subprocess.run([sys.executable, "-m", "prodcat.cli", "run", *args, "--output", str(output)],
                            env=env, capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stderr[-4000:]
    models = sorted((output / "pipeline_root" / "Trainer" / "model").glob("*/Format-Serving"))
    assert len(models) == 1, models
    return models[0]


def predict(model: Path, products: Sequence[Product]) -> pd.DataFrame:
    """One row per product: its full decoded path, what is served, and each level's confidence.
    Products are named by a hash of their id: the Shopify ids are the shops' own product handles."""
    from prodcat.serving.predict import Predictor

    predictor = Predictor(model)
    rows = []
    for start in range(0, len(products), 256):
        batch = list(products[start:start + 256])
        full: list[Prediction] = predictor.predict(batch, full_depth=True)
        served: list[Prediction] = predictor.predict(batch, full_depth=False)
        for product, whole, shown in zip(batch, full, served, strict=True):
            confidences = [level.confidence for level in whole.levels] + [0.0] * (MAX_LEVELS - len(whole.levels))
            rows.append({
                "id": hashlib.sha256(product.id.encode()).hexdigest()[:16],
                "category": whole.category_id or "", "served": shown.category_id or "",
                **{f"confidence_l{k + 1}": float(c) for k, c in enumerate(confidences)},
            })
    return pd.DataFrame(rows)


def check_golden(table: pd.DataFrame, name: str, dataframe_regression) -> None:
    dataframe_regression.check(table, fullpath=GOLDEN / f"{name}.csv",
                               default_tolerance={"atol": CONFIDENCE_TOLERANCE, "rtol": 0.0})


def test_demo_model_predicts_as_recorded(tmp_path: Path, google_taxonomy_path: Path, dataframe_regression) -> None:
    from prodcat.readers import read_products

    config = tmp_path / "demo.yaml"
    config.write_text(DEMO_CONFIG)
    model = prodcat_run(tmp_path, "--config", str(config), "--taxonomy", str(google_taxonomy_path))
    products = read_products(next((tmp_path / "run" / "demo_data").glob("*/products.jsonl")))
    check_golden(predict(model, products[:DEMO_PREDICTED_PRODUCTS]), "demo", dataframe_regression)


def test_shopify_model_predicts_as_recorded(tmp_path: Path, google_taxonomy_path: Path, shared: Path,
                                            dataframe_regression) -> None:
    """The default configuration trained on 1,200 products of the first shop-disjoint fold's
    training shops (split as `prodcat run --data` splits them); predicts products of its other shops."""
    from benchmarks.splits import limit, load
    from prodcat.readers import write_jsonl

    data = load("shopify", shared / "datasets" / "shopify_exports_multistore", tmp_path,
                google_taxonomy=str(google_taxonomy_path), train_limit=SHOPIFY_TRAIN_PRODUCTS)
    fold = data.folds[0]
    write_jsonl(fold.train, tmp_path / "data" / "products.jsonl")
    model = prodcat_run(tmp_path, "--data", str(tmp_path / "data"), "--taxonomy", data.taxonomy_path)
    check_golden(predict(model, limit(fold.test, SHOPIFY_PREDICTED_PRODUCTS)), "shopify", dataframe_regression)
