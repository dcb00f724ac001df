"""Data-parallel training on one machine: N worker processes on 127.0.0.1 with TF_CONFIG.

MultiWorkerMirroredStrategy must be configured before TensorFlow starts in a process, so the
Trainer (which runs inside the orchestrator's process) cannot become a worker itself. Instead it
writes a job description, starts `python -m prodcat.trainer.local_cluster JOB INDEX` once per
worker, and waits. Worker 0 is the chief and exports the model; every worker writes a digest of
its final weights, so agreement between workers can be checked.

Synchronous training cannot go on without one of its workers: when a worker dies, its peers fail
in their next gradient exchange (TensorFlow's coordination service notices the missing heartbeats
and aborts their collectives). So the supervisor here stops whatever is left of the cluster and
starts all workers again, on fresh ports; they resume from the training state the chief backed up
(BackupAndRestore in the run's `backup` folder), up to `max_restarts` times. `local_cluster.json`
in the run folder records every attempt (ports, process ids, outcome).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

WORKER_DIGESTS = "worker_digests"
CLUSTER_STATUS = "local_cluster.json"
ATTEMPT_HEADER = "===== prodcat local cluster: attempt"
_LOG = logging.getLogger("prodcat.trainer.local_cluster")


class WorkerFailed(RuntimeError):
    """A training worker exited with an error; the message carries the end of its log."""


@dataclasses.dataclass(frozen=True)
class TrainingJob:
    """Everything a worker needs to train exactly what the Trainer would have trained."""

    train_files: list[str]
    eval_files: list[str]
    transform_output: str
    serving_model_dir: str
    model_run_dir: str
    custom_config: dict

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(dataclasses.asdict(self)), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> TrainingJob:
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def free_ports(count: int) -> list[int]:
    import portpicker

    return [portpicker.pick_unused_port() for _ in range(count)]


def tf_config(ports: list[int], index: int) -> str:
    return json.dumps({
        "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
        "task": {"type": "worker", "index": index},
    })


@dataclasses.dataclass
class _Failure:
    worker: int
    returncode: int | None  # None: still running when the deadline passed
    log: Path

    def describe(self) -> str:
        if self.returncode is None:
            return f"worker {self.worker} was still running at the deadline"
        if self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = f"signal {-self.returncode}"
            return f"worker {self.worker} was killed by {name}"
        return f"worker {self.worker} exited with {self.returncode}"


def run_local_cluster(
    job: TrainingJob, workers: int, timeout_s: float | None = None, max_restarts: int | None = None,
) -> list[dict]:
    """Runs `workers` processes to completion; returns their weight digests (worker order).

    When a worker dies (non-zero exit or killed), the others are stopped and the whole cluster is
    started again, at most `max_restarts` times (default: the job's `training.max_restarts`); the
    workers resume from the last backed-up training state. `timeout_s` bounds all attempts
    together. Raises WorkerFailed with the end of the failed worker's log when it gives up.
    """
    run_dir = Path(job.model_run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    job_path = run_dir / "training_job.json"
    job.save(job_path)
    if max_restarts is None:
        max_restarts = _configured_max_restarts(job)
    deadline = None if timeout_s is None else time.time() + timeout_s
    status = {"workers": workers, "max_restarts": max_restarts, "attempts": []}
    reason = None
    for attempt in range(1, max_restarts + 2):
        procs, record = _start_attempt(job_path, run_dir, workers, attempt, max_restarts + 1, reason)
        status["attempts"].append(record)
        _write_status(run_dir, status)
        try:
            failure = _supervise(procs, deadline)
        finally:
            _stop(procs)
        record.update(ended=time.time(), outcome="ok" if failure is None else failure.describe(),
                      returncodes=[p.returncode for p, _ in procs])
        _write_status(run_dir, status)
        if failure is None:
            return [json.loads((run_dir / WORKER_DIGESTS / f"worker-{i}.json").read_text()) for i in range(workers)]
        reason = failure.describe()
        if failure.returncode is None or attempt > max_restarts:
            break
        _LOG.warning("training attempt %d of %d failed: %s; restarting all %d workers (restart %d of %d), "
                     "resuming from the last backup in %s", attempt, max_restarts + 1, reason, workers,
                     attempt, max_restarts, run_dir / "backup")
    tail = "".join(failure.log.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)[-30:])
    if failure.returncode is None:
        summary = f"training did not finish within {timeout_s:.0f} s"
    else:
        summary = f"training worker {failure.worker} exited with {failure.returncode}"
        if failure.returncode < 0:
            summary += f" ({reason})"
    restarts = len(status["attempts"]) - 1
    raise WorkerFailed(f"{summary} after {restarts} restart(s); end of {failure.log}:\n{tail}")


def _configured_max_restarts(job: TrainingJob) -> int:
    from prodcat.module_config import ModuleConfig

    return ModuleConfig.from_custom_config(job.custom_config).config.training.max_restarts


def _start_attempt(
    job_path: Path, run_dir: Path, workers: int, attempt: int, attempts: int, reason: str | None,
) -> tuple[list[tuple[subprocess.Popen, Path]], dict]:
    """Starts every worker on fresh ports; each log gets a header line per attempt."""
    digests = run_dir / WORKER_DIGESTS
    for index in range(workers):  # a digest left by a failed attempt must not pass for this one's
        (digests / f"worker-{index}.json").unlink(missing_ok=True)
    ports = free_ports(workers)
    header = f"{ATTEMPT_HEADER} {attempt} of at most {attempts}, ports {ports}"
    if reason:
        header += f"; restarted because {reason}"
    procs: list[tuple[subprocess.Popen, Path]] = []
    for index in range(workers):
        log = run_dir / f"worker-{index}.log"
        env = dict(os.environ, TF_CONFIG=tf_config(ports, index))
        with log.open("w" if attempt == 1 else "a", encoding="utf-8") as handle:
            handle.write(f"{header} =====\n")
            handle.flush()
            procs.append((subprocess.Popen(
                [sys.executable, "-m", "prodcat.trainer.local_cluster", str(job_path), str(index)],
                env=env, stdout=handle, stderr=subprocess.STDOUT,
            ), log))
    _LOG.info("training attempt %d: %d workers on ports %s (pids %s)", attempt, workers, ports,
              [p.pid for p, _ in procs])
    record = {"attempt": attempt, "ports": ports, "pids": [p.pid for p, _ in procs], "started": time.time(),
              "restart_reason": reason}
    return procs, record


def _supervise(procs: list[tuple[subprocess.Popen, Path]], deadline: float | None) -> _Failure | None:
    """Waits until every worker has exited 0 (None), one has failed, or the deadline has passed."""
    while True:
        codes = [p.poll() for p, _ in procs]
        failed = [i for i, code in enumerate(codes) if code not in (None, 0)]
        if failed:
            # The worker that was killed is the cause; the others' errors are its consequence.
            first = min(failed, key=lambda i: (codes[i] >= 0, i))
            return _Failure(first, codes[first], procs[first][1])
        if all(code == 0 for code in codes):
            return None
        if deadline is not None and time.time() > deadline:
            running = next(i for i, code in enumerate(codes) if code is None)
            return _Failure(running, None, procs[running][1])
        time.sleep(0.5)


def _stop(procs: list[tuple[subprocess.Popen, Path]]) -> None:
    """Kills the workers still running.

    A survivor has nothing left to save (a backup needs every worker), and it does not answer
    SIGTERM while it is blocked in a collective or in the coordination service's shutdown.
    """
    for p, _ in procs:
        if p.poll() is None:
            p.kill()
    for p, _ in procs:
        p.wait()


def _write_status(run_dir: Path, status: dict) -> None:
    partial = run_dir / f".{CLUSTER_STATUS}.tmp"
    partial.write_text(json.dumps(status, indent=2), encoding="utf-8")
    os.replace(partial, run_dir / CLUSTER_STATUS)


def _main(job_path: str, index: str) -> None:
    logging.basicConfig(level=logging.INFO, format=f"worker {index}: %(message)s")
    from prodcat.trainer.run import train_job

    train_job(TrainingJob.load(Path(job_path)), worker_index=int(index))


if __name__ == "__main__":
    _main(*sys.argv[1:3])
