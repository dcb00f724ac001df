"""Beam's portability framework on this machine: a local job service and a pool of SDK worker processes.

Dataflow, Flink and Spark all run a Beam pipeline the same way: the pipeline is sent as a Runner
API proto to a job service, and its user code runs in separate SDK worker processes that unpickle
it and import its modules anew. The in-process DirectRunner hides the failures of that step
(pickling, imports inside workers, `__main__` definitions); `beam.runner: portable` runs the data
components' Beam stages through Beam's PortableRunner against Beam's own local job service
(`local_job_service_main`) with an EXTERNAL environment served by Beam's worker pool
(`worker_pool_main`), which starts one SDK worker process per worker the job asks for.

Beam's Python job service runs each job on one SDK worker process: its FnApiRunner reads neither
`--sdk_worker_parallelism` (Flink's and Spark's job servers do) nor `--direct_num_workers`. This
runner proves the pipeline on the portability framework; it does not make it faster.

The services live exactly as long as the run: each is started in its own process group, so the
SDK workers the pool forks are killed with it on exit, also when the run fails, and under
`service_guard`, which kills the group when the run itself is killed (SIGKILL, out of memory).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tfx.dsl.placeholder import placeholder as ph

from prodcat.config import BeamConfig

JOB_ENDPOINT_ENV = "PRODCAT_BEAM_JOB_ENDPOINT"
WORKER_POOL_ENV = "PRODCAT_BEAM_WORKER_POOL"
JOB_SERVICE = "apache_beam.runners.portability.local_job_service_main"
WORKER_POOL = "apache_beam.runners.worker.worker_pool_main"
SERVICE_GUARD = "prodcat.pipeline.service_guard"


class PortableServiceError(RuntimeError):
    """A Beam service did not come up (its log's last lines are in the message)."""


@dataclasses.dataclass(frozen=True)
class PortableServices:
    """Where the running services listen, and the process ids of their process groups."""

    job_endpoint: str   # localhost:PORT of the job service
    worker_pool: str    # localhost:PORT of the worker pool (the EXTERNAL environment's config)
    pids: tuple[int, ...]


def pipeline_args(beam: BeamConfig) -> list[str | ph.Placeholder]:
    """`beam.args()`, plus for the portable runner the services' addresses as placeholders of environment variables.

    TFX resolves them when each component starts, while `services_for` runs; the pipeline it
    compiles, and with it TFX's cache key (which hashes each component's Beam args), stays the same
    from run to run although the services' ports do not.
    """
    if beam.runner == "direct":
        return list(beam.args())
    return [*beam.args(), "--job_endpoint=" + ph.environment_variable(JOB_ENDPOINT_ENV),
            "--environment_config=" + ph.environment_variable(WORKER_POOL_ENV)]


@contextlib.contextmanager
def services_for(beam: BeamConfig) -> Iterator[PortableServices | None]:
    """Runs the services `beam.runner` needs (none for the DirectRunner) and exports their addresses."""
    if beam.runner == "direct":
        yield None
        return
    with local_services() as services:
        saved = {key: os.environ.get(key) for key in (JOB_ENDPOINT_ENV, WORKER_POOL_ENV)}
        os.environ[JOB_ENDPOINT_ENV], os.environ[WORKER_POOL_ENV] = services.job_endpoint, services.worker_pool
        try:
            yield services
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@contextlib.contextmanager
def local_services(start_timeout_s: float = 120.0) -> Iterator[PortableServices]:
    """Starts Beam's job service and worker pool, yields their addresses, and kills both on exit.

    The pool starts SDK workers as `python -c ...`: the venv's bin directory goes first on their
    PATH so the workers run this interpreter, with prodcat and its pinned libraries.
    """
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    processes: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="prodcat-beam-") as workdir:
        work = Path(workdir)
        try:
            port_file = work / "job_service.port"
            job = _start([JOB_SERVICE, "--port", "0", "--port_file", str(port_file),
                          "--staging_dir", str(work / "staging")], work / "job_service.log", env)
            processes.append(job)
            pool_port = free_port()
            pool = _start([WORKER_POOL, f"--service_port={pool_port}"], work / "worker_pool.log", env)
            processes.append(pool)
            deadline = time.monotonic() + start_timeout_s
            job_port = _wait_for_port_file(job, port_file, work / "job_service.log", deadline)
            _wait_for_listener(pool, pool_port, work / "worker_pool.log", deadline)
            yield PortableServices(f"localhost:{job_port}", f"localhost:{pool_port}", tuple(p.pid for p in processes))
        finally:
            for process in reversed(processes):
                stop_group(process)


def free_port() -> int:
    """A TCP port nobody listens on now (the worker pool needs one given; Beam's own tests do the same)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _start(module_args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    """`python -m MODULE ARGS` in its own process group, under `service_guard`: its stdin is a pipe only
    this process writes to, so the group dies with this process even when it is killed outright."""
    handle = open(log, "wb")  # noqa: SIM115 (the child keeps it; closed here once it is handed over)
    try:
        return subprocess.Popen([sys.executable, "-m", SERVICE_GUARD, *module_args], stdout=handle,
                                stderr=subprocess.STDOUT, stdin=subprocess.PIPE, env=env, start_new_session=True)
    finally:
        handle.close()


def _wait_for_port_file(process: subprocess.Popen, port_file: Path, log: Path, deadline: float) -> int:
    while not port_file.exists():
        _check_alive(process, log, deadline)
        time.sleep(0.1)
    return int(port_file.read_text(encoding="utf-8"))


def _wait_for_listener(process: subprocess.Popen, port: int, log: Path, deadline: float) -> None:
    while True:
        _check_alive(process, log, deadline)
        with contextlib.suppress(OSError), socket.create_connection(("localhost", port), timeout=1.0):
            return
        time.sleep(0.1)


def _check_alive(process: subprocess.Popen, log: Path, deadline: float) -> None:
    if process.poll() is not None or time.monotonic() > deadline:
        state = f"exited with code {process.returncode}" if process.returncode is not None else "did not start in time"
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-20:]
        raise PortableServiceError(f"{process.args[3]} {state}:\n" + "\n".join(tail))


def stop_group(process: subprocess.Popen, grace_s: float = 5.0) -> None:
    """SIGTERM to the process's whole group (the service and the workers it forked), SIGKILL after `grace_s`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        if sig == signal.SIGTERM:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=grace_s)
    process.wait()
    if process.stdin is not None:
        process.stdin.close()
