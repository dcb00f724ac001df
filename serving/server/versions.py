"""Which model version serves: TF Serving's `latest 1` policy over a base path, keeping the last good version."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from tensorflow_serving.apis import get_model_status_pb2

from prodcat.serving.server.errors import error_code, short

log = logging.getLogger("prodcat.serving")
State = get_model_status_pb2.ModelVersionStatus.State


def list_versions(base_path: Path) -> dict[int, Path]:
    """Numbered version directories under a model base path (raises OSError if it is unreadable)."""
    return {int(p.name): p for p in base_path.iterdir() if p.name.isdigit() and p.is_dir()}


def _fingerprint(path: Path) -> tuple:
    try:
        return tuple(sorted((str(f.relative_to(path)), f.stat().st_size, f.stat().st_mtime_ns) for f in path.rglob("*") if f.is_file()))
    except OSError:
        return ()


class VersionManager:
    """TF Serving's `latest 1` policy over a base path, availability-preserving.

    `poll()` serves the newest version that loads: a newer version is loaded next to the serving
    one, swapped in, and only then is the old one unloaded. A version that fails to load is logged
    and not retried until its files change; if the serving version's directory disappears the
    newest remaining version is loaded; if no versions remain (or the base path vanishes) the last
    good version keeps serving.
    """

    def __init__(self, model_name: str, base_path: Path, loader: Callable[[int, Path], Any], poll_seconds: float) -> None:
        self.model_name, self.base_path, self._loader, self.poll_seconds = model_name, base_path, loader, poll_seconds
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._current: Any = None
        self._states: dict[int, tuple[int, grpc.StatusCode, str]] = {}
        self._failed: dict[int, tuple] = {}
        self._last_warning: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def current(self) -> Any:
        """The servable answering requests (None before the first version loaded)."""
        return self._current

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name=f"version-watcher-{self.model_name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        with self._lock:
            current, self._current = self._current, None
        if current is not None:
            current.close()

    def states(self) -> dict[int, tuple[int, grpc.StatusCode, str]]:
        """Every version seen: (ModelVersionStatus.State, status code, error message)."""
        with self._lock:
            return dict(self._states)

    def poll(self) -> None:
        with self._poll_lock:
            self._poll()

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll()
            except Exception:  # the watcher must survive anything
                log.exception("polling %s failed", self.base_path)

    def _warn_once(self, message: str) -> None:
        if message != self._last_warning:
            log.warning("%s", message)
            self._last_warning = message

    def _poll(self) -> None:
        serving = f"; still serving version {self._current.version}" if self._current is not None else ""
        try:
            versions = list_versions(self.base_path)
        except OSError as err:
            self._warn_once(f"cannot list model base path {self.base_path}: {err.strerror or err}{serving}")
            return
        if not versions:
            self._warn_once(f"No versions of servable {self.model_name} found under base path {self.base_path}{serving}")
            return
        self._last_warning = None
        for version in sorted(versions, reverse=True):
            current = self._current
            if current is not None and version == current.version:
                return  # nothing newer loads; keep serving
            path = versions[version]
            fingerprint = _fingerprint(path)
            if self._failed.get(version) == fingerprint:
                continue  # failed before with exactly these files
            if not (path / "saved_model.pb").is_file():
                self._warn_once(f"{path} has no saved_model.pb (yet); not loading version {version}")
                continue
            if self._load(version, path, fingerprint):
                return

    def _load(self, version: int, path: Path, fingerprint: tuple) -> bool:
        self._set_state(version, State.LOADING)
        log.info("Loading servable {name: %s version: %d} from %s", self.model_name, version, path)
        started = time.monotonic()
        try:
            servable = self._loader(version, path)
        except Exception as err:
            self._failed[version] = fingerprint
            message = short(f"{type(err).__name__}: {getattr(err, 'message', None) or err}", 1000)
            self._set_state(version, State.END, error_code(err), message)
            current = self._current
            log.error("Loading servable {name: %s version: %d} failed: %s; %s", self.model_name, version, message,
                      f"still serving version {current.version}" if current is not None else "no version is being served")
            return False
        with self._lock:
            old, self._current = self._current, servable
            self._states[version] = (State.AVAILABLE, grpc.StatusCode.OK, "")
        self._failed.pop(version, None)
        log.info("Successfully loaded servable version {name: %s version: %d} in %.1fs", self.model_name, version, time.monotonic() - started)
        if old is not None:
            self._set_state(old.version, State.UNLOADING)
            old.close()
            self._set_state(old.version, State.END)
            log.info("Unloaded servable version {name: %s version: %d}", self.model_name, old.version)
            del old
            gc.collect()
        return True

    def _set_state(self, version: int, state: int, code: grpc.StatusCode = grpc.StatusCode.OK, message: str = "") -> None:
        with self._lock:
            self._states[version] = (state, code, message)
