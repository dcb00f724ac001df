"""Model versions: the version watcher with a fake loader, warmup replay, and pushes to a served base path."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import grpc
import portpicker
import pytest
from server_fixtures import _fake_loader, _hardlink_copy, _push, assert_same_predictions
from server_fixtures import base_copy, expected, products, server  # noqa: F401 (fixtures)
from tensorflow_serving.apis import get_model_status_pb2

from prodcat.contract.warmup import read_warmup_requests
from prodcat.serving.client import PredictionClient
from prodcat.serving.predict import resolve_model_dir
from prodcat.serving.server import ModelServer, ServerOptions, VersionManager


def test_version_manager_serves_newest_loadable_and_keeps_the_last_good(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    base = tmp_path / "prodcat"
    manager = VersionManager("prodcat", base, _fake_loader, poll_seconds=60)
    manager.poll()  # no base path yet: nothing served, no crash
    assert manager.current is None
    _push(base, 1)
    (base / "7").mkdir()  # incomplete push (no saved_model.pb): ignored
    manager.poll()
    first = manager.current
    assert first.version == 1
    _push(base, 3, b"garbage")
    with caplog.at_level(logging.ERROR, "prodcat.serving"):
        manager.poll()
    assert manager.current is first and "version: 3} failed" in caplog.text and "still serving version 1" in caplog.text
    state, code, message = manager.states()[3]
    assert state == get_model_status_pb2.ModelVersionStatus.END and code == grpc.StatusCode.UNKNOWN and "not a SavedModel" in message
    _push(base, 2)
    manager.poll()  # 3 failed with these files: the newest loadable is 2
    assert manager.current.version == 2 and first.closed
    assert manager.states()[1][0] == get_model_status_pb2.ModelVersionStatus.END
    (base / "3" / "saved_model.pb").write_bytes(b"ok")  # fixed in place: files changed, retried
    manager.poll()
    assert manager.current.version == 3
    shutil.rmtree(base / "3")  # rolled back: the newest remaining version is served
    manager.poll()
    assert manager.current.version == 2
    shutil.rmtree(base)  # the base path vanishes: keep serving
    manager.poll()
    assert manager.current.version == 2
    manager.stop()


@pytest.mark.slow
def test_warmup_file_is_tf_serving_format_and_replayed_on_load(server: ModelServer, base_copy: Path) -> None:
    requests = read_warmup_requests(resolve_model_dir(base_copy))
    assert [(r.model_spec.signature_name, len(r.inputs["id" if "id" in r.inputs else "examples"].string_val)) for r in requests] == [
        ("serving_raw", 1), ("serving_raw", 8), ("serving_default", 1), ("serving_default", 8)]
    assert server.stats.snapshot()["warmup_requests"] == 4


@pytest.mark.slow
def test_a_pushed_version_is_served_within_seconds_and_bad_pushes_do_not_stop_serving(
    demo_run, tmp_path: Path, products, expected, caplog: pytest.LogCaptureFixture,
) -> None:
    base = _hardlink_copy(demo_run.serving_base, tmp_path / "prodcat")
    old = resolve_model_dir(base)
    options = ServerOptions(model_base_path=str(base), port=portpicker.pick_unused_port(), file_system_poll_wait_seconds=0.2)
    with ModelServer(options) as server, PredictionClient(f"127.0.0.1:{server.port}") as client:
        assert client.predict_with_version(products[:1])[0] == int(old.name)

        new_version = int(old.name) + 1
        staging = base / f".staging-{new_version}"  # not numeric: the watcher ignores it
        _hardlink_copy(old, staging)
        pushed_at = time.monotonic()
        staging.rename(base / str(new_version))
        served = None
        while time.monotonic() - pushed_at < 60:
            served, got = client.predict_with_version(products)
            if served == new_version:
                break
            time.sleep(0.1)
        print(f"\nversion {new_version} served {time.monotonic() - pushed_at:.1f}s after the push")
        assert served == new_version and time.monotonic() - pushed_at < 30
        assert_same_predictions(got, expected[False])
        assert [s.version for s in client.model_status() if s.state == "AVAILABLE"] == [new_version]

        broken = base / f".staging-{new_version + 1}"
        broken.mkdir()
        (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
        with caplog.at_level(logging.ERROR, "prodcat.serving"):
            broken.rename(base / str(new_version + 1))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not any(s.version == new_version + 1 and s.state == "END" for s in client.model_status()):
                time.sleep(0.1)
        status = {s.version: s for s in client.model_status()}
        assert status[new_version + 1].state == "END" and status[new_version + 1].error_code != "OK"
        assert f"version: {new_version + 1}}} failed" in caplog.text
        assert client.predict_with_version(products[:1])[0] == new_version

        shutil.rmtree(base)  # the base path vanishes: the loaded version keeps serving
        time.sleep(1.0)
        assert client.predict_with_version(products[:1])[0] == new_version
