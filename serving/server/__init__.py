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
`tls` (`--ssl_config_file`), `model_server` (ties them together; `serve`, `main`), `workers`
(`--workers N`: N such servers in their own processes on the same ports).
"""

from prodcat.serving.server.batching import BatchQueue
from prodcat.serving.server.errors import ServingError
from prodcat.serving.server.metrics import Stats
from prodcat.serving.server.model_server import ModelServer, main, serve
from prodcat.serving.server.options import ServerOptions, build_arg_parser
from prodcat.serving.server.servable import Servable, Signature
from prodcat.serving.server.tls import SSLSettings, load_ssl_config, ssl_config_class
from prodcat.serving.server.versions import VersionManager, list_versions
from prodcat.serving.server.workers import WorkerPool, WorkerStartError

__all__ = [
    "BatchQueue", "ModelServer", "SSLSettings", "Servable", "ServerOptions", "ServingError", "Signature", "Stats",
    "VersionManager", "WorkerPool", "WorkerStartError", "build_arg_parser", "list_versions", "load_ssl_config", "main", "serve", "ssl_config_class",
]
