"""Batch prediction with several model calls at once: input order, bounded memory, failures, threads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from prodcat.records import Product
from prodcat.readers import write_jsonl
from prodcat.contract.signatures import LevelPrediction, Prediction
from prodcat.serving.predict import map_in_order, write_predictions
from prodcat.serving.tf_threads import available_cpus, configure_tensorflow_threads


class CountingCalls:
    """A stand-in model call. The first `together` calls wait for each other (so they must run at
    the same time) and the first finishes last; later ones return at once."""

    def __init__(self, together: int) -> None:
        self.together, self.running, self.most_running = together, 0, 0
        self._barrier = threading.Barrier(together, timeout=30)
        self._lock = threading.Lock()

    def __call__(self, k: int) -> int:
        with self._lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        if k < self.together:
            self._barrier.wait()  # BrokenBarrierError unless `together` calls run at once
            if k == 0:
                time.sleep(0.05)
        with self._lock:
            self.running -= 1
        return k * 10


def test_map_in_order_keeps_the_input_order_and_bounds_what_is_in_flight() -> None:
    calls = CountingCalls(together=3)
    read: list[int] = []

    def items():
        for k in range(12):
            read.append(k)
            yield k

    out = []
    for item, result in map_in_order(calls, items(), parallel=3):
        out.append((item, result))
        assert len(read) - len(out) <= 2  # never more than `parallel` items read and not yet handed out
    assert out == [(k, k * 10) for k in range(12)]
    assert calls.most_running == 3
    assert list(map_in_order(lambda k: k * 10, range(4), parallel=1)) == [(k, k * 10) for k in range(4)]


def test_map_in_order_raises_the_first_failure_in_input_order() -> None:
    def call(k: int) -> int:
        if k in (2, 4):
            raise ValueError(f"batch {k} failed")
        return k

    got = []
    with pytest.raises(ValueError, match="batch 2 failed"):
        for item, _ in map_in_order(call, range(6), parallel=2):
            got.append(item)
    assert got == [0, 1]


def _fake_predict(delay_of_first: float):
    def predict(batch: list[Product]) -> list[Prediction]:
        if batch[0].id == "p0":
            time.sleep(delay_of_first)  # the first batch finishes last
        return [Prediction(p.id, "1", "A", [LevelPrediction(1, "1", "A", 0.5)], 1) for p in batch]
    return predict


def test_parallel_batches_are_written_in_input_order(tmp_path: Path) -> None:
    source = tmp_path / "products.jsonl"
    write_jsonl([Product(id=f"p{i}", title=f"product {i}") for i in range(50)], source)
    out = tmp_path / "predictions.jsonl"
    count = write_predictions(source, out, _fake_predict(0.05), batch_size=7, progress=False, parallel=3)
    ids = [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert count == 50 and ids == [f"p{i}" for i in range(50)]


def test_a_failing_parallel_batch_leaves_no_partial_output(tmp_path: Path) -> None:
    source = tmp_path / "products.jsonl"
    write_jsonl([Product(id=f"p{i}", title=f"product {i}") for i in range(30)], source)
    out = tmp_path / "predictions.jsonl"
    out.write_text("earlier run\n", encoding="utf-8")

    def predict(batch: list[Product]) -> list[Prediction]:
        if batch[0].id == "p10":
            raise RuntimeError("model call failed")
        return _fake_predict(0.0)(batch)

    with pytest.raises(RuntimeError, match="model call failed"):
        write_predictions(source, out, predict, batch_size=5, progress=False, parallel=2)
    assert out.read_text(encoding="utf-8") == "earlier run\n"  # untouched: output is written atomically
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.slow
def test_thread_settings_apply_before_tensorflow_starts_and_are_reported_after() -> None:
    code = (
        "from prodcat.serving.tf_threads import configure_tensorflow_threads as c\n"
        "import tensorflow as tf\n"
        "assert c(1, 3)\n"
        "tf.constant(1.0) + 1.0\n"  # starts the runtime
        "t = tf.config.threading\n"
        "print(t.get_intra_op_parallelism_threads(), t.get_inter_op_parallelism_threads(), c(1, 3), c(2, 3))\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["1", "3", "True", "False"]
    assert "already started in this process with intra-op parallelism 1; 2 asked for" in done.stderr
    with pytest.raises(ValueError, match="must be >= 0"):
        configure_tensorflow_threads(-1, 0)
    assert available_cpus() >= 1


def test_client_file_prediction_keeps_requests_in_flight_and_the_input_order(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """`prodcat client --concurrency 3`: three requests reach the server at once (a barrier would
    time out otherwise), the answers are written in input order."""
    from prodcat import cli
    from prodcat.serving import client as client_module

    barrier = threading.Barrier(3, timeout=30)
    sizes: list[int] = []

    class FakeClient:
        def __init__(self, target: str, model_name: str, **kwargs) -> None:  # noqa: ANN003
            assert target == "127.0.0.1:1"

        def __enter__(self) -> FakeClient:
            return self

        def __exit__(self, *exc) -> None:  # noqa: ANN002
            pass

        def predict(self, batch: list[Product], full_depth: bool = False) -> list[Prediction]:
            sizes.append(len(batch))
            if len(sizes) <= 3:
                barrier.wait()
            return [Prediction(p.id, "1", "A", [LevelPrediction(1, "1", "A", 0.5)], 1) for p in batch]

    monkeypatch.setattr(client_module, "PredictionClient", FakeClient)
    write_jsonl([Product(f"p{i}", f"product {i}") for i in range(25)], tmp_path / "in.jsonl")
    out = tmp_path / "out.jsonl"
    assert cli.main(["client", "--target", "127.0.0.1:1", "--input", str(tmp_path / "in.jsonl"), "--output", str(out),
                     "--batch-size", "4", "--concurrency", "3", "--quiet"]) == 0
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [f"p{i}" for i in range(25)]
    assert sorted(sizes) == [1] + [4] * 6
