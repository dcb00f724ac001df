"""`ModelServer`: the model versions, the gRPC and REST front ends, and `serve` that runs them."""

from __future__ import annotations

import http.server
import inspect
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from prodcat.serving.server.errors import ServingError, invalid, short
from prodcat.serving.server.grpc_api import start_grpc_server
from prodcat.serving.server.metrics import Stats
from prodcat.serving.server.options import ServerOptions
from prodcat.serving.server.rest import start_rest_server
from prodcat.serving.server.servable import Servable
from prodcat.serving.server.tls import SSLSettings, checked_ssl_settings
from prodcat.serving.server.versions import VersionManager
from prodcat.serving.server.workers import WorkerPool
from prodcat.serving.tf_threads import configure_tensorflow_threads

log = logging.getLogger("prodcat.serving")


class ModelServer:
    """The model, the watcher, the batchers and both front ends (gRPC and REST).

    `loader(version, path)` replaces SavedModel loading (tests serve fakes). `reuse_port`: share
    the ports with the other workers of a `WorkerPool` (SO_REUSEPORT); otherwise a taken port is an error.
    """

    def __init__(self, options: ServerOptions, loader: Callable[[int, Path], Any] | None = None,
                 reuse_port: bool = False) -> None:
        self.options = options
        self.reuse_port = reuse_port
        self.stats = Stats(options.model_name)
        self.versions = VersionManager(
            options.model_name, Path(options.model_base_path),
            loader or (lambda version, path: Servable.load(options.model_name, version, path, options, self.stats)),
            options.file_system_poll_wait_seconds,
        )
        self.port: int | None = None
        self.rest_port: int | None = None
        self.tls: SSLSettings | None = None
        self._grpc: grpc.Server | None = None
        self._http: http.server.ThreadingHTTPServer | None = None

    # -- lifecycle
    def start(self) -> ModelServer:
        """Binds and starts serving; raises TLSConfigError (a ValueError) or OSError before loading anything."""
        o = self.options
        self.tls = checked_ssl_settings(o.ssl_config_file, o.host) if o.ssl_config_file else None
        configure_tensorflow_threads(o.tensorflow_intra_op_parallelism, o.tensorflow_inter_op_parallelism)
        self.versions.poll()  # serve the newest version from the first request on
        self.versions.start()
        try:
            self._grpc, self.port = start_grpc_server(self)
        except OSError:
            self.versions.stop()
            raise
        log.info("Running gRPC ModelServer at %s:%d%s ...", o.host, self.port, self.tls.describe() if self.tls else "")
        if o.rest_api_port:
            self._http = start_rest_server(self)
            self.rest_port = self._http.server_address[1]
            log.info("Exporting HTTP/REST API at %s:%d ...", o.host, self.rest_port)
            if self.tls is not None:
                log.warning("the REST API at %s:%d is plaintext: --ssl_config_file secures gRPC only (as in TF Serving)",
                            o.host, self.rest_port)
        return self

    def stop(self, grace: float = 5.0) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._grpc is not None:
            self._grpc.stop(grace).wait()
            self._grpc = None
        self.versions.stop()

    def wait(self) -> None:
        """Blocks until SIGINT/SIGTERM (when called from the main thread) and then stops."""
        stop = threading.Event()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda *_: stop.set())
        try:
            while not stop.wait(1.0):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            log.info("Shutting down")
            self.stop()

    def __enter__(self) -> ModelServer:
        return self.start() if self._grpc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what both front ends ask
    def resolve(self, name: str, version: int | None = None, label: str | None = None) -> Servable:
        """The servable a model spec names; NOT_FOUND unless it is the one being served."""
        if label:
            version = self._labelled_version(label)
        request = f"Specific({name}, {version})" if version is not None else f"Latest({name})"
        servable = self.versions.current if name == self.options.model_name else None
        if servable is None or (version is not None and servable.version != version):
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: {request}")
        return servable

    def version_states(self, name: str, version: int | None = None, label: str | None = None) -> dict[int, tuple[int, grpc.StatusCode, str]]:
        """GetModelStatus: (state, code, message) by version, newest first; one version with `version` or `label`."""
        if not name:
            raise invalid("Missing model name in request.")
        if label is not None:
            version = self._labelled_version(label)
        states = self.versions.states() if name == self.options.model_name else {}
        if not states:
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {name}")
        if version is not None:
            if version not in states:
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find version {version} of model {name}")
            states = {version: states[version]}
        return dict(sorted(states.items(), reverse=True))

    def _labelled_version(self, label: str) -> int:
        if label not in self.options.version_labels:
            raise invalid(f"Unrecognized servable version label: {label}")
        return self.options.version_labels[label]

    def handle(self, api: str, fn: Callable[[], Any]) -> Any:
        """Runs one API call, counting it; errors come out as ServingError."""
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            return fn()
        except ServingError as err:
            code = err.code
            raise
        except Exception as err:
            code = grpc.StatusCode.INTERNAL
            log.exception("%s failed", api)
            raise ServingError(code, f"internal error: {type(err).__name__}: {short(str(err), 500)}") from None
        finally:
            self.stats.request(api, code, time.perf_counter() - started)


def serve(model_base_path: str | os.PathLike, *, wait: bool = True, **options: Any) -> ModelServer | WorkerPool:
    """Starts the server on `model_base_path` (numbered SavedModel versions); `options` are ServerOptions' fields.

    With `wait` (the CLI), blocks until SIGINT/SIGTERM and shuts down cleanly; without, returns the
    running `ModelServer`, or the `WorkerPool` for `workers` other than 1 (either's `port`/`rest_port`
    are the bound ports; call `stop()`). Raises ValueError for bad options (TLSConfigError for an
    unusable `ssl_config_file`), OSError if a port cannot be bound, and WorkerStartError if a worker
    cannot start.
    """
    options = {name: os.fspath(value) if isinstance(value, os.PathLike) else value for name, value in options.items()}
    checked = ServerOptions(model_base_path=os.fspath(model_base_path), **options)
    server = (WorkerPool(checked) if checked.workers != 1 else ModelServer(checked)).start()
    if wait:
        server.wait()
    return server


# help() and IDEs show ServerOptions' fields and defaults as serve's own (keyword) parameters.
serve.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY) if parameter.name != "model_base_path" else parameter
     for parameter in inspect.signature(ServerOptions).parameters.values()]
    + [inspect.Parameter("wait", inspect.Parameter.KEYWORD_ONLY, default=True, annotation=bool)],
    return_annotation=ModelServer | WorkerPool)

