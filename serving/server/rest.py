"""TF Serving's REST API (predict, status, metadata) plus `GET /monitoring/prometheus/metrics`.

Plaintext HTTP/1.1 on `--rest_api_port`, as in TF Serving; errors are `{"error": ...}` with the
HTTP status matching the gRPC code.
"""

from __future__ import annotations

import http.server
import json
import logging
import re
import socket
import threading
import urllib.parse
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf import json_format

from prodcat.serving.server.errors import ServingError
from prodcat.serving.server.metrics import CONTENT_TYPE
from prodcat.serving.server.rest_json import rest_predict
from prodcat.serving.server.versions import State

if TYPE_CHECKING:
    from prodcat.serving.server.model_server import ModelServer

log = logging.getLogger("prodcat.serving")

_HTTP_STATUS = {
    grpc.StatusCode.OK: 200, grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400, grpc.StatusCode.UNAUTHENTICATED: 401, grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.ALREADY_EXISTS: 409, grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNIMPLEMENTED: 501, grpc.StatusCode.UNAVAILABLE: 503, grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
_MODEL_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
                         r"(?:(?P<metadata>/metadata)|:(?P<verb>predict|classify|regress))?/?$")
METRICS_PATH = "/monitoring/prometheus/metrics"


def start_rest_server(server: ModelServer) -> http.server.ThreadingHTTPServer:
    """Binds `server.options.host:rest_api_port` and serves in a background thread until `shutdown()`."""
    httpd = _RestServer((server.options.host, server.options.rest_api_port), _RestHandler, server)
    threading.Thread(target=httpd.serve_forever, name="rest", daemon=True).start()
    return httpd


class _RestServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, model_server: ModelServer) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.model_server = model_server
        super().__init__(address, handler)

    def server_bind(self) -> None:
        if self.model_server.reuse_port:  # a WorkerPool's workers share the REST port too
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


class _RestHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "prodcat-serve"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        log.debug("REST %s - " + format, self.address_string(), *args)

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload, ensure_ascii=False, indent=2).encode("utf-8"))

    def _error(self, err: ServingError) -> None:
        self._json(_HTTP_STATUS.get(err.code, 500), {"error": err.message})

    def do_GET(self) -> None:  # noqa: N802
        server: ModelServer = self.server.model_server
        path = urllib.parse.urlsplit(self.path).path
        if path == METRICS_PATH:
            current = server.versions.current
            self._send(200, server.stats.exposition(current.version if current is not None else 0), CONTENT_TYPE)
            return
        match = _MODEL_PATH.match(path)
        if not match or match["verb"]:
            self._json(404 if not match else 405, {"error": f"Malformed request: GET {path}"})
            return
        name, version, label = _model_spec(match)
        try:
            if match["metadata"]:
                self._json(200, server.handle("metadata", lambda: _metadata(server, name, version, label)))
            else:
                self._json(200, server.handle("status", lambda: _status(server, name, version, label)))
        except ServingError as err:
            self._error(err)

    def do_POST(self) -> None:  # noqa: N802
        server: ModelServer = self.server.model_server
        path = urllib.parse.urlsplit(self.path).path
        match = _MODEL_PATH.match(path)
        if not match or not match["verb"]:
            self._drain()
            self._json(404, {"error": f"Malformed request: POST {path}"})
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            self._json(411, {"error": "Content-Length required"})
            return
        if length < 0 or length > server.options.max_request_bytes:
            self.close_connection = True
            self._json(413, {"error": f"request body of {length} bytes exceeds --max_request_bytes={server.options.max_request_bytes}"})
            return
        body = self.rfile.read(length)
        if match["verb"] != "predict":
            self._json(501, {"error": f"{match['verb']} is not supported by this server (only predict)"})
            return
        name, version, label = _model_spec(match)
        try:
            self._json(200, server.handle("predict_rest", lambda: rest_predict(server, name, version, label, body)))
        except ServingError as err:
            self._error(err)

    def _drain(self) -> None:
        """Reads an unwanted body (within limits) so the connection stays usable."""
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = 0
        if 0 < length <= self.server.model_server.options.max_request_bytes:
            self.rfile.read(length)
        elif length:
            self.close_connection = True


def _model_spec(match: re.Match) -> tuple[str, int | None, str | None]:
    """(name, version, label) of a /v1/models/... path."""
    return (urllib.parse.unquote(match["name"]), int(match["version"]) if match["version"] else None,
            urllib.parse.unquote(match["label"]) if match["label"] else None)


def _status(server: ModelServer, name: str, version: int | None, label: str | None) -> dict:
    return {"model_version_status": [
        {"version": str(number), "state": State.Name(state), "status": {"error_code": code.name, "error_message": message}}
        for number, (state, code, message) in server.version_states(name, version, label).items()
    ]}


def _metadata(server: ModelServer, name: str, version: int | None, label: str | None) -> dict:
    servable = server.resolve(name, version, label)
    return {
        "model_spec": {"name": servable.name, "signature_name": "", "version": str(servable.version)},
        "metadata": {"signature_def": _message_to_dict(servable.signature_def_map())},
    }


def _message_to_dict(message: Any) -> dict:
    """Like TF Serving's JSON: proto field names, default values printed ("unknown_rank": false)."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True, including_default_value_fields=True)
