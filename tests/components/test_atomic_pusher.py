"""Atomic publication of model versions: a half-copied version is never visible."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prodcat.components import atomic_pusher


def _model(tmp_path: Path) -> Path:
    model = tmp_path / "model"
    (model / "variables").mkdir(parents=True)
    (model / "variables" / "variables.data-00000-of-00001").write_bytes(b"w" * 1000)
    (model / "saved_model.pb").write_bytes(b"graph")
    return model


def test_publish_renames_a_complete_copy_into_place(tmp_path: Path) -> None:
    base = tmp_path / "serving"
    base.mkdir()
    path = atomic_pusher.publish_version(str(_model(tmp_path)), str(base), "17")
    assert Path(path) == base / "17"
    assert (base / "17" / "saved_model.pb").read_bytes() == b"graph"
    assert sorted(p.name for p in base.iterdir()) == ["17"]


def test_interrupted_copy_is_invisible_and_cleaned_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "serving"
    base.mkdir()
    model = _model(tmp_path)

    def crash(*args, **kwargs):  # noqa: ANN002, ANN003
        raise OSError("disk full")

    monkeypatch.setattr(atomic_pusher.io_utils, "copy_file", crash)
    with pytest.raises(OSError):
        atomic_pusher.publish_version(str(model), str(base), "18")
    assert not any(p.name.isdigit() for p in base.iterdir()), "no version directory may appear"
    assert (base / ".18.incomplete").exists()
    monkeypatch.undo()
    assert atomic_pusher.clean_stale_staging(str(base)) == [".18.incomplete"]
    atomic_pusher.publish_version(str(model), str(base), "18")
    assert sorted(p.name for p in base.iterdir()) == ["18"]


# ------------------------------------------------------------------------------ killed mid-copy
def _executor_inputs(root: Path, base: Path) -> tuple[dict, dict, dict]:
    """What the TFX Pusher hands the executor: a blessed Model artifact, a PushedModel, a filesystem destination."""
    from tfx.proto import pusher_pb2
    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils

    model = standard_artifacts.Model()
    model.uri = str(root / "Trainer" / "model" / "7")
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(root / "Evaluator" / "blessing" / "8")
    blessing.set_int_custom_property("blessed", 1)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(root / "Pusher" / "pushed_model" / "9")
    destination = pusher_pb2.PushDestination(filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=str(base)))
    return ({"model": [model], "model_blessing": [blessing]}, {"pushed_model": [pushed]},
            {"push_destination": proto_utils.proto_to_json(destination)})


def _write_trained_model(root: Path) -> Path:
    """A SavedModel-shaped export with several files, so a copy can be stopped half way."""
    model = root / "Trainer" / "model" / "7" / "Format-Serving"
    (model / "variables").mkdir(parents=True)
    for shard in range(4):
        (model / "variables" / f"variables.data-0000{shard}-of-00004").write_bytes(bytes([shard]) * 50_000)
    (model / "variables" / "variables.index").write_bytes(b"index")
    (model / "assets.extra").mkdir()
    (model / "assets.extra" / "taxonomy.txt").write_text("1 - Toys\n", encoding="utf-8")
    (model / "saved_model.pb").write_bytes(b"graph")
    return model


def _files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def _child_push_and_hang(root: str, base: str, marker: str) -> None:
    """Child process: the real executor, made to stop for good once its first file lands under `base`."""
    from tfx.dsl.io import fileio

    real_copy = fileio.copy

    def copy_then_hang(src: str, dst: str, overwrite: bool = False) -> None:
        real_copy(src, dst, overwrite)
        if os.path.abspath(dst).startswith(os.path.join(os.path.abspath(base), "")):
            Path(marker).write_text(dst, encoding="utf-8")
            time.sleep(3600)  # SIGKILLed here, half way through the copy

    fileio.copy = copy_then_hang
    atomic_pusher.Executor().Do(*_executor_inputs(Path(root), Path(base)))


def test_pusher_killed_mid_copy_shows_no_new_version_and_the_rerun_pushes_a_whole_one(tmp_path: Path) -> None:
    from prodcat.serving.predict import resolve_model_dir
    from prodcat.serving.server import list_versions

    root, base, marker = tmp_path / "pipeline_root", tmp_path / "serving" / "prodcat", tmp_path / "copying"
    model = _write_trained_model(root)
    atomic_pusher.publish_version(str(model), str(base), "17")  # the version being served

    child = subprocess.Popen([sys.executable, __file__, str(root), str(base), str(marker)],
                             cwd=Path(__file__).resolve().parents[2], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 600
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), f"the push never started copying: {child.stderr.read().decode()[-2000:]}"
        os.killpg(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL

    # Servers and clients still see only the complete version...
    assert list(list_versions(base)) == [17], "prodcat serve sees only the complete version"
    assert resolve_model_dir(base) == base / "17", "prodcat predict picks the complete version"
    assert sorted(p.name for p in base.iterdir() if p.name.isdigit()) == ["17"], "TF Serving's rule: all-digit names"
    # ...because the kill left its half copy in a hidden staging directory.
    staging = [p for p in base.iterdir() if p.name.endswith(atomic_pusher.STAGING_SUFFIX)]
    assert len(staging) == 1 and 0 < len(_files(staging[0])) < len(_files(model)), "killed half way through"
    assert not (staging[0] / "saved_model.pb").exists()

    # The rerun's Pusher removes the leftover and publishes a whole copy.
    inputs, outputs, properties = _executor_inputs(root, base)
    atomic_pusher.Executor().Do(inputs, outputs, properties)
    pushed = outputs["pushed_model"][0]
    assert pushed.get_int_custom_property("pushed") == 1
    version = pushed.get_string_custom_property("pushed_version")
    assert sorted(p.name for p in base.iterdir()) == sorted(["17", version]), "staging cleaned up, nothing else"
    assert _files(base / version) == _files(model)
    assert resolve_model_dir(base) == base / version


if __name__ == "__main__":  # the child of the kill test
    _child_push_and_hang(*sys.argv[1:4])
