"""Data-parallel training for real: 2 worker processes on 127.0.0.1 with MultiWorkerMirroredStrategy.

Uses the Transform output of the session's demo pipeline run, so the workers train exactly what
the Trainer trains.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest
import tensorflow as tf

from prodcat.config import ModelConfig, TrainingConfig
from prodcat.module_config import TRAINER_CODE, ModuleConfig
from prodcat.reporting.summary import latest_run_summary
from prodcat.trainer.local_cluster import ATTEMPT_HEADER, CLUSTER_STATUS, TrainingJob, WorkerFailed, run_local_cluster

pytestmark = pytest.mark.slow


def _job(demo_run, tmp_path: Path, model: ModelConfig, training: TrainingConfig) -> TrainingJob:  # noqa: ANN001
    summary = latest_run_summary(demo_run.config.metadata_path)
    transform = summary.component("Transform")
    examples = transform.outputs["transformed_examples"][0]
    config = demo_run.config.model_copy(update={"model": model, "training": training})
    return TrainingJob(
        train_files=[f"{examples}/Split-train/*"], eval_files=[f"{examples}/Split-eval/*"],
        transform_output=transform.outputs["transform_graph"][0],
        serving_model_dir=str(tmp_path / "serving_model"), model_run_dir=str(tmp_path / "run"),
        custom_config=ModuleConfig(config, demo_run.prepared.inputs.taxonomy_path).to_custom_config(TRAINER_CODE),
    )


def test_two_workers_agree_and_the_chief_exports(demo_run, tmp_path: Path) -> None:
    job = _job(demo_run, tmp_path, ModelConfig(epochs=2), TrainingConfig(workers=2))
    digests = run_local_cluster(job, workers=2, timeout_s=900)

    assert [d["worker"] for d in digests] == [0, 1]
    assert digests[0]["digest"] == digests[1]["digest"], "both workers end with identical weights"
    assert digests[0]["parameters"] > 1000
    assert (tmp_path / "serving_model" / "saved_model.pb").is_file(), "the chief exports the model"
    assert not (tmp_path / "run" / "worker_export_0").exists()
    assert (tmp_path / "run" / "worker_export_1" / "saved_model.pb").is_file(), "the other worker saves aside"
    log = (tmp_path / "run" / "worker-0.log").read_text()
    assert "MultiWorkerMirroredStrategy" in log or "epoch 2" in log
    model = tf.saved_model.load(str(tmp_path / "serving_model"))
    assert "serving_raw" in model.signatures


def _epochs_logged(log_part: str, worker: int) -> list[int]:
    return [int(n) for n in re.findall(rf"^worker {worker}: epoch (\d+)(?: of \d+)?: loss", log_part, re.MULTILINE)]


def _attempts(log: Path) -> list[str]:
    """The log of each attempt (the supervisor writes a header line before each)."""
    return log.read_text(encoding="utf-8", errors="replace").split(ATTEMPT_HEADER)[1:]


def test_a_killed_worker_restarts_the_cluster_and_training_resumes_from_the_last_backup(
    demo_run, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    epochs = 3
    # A small trunk keeps the per-epoch backup small; the Transform output is the demo run's own.
    model = ModelConfig(epochs=epochs, embedding_dim=8, hidden_units=(32,), level_hidden_units=16, merchant_dim=4,
                        label_semantics=False, early_stopping_patience=epochs)
    job = _job(demo_run, tmp_path, model, TrainingConfig(workers=2, max_restarts=1, checkpoint_every="epoch"))
    run_dir = tmp_path / "run"
    killed: dict = {}
    done = threading.Event()

    def kill_worker_1_once_epoch_1_is_backed_up() -> None:
        # EpochLog runs after BackupAndRestore: "epoch 1" in the chief's log means epoch 1 is backed up.
        while not done.wait(0.2):
            if not (run_dir / CLUSTER_STATUS).exists() or not (run_dir / "worker-0.log").exists():
                continue
            status = json.loads((run_dir / CLUSTER_STATUS).read_text())
            if len(status["attempts"]) == 1 and 1 in _epochs_logged((run_dir / "worker-0.log").read_text(), 0):
                killed["backup"] = sorted(p.name for p in (run_dir / "backup" / "chief").iterdir())
                os.kill(status["attempts"][0]["pids"][1], signal.SIGKILL)
                killed["at"] = time.time()
                return

    killer = threading.Thread(target=kill_worker_1_once_epoch_1_is_backed_up, daemon=True)
    killer.start()
    started = time.time()
    try:
        with caplog.at_level(logging.INFO, logger="prodcat.trainer.local_cluster"):
            digests = run_local_cluster(job, workers=2, timeout_s=900)
    finally:
        done.set()
        killer.join(timeout=10)
    finished = time.time()

    assert "at" in killed, "worker 1 was killed mid-training"
    assert "checkpoint" in killed["backup"], f"the chief had a backup when worker 1 was killed: {killed['backup']}"
    status = json.loads((run_dir / CLUSTER_STATUS).read_text())
    first, second = status["attempts"]  # exactly one restart
    assert first["outcome"] == "worker 1 was killed by SIGKILL"
    assert second["restart_reason"] == "worker 1 was killed by SIGKILL" and second["outcome"] == "ok"
    assert second["pids"] != first["pids"]
    assert any("restarting all 2 workers" in r.getMessage() and "killed by SIGKILL" in r.getMessage()
               for r in caplog.records), "the restart is logged with its reason"

    for worker in (0, 1):
        before, after = _attempts(run_dir / f"worker-{worker}.log")
        done_before = _epochs_logged(before, worker)
        restored = re.search(r"restored the training state backed up after epoch (\d+)", after)
        assert restored, f"worker {worker} restored the backup"
        restored_epochs = int(restored.group(1))
        assert 1 <= restored_epochs < epochs
        # worker 1 may be killed before it logs the epoch the chief has logged (and backed up)
        assert done_before == list(range(1, len(done_before) + 1)) and restored_epochs >= max(done_before, default=0), \
            "no epoch finished before the kill is lost"
        assert _epochs_logged(after, worker) == list(range(restored_epochs + 1, epochs + 1)), \
            "the second attempt resumes after the backed-up epochs and re-runs none of them"

    assert digests[0]["digest"] == digests[1]["digest"], "both workers end with identical weights"
    export = tmp_path / "serving_model"
    assert "serving_raw" in tf.saved_model.load(str(export)).signatures, "the chief exports a loadable model"
    training = json.loads((export / "assets.extra" / "training_summary.json").read_text())
    assert training["epochs_restored"] == restored_epochs and training["epochs_run"] == epochs
    assert not (run_dir / "backup" / "chief").exists(), "a finished training removes its backup"
    print(f"\nkilled worker 1 {killed['at'] - started:.0f} s after start, after epoch(s) "
          f"{done_before} were logged; cluster restarted {second['started'] - killed['at']:.1f} s after the kill; "
          f"resumed at epoch {restored_epochs + 1}; finished {finished - killed['at']:.0f} s after the kill "
          f"({finished - started:.0f} s in all)")


def test_a_failing_worker_is_reported_after_the_restarts(demo_run, tmp_path: Path) -> None:
    job = TrainingJob([str(tmp_path / "missing-*")], [str(tmp_path / "missing-*")], str(tmp_path / "no-transform"),
                      str(tmp_path / "out"), str(tmp_path / "run"),
                      ModuleConfig(demo_run.config, demo_run.prepared.inputs.taxonomy_path).to_custom_config())

    with pytest.raises(WorkerFailed, match=r"training worker [01] exited with \d+ after 1 restart\(s\); end of "):
        run_local_cluster(job, workers=2, timeout_s=300, max_restarts=1)
    status = json.loads((tmp_path / "run" / CLUSTER_STATUS).read_text())
    assert [re.fullmatch(r"worker [01] exited with \d+", a["outcome"]) is not None for a in status["attempts"]] == [True] * 2
    assert len(_attempts(tmp_path / "run" / "worker-0.log")) == 2, "each attempt's log is kept"
