"""The Beam batch job gives exactly what `prodcat predict` gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prodcat.serving.beam_predict import run_beam_predict
from prodcat.serving.predict import predict_file

pytestmark = pytest.mark.slow


def test_beam_job_matches_batch_predict(demo_run, tmp_path: Path) -> None:
    products = tmp_path / "in.jsonl"
    lines = demo_run.products_path.read_text(encoding="utf-8").splitlines()[:120]
    products.write_text("\n".join(lines + ['{"id": "broken"']) + "\n", encoding="utf-8")
    predict_file(demo_run.serving_base, products, tmp_path / "local.jsonl", progress=False, rejects=[])
    run_beam_predict(demo_run.serving_base, products, str(tmp_path / "beam"))
    local = {json.loads(l)["id"]: json.loads(l) for l in (tmp_path / "local.jsonl").read_text().splitlines()}
    beam = {}
    for f in tmp_path.glob("beam-0*.jsonl"):
        for line in f.read_text().splitlines():
            record = json.loads(line)
            beam[record["id"]] = record
    assert beam.keys() == local.keys() and len(beam) == 120
    for key, record in beam.items():
        assert record["category_id"] == local[key]["category_id"]
        assert record["depth"] == local[key]["depth"]
    rejects = [json.loads(l) for f in tmp_path.glob("beam-rejects*.jsonl") for l in f.read_text().splitlines()]
    assert [r["line"] for r in rejects] == [121]


def test_the_cli_job_ends_without_tracebacks(demo_run, tmp_path: Path) -> None:
    """At exit, the model Beam's cache still holds must not print TensorFlow's teardown errors."""
    import os
    import subprocess
    import sys

    products = tmp_path / "in.jsonl"
    products.write_text("\n".join(demo_run.products_path.read_text(encoding="utf-8").splitlines()[:20]) + "\n",
                        encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "prodcat.cli", "predict", "--model", str(demo_run.serving_base),
                           "--input", str(products), "--output", str(tmp_path / "out.jsonl"), "--runner", "beam"],
                          capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert sum(len(f.read_text().splitlines()) for f in tmp_path.glob("out-0*.jsonl")) == 20
