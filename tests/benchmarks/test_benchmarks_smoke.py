"""Smoke tests of the benchmarks (benchmarks/serving/, batch.py, soak.py): tiny sizes, structured
results, no timing assertions. Those that need a model are `slow` and use the session's demo run."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # `benchmarks` is a top-level package of the repo, not of prodcat
    sys.path.insert(0, str(REPO))

from benchmarks import batch, serving, soak  # noqa: E402


# ----------------------------------------------------------------------------- fast
def test_percentile_interpolates() -> None:
    assert serving.percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert serving.percentile([0.0, 10.0], 95) == pytest.approx(9.5)
    assert math.isnan(serving.percentile([], 99))


def test_importing_the_benchmarks_leaves_tensorflow_and_grpc_out() -> None:
    """The load generator process imports benchmarks.serving; it must stay light."""
    code = "import sys, benchmarks.serving; print(sorted({'tensorflow', 'grpc', 'prodcat'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_load_generator_counts_errors_without_a_server() -> None:
    spec = serving.LoadSpec(f"127.0.0.1:{serving.free_port()}", [b""], n_requests=3, concurrency=2, timeout_s=5)
    result = serving.run_load(spec)
    assert result.n_ok == 0 and result.n_errors == 3 and result.latencies_s == []
    assert set(result.errors) <= {"UNAVAILABLE", "DEADLINE_EXCEEDED"}


def test_load_generator_interleaves_abusive_requests() -> None:
    spec = serving.LoadSpec(f"127.0.0.1:{serving.free_port()}", [b""], n_requests=6, concurrency=1, timeout_s=5,
                            abusive=[("a", b"x"), ("b", b"y")], abuse_every=2)
    result = serving.run_load(spec)
    assert result.n_errors == 6
    assert sorted(o.kind for o in result.abuse) == ["a", "a", "b"]


def test_embedding_text_matches_the_graph() -> None:
    import tensorflow as tf

    from prodcat.records import Product
    from prodcat.trainer.text import product_text

    products = [Product(id="1", title="Red Kite", product_type="Toys", tags=["kite", "red"]),
                Product(id="2", title="Pot", tags=[])]
    fields = ("title", "product_type", "tags")
    inputs = {
        "title": tf.constant([p.title for p in products]),
        "product_type": tf.constant([p.product_type for p in products]),
        "tags": tf.ragged.constant([p.tags for p in products], dtype=tf.string).to_sparse(),
    }
    graph = [t.decode() for t in product_text(inputs, fields).numpy()]
    assert [batch.embedding_text(p, fields) for p in products] == graph


def test_abusive_requests_cover_every_kind() -> None:
    from prodcat.records import Product
    from prodcat.serving.client import build_predict_request

    valid = build_predict_request([Product(id="1", title="Red Kite")]).SerializeToString()
    kinds = soak.abusive_requests(valid, 1 << 20)
    assert [k for k, _ in kinds] == list(soak.EXPECTED_CODES)
    assert len(dict(kinds)["oversized"]) > 2 << 20


@pytest.mark.parametrize("module", [serving, batch, soak])
def test_main_reports_a_missing_model(module, tmp_path: Path, capsys) -> None:
    assert module.main(["--model-base-path", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err


# ----------------------------------------------------------------------------- with a model
@pytest.mark.slow
def test_serving_benchmark_smoke(demo_run) -> None:
    result = serving.run_serving_benchmark(
        demo_run.serving_base, demo_run.products_path, n_products=40, requests=20, batch_requests=4,
        concurrency=(1, 4), batch_size=8, predict_batch_size=16, warmup_requests=4,
    )
    assert [(p.products_per_request, p.concurrency) for p in result.phases] == [(1, 1), (1, 4), (8, 1), (8, 4)]
    for phase in result.phases:
        assert phase.n_errors == 0, phase.error_samples
        assert phase.response_problem is None
        assert phase.requests_per_s > 0 and phase.products_per_s > 0
        assert 0 < phase.p50_ms <= phase.p95_ms <= phase.p99_ms <= phase.max_ms
    assert min(result.rss_idle_mib, result.rss_warm_mib, result.rss_end_mib) > 0
    assert result.predict_products_per_s > 0 and result.ratio(1) > 0
    # the target's reference is `prodcat predict` on the same products (every one written out)
    assert result.predict_file_before.products == result.n_products and result.predict_file_products_per_s > 0
    assert result.ratio(1) == pytest.approx(result.phase(1, 4).products_per_s / result.predict_file_products_per_s)
    assert result.ratio(1, against="Predictor.predict") == pytest.approx(
        result.phase(1, 4).products_per_s / result.predict_products_per_s)
    report = serving.format_report(result)
    assert "targets:" in report and "load average" in report
    json.dumps(result.to_json(), default=str)


@pytest.mark.slow
def test_replayed_model_server_answers_without_the_model_and_says_so(demo_run) -> None:
    from prodcat.readers import read_products
    from prodcat.serving.client import PredictionClient
    from prodcat.serving.predict import Predictor

    products = read_products(demo_run.products_path)[:40]
    with serving.ServerProcess(demo_run.serving_base, module=serving.REPLAY_MODULE) as server, \
            PredictionClient(server.target) as client:
        answers = client.predict(products[:6], full_depth=True)
    # one recorded row for every product: the model did not run (the real model tells them apart)
    assert len({(a.category_id, tuple(lv.confidence for lv in a.levels)) for a in answers}) == 1
    real = Predictor(demo_run.serving_base).predict(products[:6], full_depth=True)
    assert len({(a.category_id, tuple(lv.confidence for lv in a.levels)) for a in real}) > 1
    assert [a.id for a in answers] == [p.id for p in products[:6]]
    result = serving.run_serving_benchmark(
        demo_run.serving_base, demo_run.products_path, n_products=40, requests=20, batch_requests=0,
        concurrency=(1, 4), predict_batch_size=16, warmup_requests=4, replay_model=True,
    )
    assert result.replayed_model and all(p.n_errors == 0 and p.response_problem is None for p in result.phases)
    report = serving.format_report(result)
    assert "MODEL CALLS REPLAYED" in report and "targets:" not in report


@pytest.mark.slow
def test_serving_benchmark_drives_a_server_it_did_not_start(demo_run) -> None:
    with serving.ServerProcess(demo_run.serving_base) as server:
        result = serving.run_serving_benchmark(
            demo_run.serving_base, demo_run.products_path, n_products=40, requests=20, batch_requests=0,
            concurrency=(1, 4), predict_batch_size=16, warmup_requests=4, target=server.target, server_pid=server.pid,
        )
        assert server.alive()  # not the benchmark's to stop
    assert result.external_server and not result.replayed_model
    assert result.model_version == server.version
    assert all(p.n_errors == 0 and p.response_problem is None for p in result.phases)
    assert result.rss_idle_mib > 0 and all(p.server_cpu_s > 0 for p in result.phases)
    report = serving.format_report(result)
    assert f"at {server.target}" in report and "started outside the benchmark" in report and "targets:" in report


def test_serving_benchmark_target_that_does_not_answer(tmp_path, capsys) -> None:
    down = serving.ExternalServer(f"127.0.0.1:{serving.free_port()}", startup_timeout_s=1.5)
    with pytest.raises(RuntimeError, match="no AVAILABLE version of model 'prodcat'"):
        down.start()
    assert serving.main(["--model-base-path", str(tmp_path), "--target", "127.0.0.1:1", "--replay-model"]) == 2
    assert "--target drives a running server" in capsys.readouterr().err


@pytest.mark.slow
def test_batch_benchmark_smoke(demo_run) -> None:
    result = batch.run_batch_benchmark(demo_run.serving_base, demo_run.products_path, n=40, rounds=1, batch_size=16)
    assert result.predictions_written == 40
    assert len(result.prodcat) == len(result.usem3) == 1
    assert result.prodcat[0].load_s > 0 and result.prodcat[0].steady_products_per_s > 0
    assert result.usem3[0].products_per_s > 0 and result.ratio_median > 0
    assert " | " in result.text_example
    assert "targets:" in batch.format_report(result)
    json.dumps(result.to_json(), default=str)


@pytest.mark.slow
def test_soak_smoke(demo_run) -> None:
    result = soak.run_soak(
        demo_run.serving_base, demo_run.products_path, requests=40, concurrency=4, abuse_every=5,
        n_products=20, warmup_requests=8,
    )
    assert result.ok == 40 and result.failed_valid == 0, result.error_samples
    assert result.requests_per_s > 0 and result.p50_ms > 0
    assert [a.kind for a in result.abuse] == list(soak.EXPECTED_CODES)
    assert all(a.clean for a in result.abuse), [(a.kind, a.codes, a.example) for a in result.abuse]
    assert result.server_alive and result.server_available and result.valid_after is None
    assert result.rss_warm_mib > 0 and result.rss_end_mib > 0
    assert "targets:" in soak.format_report(result)
    json.dumps(result.to_json(), default=str)


@pytest.mark.parametrize("name", sorted(__import__("prodcat.cli", fromlist=["BENCHMARKS"]).BENCHMARKS))
def test_every_bench_command_imports_as_installed(name: str) -> None:
    """`prodcat bench NAME` imports prodcat.benchmarks.<module>: no import may assume the repo root on sys.path."""
    from prodcat.cli import BENCHMARKS

    code = f"import prodcat.benchmarks.{BENCHMARKS[name]}"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]


def test_scaling_growth_exponents_and_table() -> None:
    """Linear growth gives exponent 1, quadratic 2; the table has a column per size and setting."""
    from benchmarks import scaling

    rows = [
        {"size": 1000, "workers": 1, "wall_seconds": 10.0, "components": {"Transform": 4.0, "Trainer": 1.0}},
        {"size": 4000, "workers": 1, "wall_seconds": 40.0, "components": {"Transform": 16.0, "Trainer": 16.0}},
        {"size": 1000, "workers": 2, "wall_seconds": 8.0, "components": {"Transform": 2.0}},
    ]
    exponents = scaling.growth(rows, 1)
    assert exponents["Transform"] == [pytest.approx(1.0)] and exponents["Trainer"] == [pytest.approx(2.0)]
    assert exponents["total"] == [pytest.approx(1.0)] and exponents["Evaluator"] == []
    table = scaling.format_table(rows)
    assert "1,000 w1" in table and "4,000 w1" in table and "1,000 w2" in table
    assert table.splitlines()[-1].split()[0] == "total"
    with_portable = scaling.format_table([*rows, {"size": 1000, "workers": "portable", "wall_seconds": 9.0,
                                                  "components": {"Transform": 3.0}}])
    header = with_portable.splitlines()[0]
    assert header.index("1,000 w2") < header.index("1,000 wportable") < header.index("4,000 w1")


def test_scaling_runs_multi_worker_settings_only_at_the_sizes_asked() -> None:
    from benchmarks import scaling

    assert scaling.planned_runs([10, 50, 200], [1, 2], {50}) == [(10, 1), (50, 1), (50, 2), (200, 1)]
    assert scaling.planned_runs([10, 50], [1, 2], {10, 50}) == [(10, 1), (10, 2), (50, 1), (50, 2)]
    assert scaling.planned_runs([10, 50], [1, 2, "portable"], {50}) == [
        (10, 1), (10, "portable"), (50, 1), (50, 2), (50, "portable")]
