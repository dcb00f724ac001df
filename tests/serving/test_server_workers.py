"""`prodcat serve --workers N`: N server processes on one port, started, watched and stopped by a parent.

The fast tests drive the parent (`WorkerPool`) with stand-in workers that speak its pipe protocol
and nothing else; the slow one serves the pushed demo model with two real workers.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import grpc
import portpicker
import pytest

from prodcat.readers import read_products
from prodcat.serving.client import PredictionClient
from prodcat.serving.predict import Predictor
from prodcat.serving.server import ServerOptions, WorkerPool, WorkerStartError, build_arg_parser, main
from prodcat.serving.server.workers import LINK_ENV, options_to_argv, worker_count
from prodcat.serving.tf_threads import available_cpus

# A stand-in worker: says it serves ("serve") or exits at once ("fail"), and stops when its lifeline closes.
STAND_IN = f"""
import os, signal, sys
ready, lifeline = (int(fd) for fd in os.environ["{LINK_ENV}"].split(","))
if sys.argv[1] == "fail":
    sys.exit(3)
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
os.write(ready, b"ready\\n")
while os.read(lifeline, 64):
    pass
"""


def stand_in_pool(options: ServerOptions, mode: str = "serve") -> WorkerPool:
    class StandInPool(WorkerPool):
        def _worker_command(self) -> list[str]:
            return [sys.executable, "-c", STAND_IN, mode]

    return StandInPool(options, startup_timeout_s=60)


def wait_for(condition: Callable[[], bool], timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) is gone too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_every_option_reaches_the_workers_unchanged() -> None:
    options = ServerOptions(model_base_path="/models/prodcat", port=8600, rest_api_port=8601, enable_batching=False,
                            max_batch_size=8, version_labels={"stable": 17, "canary": 18}, workers=3,
                            ssl_config_file="/etc/ssl.txt", file_system_poll_wait_seconds=0.5)
    assert ServerOptions.from_args(build_arg_parser().parse_args(options_to_argv(options))) == options
    assert worker_count(0) == available_cpus() and worker_count(3) == 3


def test_a_taken_port_fails_at_once_naming_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot bind 127.0.0.1:{port}"):
            stand_in_pool(ServerOptions(model_base_path=str(tmp_path), port=port, workers=2)).start()
        assert main([f"--model_base_path={tmp_path}", f"--port={port}", "--workers=2"]) == 2
    assert f"cannot bind 127.0.0.1:{port}: Address already in use" in caplog.messages


def test_the_parent_restarts_a_dead_worker_and_stops_them_all() -> None:
    pool = stand_in_pool(ServerOptions(model_base_path="/none", port=0, rest_api_port=0, workers=2)).start()
    try:
        assert pool.port and len(pool.workers) == 2 and all(w.ready for w in pool.workers)
        first = pool.workers[0].proc.pid
        os.kill(first, signal.SIGKILL)
        assert wait_for(lambda: pool.workers[0].exited() is not None)
        pool.watch_once()  # notices, pauses a second, starts a new one
        assert pool.workers[0].proc.pid != first
        assert wait_for(pool.workers[0].poll_ready)
        pids = [w.proc.pid for w in pool.workers]
    finally:
        pool.stop()
    assert all(gone(pid) for pid in pids)


def test_a_worker_that_cannot_start_stops_the_pool_with_an_error() -> None:
    pool = stand_in_pool(ServerOptions(model_base_path="/none", port=0, workers=2), mode="fail")
    with pytest.raises(WorkerStartError, match="exited with status 3 before serving"):
        pool.start()
    assert all(w.exited() is not None for w in pool.workers)


def _prometheus_requests(rest_port: int) -> float:
    """predict requests answered OK, from /monitoring/prometheus/metrics on a fresh connection (any worker)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{rest_port}/monitoring/prometheus/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(float(value) for value in re.findall(
        r'^prodcat_serving_request_count_total\{[^}]*api="predict"[^}]*code="OK"[^}]*\} (\S+)$', text, re.MULTILINE))


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.slow
def test_two_workers_share_the_port_answer_correctly_count_together_and_die_with_their_parent(demo_run) -> None:
    products = read_products(demo_run.products_path)[:48]
    expected = Predictor(demo_run.serving_base).predict(products)
    port, rest = portpicker.pick_unused_port(), portpicker.pick_unused_port()
    parent = subprocess.Popen(
        [sys.executable, "-m", "prodcat.serving.server", f"--model_base_path={demo_run.serving_base}", f"--port={port}",
         f"--rest_api_port={rest}", "--workers=2"],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(parent.stdout), daemon=True).start()
    workers: list[int] = []
    try:
        assert wait_for(lambda: parent.poll() is not None or any("2 workers serve" in line for line in lines), 300)
        assert parent.poll() is None, "".join(lines)
        workers = [int(pid) for pid in subprocess.run(["pgrep", "-P", str(parent.pid)], capture_output=True,
                                                      text=True).stdout.split()]
        assert len(workers) == 2
        cpu_before = [_cpu_seconds(pid) for pid in workers]

        def both_worked() -> bool:
            return all(after - before > 0.05 for before, after in zip(cpu_before, map(_cpu_seconds, workers)))

        # Rounds of 12 clients, each its own connection: the kernel spreads connections, not requests,
        # over the workers, by a hash of each connection's ports, so one round may all land on one worker.
        sent = 0
        for _ in range(6):
            for i in range(12):
                with grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
                    got = PredictionClient(f"127.0.0.1:{port}", channel=channel).predict(products[4 * i:4 * i + 4])
                assert [(g.id, g.category_id) for g in got] == [(w.id, w.category_id) for w in expected[4 * i:4 * i + 4]]
                sent += 1
            if both_worked():
                break
        assert both_worked(), f"a worker answered no request of {sent}"
        assert {_prometheus_requests(rest) for _ in range(6)} == {float(sent)}  # whichever worker answers counts both
        parent.kill()  # SIGKILL: no chance to stop its workers, which notice on their own
        assert wait_for(lambda: all(gone(pid) for pid in workers), 60)
    finally:
        if parent.poll() is None:
            parent.kill()
        parent.wait()
        for pid in workers:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)

