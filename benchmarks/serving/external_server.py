"""A server the benchmark did not start (`--target`), driven as `prodcat serve` is.

So the C++ `tensorflow_model_server` (or any TF Serving-compatible server) can be measured on the
same machine, with the same load and beside the same `prodcat predict` reference.
"""

from __future__ import annotations

import time
from pathlib import Path

from .process_figures import ProcessFigures
from .server_process import MODEL_NAME


class ExternalServer(ProcessFigures):
    """A TF Serving-compatible server already running at `target` (e.g. `tensorflow_model_server`).

    The benchmark drives it as it drives `prodcat serve`, so the C++ server's figures can be set
    beside `prodcat predict` on the same machine. With `pid` (a process on this machine) its RSS
    and CPU are read from /proc; without, they are NaN. Its batching counters are not read (TF
    Serving names its metrics differently), so requests per batch are NaN.
    """

    def __init__(self, target: str, model_name: str = MODEL_NAME, pid: int | None = None, startup_timeout_s: float = 60.0) -> None:
        self.target, self.model_name, self._pid = target, model_name, pid
        self.startup_timeout_s, self.startup_s = startup_timeout_s, 0.0
        self.version: int | None = None

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def command(self) -> list[str]:
        return ["(external)", self.target, f"model {self.model_name}"] + ([f"pid {self._pid}"] if self._pid else [])

    def start(self) -> ExternalServer:
        """Waits until the model has an AVAILABLE version (GetModelStatus over gRPC)."""
        from prodcat.serving.client import PredictionClient, PredictionError

        if self._pid is not None and not Path(f"/proc/{self._pid}").exists():
            raise RuntimeError(f"--server-pid {self._pid}: no such process on this machine")
        deadline, last = time.monotonic() + self.startup_timeout_s, ""
        with PredictionClient(self.target, self.model_name, timeout=10) as client:
            while time.monotonic() < deadline:
                try:
                    available = [s for s in client.model_status() if s.state == "AVAILABLE"]
                except PredictionError as err:
                    available, last = [], str(err)
                if available:
                    self.version = max(s.version for s in available)
                    return self
                time.sleep(0.5)
        raise RuntimeError(f"no AVAILABLE version of model {self.model_name!r} at {self.target} after "
                           f"{self.startup_timeout_s:.0f} s{': ' + last if last else ''}")

    def metrics(self) -> dict[str, float]:
        return {}

    def __enter__(self) -> ExternalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        pass  # not ours to stop

