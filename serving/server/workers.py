"""`prodcat serve --workers N`: N server processes on the same ports, so serving uses every core.

One Python process cannot keep several cores busy with small requests: the interpreter's lock
serialises the work around each model call (decoding, batching, encoding), so one server stops well
short of what `prodcat predict` reaches on the same cores (BENCHMARKS.md). Each worker is a whole
`ModelServer` (its own model copy, batcher and version watcher) and the kernel spreads incoming
connections over them (SO_REUSEPORT, which gRPC honours; the REST server sets it too). A client's
connection stays with one worker, so the spreading is per connection, as behind any load balancer.

The parent only starts, watches and stops the workers:
- it binds the ports first (port 0: the kernel picks them) and holds them until every worker
  serves, so a taken port fails at once and every worker gets the same ports;
- a worker that cannot start (e.g. no model yet loads) stops them all with its error; one that dies
  later is restarted, after a pause that grows while it keeps dying;
- SIGINT/SIGTERM stop the workers cleanly; a worker whose parent is gone stops too (its lifeline
  pipe closes);
- workers count into one prometheus_client multiprocess directory, so
  `/monitoring/prometheus/metrics` on any worker reports all of them.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from prodcat.serving.server.metrics import MULTIPROCESS_ENV
from prodcat.serving.server.options import ServerOptions
from prodcat.serving.tf_threads import available_cpus

log = logging.getLogger("prodcat.serving")

# In a worker's environment: "<ready fd>,<lifeline fd>", the pipes it shares with its parent.
LINK_ENV = "PRODCAT_SERVE_WORKER_LINK"
_MAX_RESTART_PAUSE_S = 30.0


class WorkerStartError(RuntimeError):
    """A worker exited before serving; its own error is in the log above."""


def worker_count(requested: int) -> int:
    """`--workers` as a number of processes (0: one per core this process may use)."""
    return requested or available_cpus()


def options_to_argv(options: ServerOptions) -> list[str]:
    """The flags that rebuild `options` in a worker (`build_arg_parser` parses them back)."""
    argv = []
    for field in dataclasses.fields(options):
        value = getattr(options, field.name)
        if field.name == "version_labels":
            argv += [f"--version_label={label}={version}" for label, version in value.items()]
        elif isinstance(value, bool):
            argv.append(f"--{field.name}={str(value).lower()}")
        else:
            argv.append(f"--{field.name}={value}")
    return argv


def _reserve_port(host: str, port: int) -> socket.socket:
    """A bound, not listening, SO_REUSEPORT socket holding `port` (0: a free one) for the workers.

    A plain bind first: it fails if anything, even another reuse-port group, holds the port, so
    workers never silently share a port with another server.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if port:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError as err:
                raise OSError(f"cannot bind {host}:{port}: {err.strerror}") from None
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        holder.bind((host, port))
    except OSError as err:
        holder.close()
        raise OSError(f"cannot bind {host}:{port}: {err.strerror}") from None
    return holder


class _Worker:
    """One worker process and the two pipes to it: it writes one line when it serves, and stops when its lifeline closes."""

    def __init__(self, index: int, command: list[str], env: dict[str, str]) -> None:
        self.index = index
        ready_r, ready_w = os.pipe()
        lifeline_r, self._lifeline_w = os.pipe()
        env = dict(env, **{LINK_ENV: f"{ready_w},{lifeline_r}"})
        self.proc = subprocess.Popen(command, env=env, pass_fds=(ready_w, lifeline_r), stdin=subprocess.DEVNULL)
        os.close(ready_w)
        os.close(lifeline_r)
        self._ready_r = ready_r
        self.ready = False
        self.started = time.monotonic()

    def poll_ready(self) -> bool:
        """Whether the worker has said it serves (reads its ready line without blocking)."""
        if not self.ready and select.select([self._ready_r], [], [], 0)[0]:
            self.ready = bool(os.read(self._ready_r, 64))
        return self.ready

    def exited(self) -> int | None:
        return self.proc.poll()

    def stop(self, timeout_s: float) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("worker %d (pid %d) did not stop in %.0f s; killing it", self.index, self.proc.pid, timeout_s)
                self.proc.kill()
                self.proc.wait()
        for fd in (self._ready_r, self._lifeline_w):
            try:
                os.close(fd)
            except OSError:
                pass


