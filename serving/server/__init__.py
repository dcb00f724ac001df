"""`prodcat serve`: TF Serving's gRPC (and REST) API over a model base path the Pusher writes to.

Clients written against TF Serving work unchanged:

- `tensorflow.serving.PredictionService`: `Predict` (any signature; inputs as TensorProtos keyed
  by the signature's input names; `output_filter`; model_spec name/version/version_label) and
  `GetModelMetadata` (`signature_def`, packed as TF Serving packs it);
- `tensorflow.serving.ModelService`: `GetModelStatus`;
- REST (`--rest_api_port`): `POST /v1/models/<name>[/versions/<v>|/labels/<l>]:predict` ("instances"
  row format or "inputs" columnar format, `{"b64": ...}` for binary strings), `GET /v1/models/<name>`
  (status), `GET /v1/models/<name>/metadata`, and `GET /monitoring/prometheus/metrics`.

Errors are gRPC status codes, never crashes: INVALID_ARGUMENT for malformed input and for requests
of more than `--max_batch_rows` rows, NOT_FOUND for an unknown model, version or signature,
RESOURCE_EXHAUSTED for requests over `--max_request_bytes` (on the wire, or once decoded: a short
value list repeated over a large shape), UNAVAILABLE when the batch queue is full. Request data is
only ever decoded as tensors. The server binds 127.0.0.1 unless `--host` says otherwise.

One module per job: `options` (the flags), `versions` (which version serves), `servable` (one loaded
version, input checks), `batching`, `grpc_api`, `rest` and `rest_json`, `metrics` (Prometheus),
`tls` (`--ssl_config_file`), `model_server` (ties them together; `serve`), `workers`
(`--workers N`: N such servers in their own processes on the same ports), `command` (`main`).
"""

import importlib
from typing import Any

# Each public name and the module that defines it, imported on first use: `prodcat serve --workers N`'s
# parent process only starts and watches workers, and never loads TensorFlow (0.5 GB, seconds).
_EXPORTS = {
    "BatchQueue": "batching", "ServingError": "errors", "Stats": "metrics", "ModelServer": "model_server",
    "serve": "model_server", "main": "command", "ServerOptions": "options", "build_arg_parser": "options",
    "Servable": "servable", "Signature": "servable", "SSLSettings": "tls", "load_ssl_config": "tls",
    "ssl_config_class": "tls", "VersionManager": "versions", "list_versions": "versions",
    "WorkerPool": "workers", "WorkerStartError": "workers",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
