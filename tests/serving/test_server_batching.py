"""Request batching: the batcher with a stand-in model, and 32 concurrent clients of the pushed model."""

from __future__ import annotations

import threading
import time

import grpc
import numpy as np
import pytest
from server_fixtures import assert_same_predictions
from server_fixtures import base_copy, client, expected, products, server, target  # noqa: F401 (fixtures)

from prodcat.contract.signatures import Prediction
from prodcat.serving.client import PredictionClient
from prodcat.serving.server import BatchQueue, ModelServer, ServingError, Stats


def test_batcher_merges_concurrent_requests_pads_strings_and_splits_answers() -> None:
    calls: list[int] = []

    def run(inputs: dict) -> dict:
        calls.append(len(inputs["id"]))
        time.sleep(0.02)
        return {"id": inputs["id"], "n_tags": (inputs["tags"] != b"").sum(axis=1)}

    queue = BatchQueue(run, max_batch_size=16, timeout_s=0.01, stats=Stats(), name="test")
    results: dict[int, dict] = {}

    def client(i: int) -> None:
        tags = np.array([[b"t"] * (i % 4 + 1)], dtype=object)  # widths 1..4: padded with "" when merged
        results[i] = queue.submit({"id": np.array([str(i).encode()], dtype=object), "tags": tags}, 1)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.close()
    for i, out in results.items():
        assert out["id"].tolist() == [str(i).encode()] and out["n_tags"].tolist() == [i % 4 + 1]
    stats = queue.stats.snapshot()
    assert stats["merged_batches"] >= 1 and stats["max_tasks_per_batch"] > 1
    assert stats["batched_tasks"] == 24 and sum(calls) == 24 and len(calls) < 24 and max(calls) <= 16


def test_batcher_isolates_a_failing_request() -> None:
    def run(inputs: dict) -> dict:
        time.sleep(0.01)
        if b"bad" in inputs["x"].tolist():
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "bad row")
        return {"y": inputs["x"]}

    queue = BatchQueue(run, max_batch_size=8, timeout_s=0.05, name="test")
    outcome: dict[bytes, object] = {}

    def client(value: bytes) -> None:
        try:
            outcome[value] = queue.submit({"x": np.array([value], dtype=object)}, 1)["y"].tolist()
        except ServingError as err:
            outcome[value] = err.code

    values = [b"bad", *(f"ok{i}".encode() for i in range(6))]
    threads = [threading.Thread(target=client, args=(v,)) for v in values]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.close()
    assert outcome.pop(b"bad") == grpc.StatusCode.INVALID_ARGUMENT
    assert all(result == [value] for value, result in outcome.items())


def test_batcher_does_not_pad_a_batch_beyond_max_elements() -> None:
    """One request with a very wide list input must not widen everybody else's padding."""
    running, gate, shapes = threading.Event(), threading.Event(), []

    def run(inputs: dict) -> dict:
        running.set()
        gate.wait(10)
        shapes.append(inputs["tags"].shape)
        return {"n": (inputs["tags"] != b"").sum(axis=1)}

    queue = BatchQueue(run, max_batch_size=16, timeout_s=0.05, max_elements=1500, name="test")
    results: dict[str, list] = {}

    def submit(name: str, width: int) -> None:
        results[name] = queue.submit({"tags": np.full((1, width), b"t", dtype=object)}, 1)["n"].tolist()

    def start(name: str, width: int) -> threading.Thread:
        thread = threading.Thread(target=submit, args=(name, width))
        thread.start()
        return thread

    threads = [start("blocker", 2)]
    assert running.wait(10)  # the only worker is busy: what follows queues up
    for queued, (name, width) in enumerate([("wide", 1000), *((f"narrow{i}", 2) for i in range(4))], 1):
        threads.append(start(name, width))
        deadline = time.monotonic() + 10
        while queue._queued_rows < queued and time.monotonic() < deadline:  # noqa: SLF001 (in this order)
            time.sleep(0.001)
    gate.set()
    for thread in threads:
        thread.join()
    queue.close()
    assert results == {"blocker": [2], "wide": [1000], **{f"narrow{i}": [2] for i in range(4)}}
    assert sorted(shapes) == [(1, 2), (1, 1000), (4, 2)]  # wide + narrow would have been (2, 1000) > 1500


@pytest.mark.slow
def test_32_concurrent_clients_get_correct_answers_and_requests_are_batched(server: ModelServer, client: PredictionClient, products, expected) -> None:
    want = {p.id: p for p in expected[False]}
    before = server.stats.snapshot()
    errors: list[BaseException] = []
    answers: list[Prediction] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        for i in range(10):
            product = products[(k * 10 + i) % len(products)]
            try:
                (prediction,) = client.predict([product])
                with lock:
                    answers.append(prediction)
            except BaseException as err:  # noqa: BLE001 (collected and asserted below)
                with lock:
                    errors.append(err)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    assert errors == [] and len(answers) == 320
    for answer in answers:
        assert_same_predictions([answer], [want[answer.id]])
    after = server.stats.snapshot()
    merged = after["merged_batches"] - before["merged_batches"]
    batched = after["batched_tasks"] - before["batched_tasks"]
    print(f"\n320 requests in {elapsed:.2f}s; {batched} batched into {after['batches'] - before['batches']} batches, "
          f"{merged} merged, largest {after['max_tasks_per_batch']} requests")
    assert batched == 320 and merged > 0 and after["max_tasks_per_batch"] > 1
