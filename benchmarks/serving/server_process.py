"""`prodcat serve` in a child process, as the benchmarks start it: free ports, readiness, a clean stop.

The server runs in its own process so its CPU and RSS can be read apart from the load
generator's and the benchmark's, and so it is exactly what `prodcat serve` runs. Its readiness is
a version AVAILABLE over REST and every worker listening; anything less would time start-up
into the first phase.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from .process_figures import ProcessFigures

MODEL_NAME = "prodcat"
SERVER_MODULE = "prodcat.serving.server"  # `prodcat serve`
REPLAY_MODULE = "prodcat.benchmarks.replay_server"  # `prodcat serve` with model calls replayed (--replay-model)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` now (another process may still take it before the server binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _workers_in(server_args: Sequence[str]) -> int:
    """Server processes the flags ask for (`--workers`; 0 is one per core)."""
    from prodcat.serving.server import ServerOptions, build_arg_parser
    from prodcat.serving.server.workers import worker_count

    args = build_arg_parser().parse_known_args(["--model_base_path=.", *server_args])[0]
    return worker_count(ServerOptions.from_args(args).workers)


class ServerProcess(ProcessFigures):
    """`python -m prodcat.serving.server` in a child process, with gRPC and REST on free ports.

    Its output goes to `log_path` (a temporary file by default). `start()` returns once a
    version is AVAILABLE; `stop()` sends SIGTERM (then SIGKILL) to this one process.
    """

    def __init__(
        self, model_base_path: str | os.PathLike, extra_args: Sequence[str] = (), *, log_path: str | os.PathLike | None = None,
        startup_timeout_s: float = 600.0, model_name: str = MODEL_NAME, module: str = SERVER_MODULE,
    ) -> None:
        self.module = module  # benchmarks.replay_server: the same server without model calls
        self.model_base_path = str(Path(model_base_path).resolve())
        self.extra_args, self.model_name, self.startup_timeout_s = list(extra_args), model_name, startup_timeout_s
        self.workers = _workers_in(self.extra_args)
        self.log_path = Path(log_path) if log_path else None
        self.proc: subprocess.Popen | None = None
        self.port = self.rest_port = 0
        self.startup_s = 0.0
        self.version: int | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def command(self) -> list[str]:
        return [sys.executable, "-m", self.module, f"--model_base_path={self.model_base_path}",
                f"--model_name={self.model_name}", f"--port={self.port}", f"--rest_api_port={self.rest_port}",
                "--log_level=WARNING", *self.extra_args]

    def start(self) -> ServerProcess:
        import tempfile

        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="prodcat-serve-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        last_error = ""
        for _ in range(3):  # a port picked free may be taken by the time the server binds it
            self.port, self.rest_port = free_port(), free_port()
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
            started = time.monotonic()
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
            try:
                self._wait_ready()
                self.startup_s = time.monotonic() - started
                return self
            except _ServerExited as err:
                last_error = str(err)
                if "cannot bind" not in last_error:
                    break
        raise RuntimeError(f"prodcat serve did not start: {last_error}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise _ServerExited(f"exited with status {self.proc.returncode}; log {self.log_path}:\n{self.log_tail()}")
            status = self.status()
            available = [s for s in status if s.get("state") == "AVAILABLE"]
            if available and self._listening() >= self.workers:
                self.version = int(available[0]["version"])
                return
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"prodcat serve was not ready after {self.startup_timeout_s:.0f} s; log {self.log_path}:\n{self.log_tail()}")

    def _listening(self) -> int:
        """How many of the server's processes listen on its gRPC port (with `--workers`, the workers that serve)."""
        import psutil

        listening = 0
        for pid in self._pids():
            try:
                connections = psutil.Process(pid).net_connections(kind="tcp")
            except psutil.Error:
                continue
            listening += any(c.status == psutil.CONN_LISTEN and c.laddr.port == self.port for c in connections)
        return listening

    def status(self) -> list[dict]:
        """GetModelStatus over REST ([] if the server does not answer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.rest_port}/v1/models/{self.model_name}", timeout=5) as r:
                return json.loads(r.read()).get("model_version_status", [])
        except (OSError, ValueError, urllib.error.URLError):
            return []

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def available(self) -> bool:
        return self.alive() and any(s.get("state") == "AVAILABLE" for s in self.status())

    def metrics(self) -> dict[str, float]:
        """The server's Prometheus counters, summed over labels, plus `requests_<CODE>` per status code."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.rest_port}/monitoring/prometheus/metrics", timeout=5) as r:
                text = r.read().decode("utf-8")
        except (OSError, urllib.error.URLError):
            return {}
        out: dict[str, float] = {}
        for line in text.splitlines():
            match = re.match(r"^prodcat_serving_(\w+?)(?:_total)?(\{[^}]*\})?\s+(\S+)$", line)
            if not match:
                continue
            name, labels, value = match.groups()
            out[name] = out.get(name, 0.0) + float(value)
            if name == "request_count" and labels:
                code = re.search(r'code="(\w+)"', labels)
                if code:
                    key = f"requests_{code.group(1)}"
                    out[key] = out.get(key, 0.0) + float(value)
        return out

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(Path(self.log_path).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def __enter__(self) -> ServerProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _ServerExited(RuntimeError):
    """The server process ended before it was ready (e.g. its port was taken: `start()` retries)."""


