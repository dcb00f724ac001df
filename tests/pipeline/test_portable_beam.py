"""The portable runner's services: started for a run, addressed by the Beam args, gone after it, also on errors."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from apache_beam.portability.api import beam_fn_api_pb2, beam_fn_api_pb2_grpc, beam_job_api_pb2, beam_job_api_pb2_grpc
from apache_beam.portability.api import endpoints_pb2

from prodcat.config import BeamConfig, Config
from prodcat.pipeline import portable_beam


def _children(pid: int) -> list[int]:
    """The live processes whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_worker(worker_pool: str) -> None:
    """Asks the pool for an SDK worker the way the job service does (its control endpoint is never answered)."""
    with grpc.insecure_channel(worker_pool) as channel:
        response = beam_fn_api_pb2_grpc.BeamFnExternalWorkerPoolStub(channel).StartWorker(
            beam_fn_api_pb2.StartWorkerRequest(
                worker_id="test-worker", control_endpoint=endpoints_pb2.ApiServiceDescriptor(url="localhost:1")),
            timeout=30)
    assert not response.error, response.error


def test_services_answer_run_workers_with_the_venv_python_and_leave_nothing_behind_on_an_error() -> None:
    pids: list[int] = []
    with pytest.raises(RuntimeError, match="the run failed"):
        with portable_beam.services_for(BeamConfig(runner="portable")) as services:
            assert services is not None
            assert os.environ[portable_beam.JOB_ENDPOINT_ENV] == services.job_endpoint
            assert os.environ[portable_beam.WORKER_POOL_ENV] == services.worker_pool
            with grpc.insecure_channel(services.job_endpoint) as channel:  # Beam's own readiness probe
                with pytest.raises(grpc.RpcError) as unknown_job:
                    beam_job_api_pb2_grpc.JobServiceStub(channel).GetState(
                        beam_job_api_pb2.GetJobStateRequest(job_id="[fake]"), timeout=30)
                assert unknown_job.value.code() != grpc.StatusCode.UNAVAILABLE, "the job service answers"
            _start_worker(services.worker_pool)
            pool = services.pids[1]
            deadline = time.monotonic() + 30
            while not (workers := _children(pool)) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert workers, "the pool started an SDK worker process"
            environ = Path(f"/proc/{workers[0]}/environ").read_bytes().split(b"\0")
            path = next(item for item in environ if item.startswith(b"PATH=")).decode()[5:]
            assert path.split(os.pathsep)[0] == os.path.dirname(sys.executable), "workers find the venv's python first"
            pids = [*services.pids, *workers]
            assert all(_alive(pid) for pid in pids)
            raise RuntimeError("the run failed")
    assert pids and not [pid for pid in pids if _alive(pid)], "services and SDK workers are killed"
    assert portable_beam.JOB_ENDPOINT_ENV not in os.environ and portable_beam.WORKER_POOL_ENV not in os.environ


# A run that starts the services, asks the pool for an SDK worker, prints every pid and waits to be killed.
_KILLED_RUN = """
import sys, time
sys.path.insert(0, sys.argv[1])
from test_portable_beam import _children, _start_worker
from prodcat.pipeline import portable_beam
with portable_beam.local_services() as services:
    _start_worker(services.worker_pool)
    while not (workers := _children(services.pids[1])):
        time.sleep(0.1)
    print(*services.pids, *workers, flush=True)
    time.sleep(600)
"""


def test_services_and_workers_die_with_a_run_that_is_killed_outright() -> None:
    run = subprocess.Popen([sys.executable, "-c", _KILLED_RUN, str(Path(__file__).parent)], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(pid) for pid in run.stdout.readline().split()]
        assert len(pids) >= 3 and all(_alive(pid) for pid in pids), "job service, worker pool and an SDK worker run"
        run.kill()  # SIGKILL: the run cleans up nothing itself
        run.wait()
        deadline = time.monotonic() + 30
        while [pid for pid in pids if _alive(pid)] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in pids if _alive(pid)], "the guard killed each service's process group"
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()


def test_a_service_that_cannot_start_is_reported_and_the_other_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(portable_beam, "WORKER_POOL", "apache_beam.no_such_worker_pool")
    before = set(_children(os.getpid()))
    with pytest.raises(portable_beam.PortableServiceError, match="no_such_worker_pool exited with code 1"):
        with portable_beam.local_services():
            pytest.fail("the services must not be yielded")
    assert not set(_children(os.getpid())) - before, "the job service was stopped too"


def test_the_direct_runner_starts_nothing_and_keeps_its_args() -> None:
    beam = BeamConfig(direct_num_workers=2, direct_running_mode="multi_processing", extra_args=("--foo=1",))
    with portable_beam.services_for(beam) as services:
        assert services is None
        assert portable_beam.JOB_ENDPOINT_ENV not in os.environ
    assert portable_beam.pipeline_args(beam) == beam.args() == [
        "--direct_running_mode=multi_processing", "--direct_num_workers=2", "--foo=1"]


def test_portable_args_name_the_runner_and_read_the_addresses_when_a_component_starts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tfx.dsl.compiler import placeholder_utils
    from tfx.orchestration.portable import data_types

    beam = Config.model_validate({"beam": {"runner": "portable", "extra_args": ["--foo=1"]}}).beam
    args = portable_beam.pipeline_args(beam)
    assert args[:2] == ["--runner=PortableRunner", "--environment_type=EXTERNAL"] and "--foo=1" in args
    assert not any(isinstance(arg, str) and arg.startswith("--direct_") for arg in args)
    monkeypatch.setenv(portable_beam.JOB_ENDPOINT_ENV, "localhost:1234")
    monkeypatch.setenv(portable_beam.WORKER_POOL_ENV, "localhost:5678")
    resolved = [arg if isinstance(arg, str) else placeholder_utils.resolve_placeholder_expression(
        arg.encode(), placeholder_utils.ResolutionContext(exec_info=data_types.ExecutionInfo())) for arg in args]
    assert "--job_endpoint=localhost:1234" in resolved and "--environment_config=localhost:5678" in resolved


def test_a_compiled_cluster_pipeline_ignores_the_local_runner_setting() -> None:
    from prodcat.kubeflow.runner import cluster_beam

    config = Config.model_validate({"beam": {"runner": "portable"},
                                    "cluster": {"beam_runner": "FlinkRunner", "beam_args": ["--job_endpoint=flink:8099"]}})
    args = portable_beam.pipeline_args(cluster_beam(config))
    assert all(isinstance(arg, str) for arg in args), "no placeholder of the local services' addresses"
    assert "--runner=FlinkRunner" in args and "--job_endpoint=flink:8099" in args and "--runner=PortableRunner" not in args