class WorkerPool:
    """The parent of `--workers N` servers: `start()` returns once all serve, `wait()` watches them until a signal."""

    def __init__(self, options: ServerOptions, log_level: str = "INFO", startup_timeout_s: float = 600.0) -> None:
        self.options = options
        self.log_level = log_level
        self.n = worker_count(options.workers)
        self.startup_timeout_s = startup_timeout_s
        self.port: int | None = None
        self.rest_port: int | None = None
        self.workers: list[_Worker] = []
        self._metrics_dir = ""
        self._command: list[str] = []
        self._env: dict[str, str] = {}
        self._pause = [1.0] * self.n
        self._stop = threading.Event()

    def start(self) -> WorkerPool:
        """Binds the ports, starts the workers and waits until each serves; WorkerStartError if one cannot."""
        o = self.options
        holders = [_reserve_port(o.host, o.port)]
        try:
            if o.rest_api_port:
                holders.append(_reserve_port(o.host, o.rest_api_port))
            self.port = holders[0].getsockname()[1]
            self.rest_port = holders[1].getsockname()[1] if o.rest_api_port else None
            self._metrics_dir = tempfile.mkdtemp(prefix="prodcat-serve-metrics-")
            self._command = self._worker_command()
            self._env = dict(os.environ, **{MULTIPROCESS_ENV: self._metrics_dir})
            self.workers = [_Worker(i, self._command, self._env) for i in range(self.n)]
            self._wait_all_ready()
        except BaseException:
            self.stop()
            raise
        finally:
            for holder in holders:
                holder.close()
        log.info("%d workers serve at %s:%d (pids %s)", self.n, o.host, self.port, " ".join(str(w.proc.pid) for w in self.workers))
        return self

    def _worker_command(self) -> list[str]:
        argv = options_to_argv(dataclasses.replace(self.options, workers=1, port=self.port, rest_api_port=self.rest_port or 0))
        if self.options.tensorflow_intra_op_parallelism == 0:  # the cores shared out, not each worker's ops on all of them
            argv.append(f"--tensorflow_intra_op_parallelism={max(1, available_cpus() // self.n)}")
        return [sys.executable, "-m", "prodcat.serving.server", *argv, f"--log_level={self.log_level}"]

    def _wait_all_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while not all(w.poll_ready() for w in self.workers):
            for w in self.workers:
                if not w.ready and w.exited() is not None:
                    raise WorkerStartError(f"worker {w.index} exited with status {w.exited()} before serving (its error is above)")
            if time.monotonic() > deadline:
                raise WorkerStartError(f"the workers did not all serve within {self.startup_timeout_s:.0f} s")
            time.sleep(0.1)

    def watch_once(self) -> None:
        """Restarts each worker that died (a growing pause while one keeps dying before it serves)."""
        for i, w in enumerate(self.workers):
            if w.poll_ready() and time.monotonic() - w.started > _MAX_RESTART_PAUSE_S:
                self._pause[i] = 1.0
            status = w.exited()
            if status is None or self._stop.is_set():
                continue
            pause = self._pause[i]
            log.warning("worker %d (pid %d) exited with status %d; restarting it in %.0f s", i, w.proc.pid, status, pause)
            w.stop(0)
            if self._stop.wait(pause):
                return
            self._pause[i] = min(_MAX_RESTART_PAUSE_S, pause * 2)
            self.workers[i] = _Worker(i, self._command, self._env)

    def wait(self) -> None:
        """Watches the workers until SIGINT/SIGTERM (when called from the main thread), then stops them."""
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda *_: self._stop.set())
        try:
            while not self._stop.wait(0.5):
                self.watch_once()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            log.info("Shutting down %d workers", len(self.workers))
            self.stop()

    def stop(self, grace_s: float = 30.0) -> None:
        self._stop.set()
        for w in self.workers:
            if w.proc.poll() is None:
                w.proc.send_signal(signal.SIGTERM)
        for w in self.workers:
            w.stop(grace_s)
        if self._metrics_dir:
            shutil.rmtree(self._metrics_dir, ignore_errors=True)

    def __enter__(self) -> WorkerPool:
        return self.start() if not self.workers else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ParentLink:
    """A worker's side of the pipes: says when it serves, and stops the worker when the parent is gone."""

    def __init__(self, ready_fd: int, lifeline_fd: int) -> None:
        self._ready_fd, self._lifeline_fd = ready_fd, lifeline_fd

    @classmethod
    def from_environment(cls) -> ParentLink | None:
        """The link a WorkerPool gave this process, or None for a server started on its own."""
        value = os.environ.pop(LINK_ENV, "")
        if not value:
            return None
        ready_fd, lifeline_fd = (int(fd) for fd in value.split(","))
        return cls(ready_fd, lifeline_fd)

    def serving(self) -> None:
        """Tells the parent this worker serves, and starts watching the lifeline."""
        os.write(self._ready_fd, b"ready\n")
        os.close(self._ready_fd)
        threading.Thread(target=self._watch, name="parent-lifeline", daemon=True).start()

    def _watch(self) -> None:
        while os.read(self._lifeline_fd, 64):  # the parent never writes: this returns b"" when it is gone
            pass
        log.warning("the parent process is gone; stopping")
        os.kill(os.getpid(), signal.SIGTERM)

