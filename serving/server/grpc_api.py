"""TF Serving's gRPC services: PredictionService (Predict, GetModelMetadata) and ModelService (GetModelStatus).

Classify, Regress, MultiInference and HandleReloadConfigRequest answer UNIMPLEMENTED (the
generated base classes' default).
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from prodcat.serving.tensor_codec import ndarray_to_tensor_proto
from prodcat.serving.server.errors import ServingError, invalid
from prodcat.serving.server.tls import grpc_address

if TYPE_CHECKING:
    from prodcat.serving.server.model_server import ModelServer


def start_grpc_server(server: ModelServer) -> tuple[grpc.Server, int]:
    """Binds `server.options.host:port` (over TLS with `server.tls`) and starts both services; returns the bound port."""
    o = server.options
    address = grpc_address(o.host, o.port)
    grpc_server = grpc.server(
        concurrent.futures.ThreadPoolExecutor(max_workers=o.grpc_max_workers, thread_name_prefix="grpc"),
        options=[
            ("grpc.max_receive_message_length", o.max_request_bytes),
            ("grpc.max_send_message_length", -1),
            ("grpc.so_reuseport", int(server.reuse_port)),  # only a WorkerPool's workers share a port
        ],
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionServicer(server), grpc_server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(server), grpc_server)
    try:
        port = grpc_server.add_secure_port(address, server.tls.credentials()) if server.tls else grpc_server.add_insecure_port(address)
    except RuntimeError as err:
        raise OSError(f"cannot bind the gRPC port {address}: {err}") from None
    if not port:
        raise OSError(f"cannot bind the gRPC port {address}")
    grpc_server.start()
    return grpc_server, port


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, server: ModelServer) -> None:
        self._server = server

    def Predict(self, request: predict_pb2.PredictRequest, context: grpc.ServicerContext) -> predict_pb2.PredictResponse:  # noqa: N802
        return _call(self._server, "predict", lambda: _predict(self._server, request), context)

    def GetModelMetadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest,  # noqa: N802
                         context: grpc.ServicerContext) -> get_model_metadata_pb2.GetModelMetadataResponse:
        return _call(self._server, "metadata", lambda: _metadata(self._server, request), context)


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, server: ModelServer) -> None:
        self._server = server

    def GetModelStatus(self, request: get_model_status_pb2.GetModelStatusRequest,  # noqa: N802
                       context: grpc.ServicerContext) -> get_model_status_pb2.GetModelStatusResponse:
        return _call(self._server, "status", lambda: _model_status(self._server, request), context)


def _call(server: ModelServer, api: str, fn: Callable[[], Any], context: grpc.ServicerContext) -> Any:
    try:
        return server.handle(api, fn)
    except ServingError as err:
        context.abort(err.code, err.message)


def _spec(spec: Any) -> tuple[str, int | None, str | None]:
    """A ModelSpec as (name, version, label); at most one of version and label is set."""
    choice = spec.WhichOneof("version_choice")
    return spec.name, spec.version.value if choice == "version" else None, spec.version_label if choice == "version_label" else None


def _predict(server: ModelServer, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
    if not request.HasField("model_spec"):
        raise invalid("Missing ModelSpec")
    servable = server.resolve(*_spec(request.model_spec))
    signature, outputs = servable.predict_request(request, max_rows=server.options.max_batch_rows, max_bytes=server.options.max_request_bytes)
    response = predict_pb2.PredictResponse()
    response.model_spec.name = servable.name
    response.model_spec.version.value = servable.version
    response.model_spec.signature_name = signature.name
    for name, value in outputs.items():
        response.outputs[name].CopyFrom(ndarray_to_tensor_proto(value))
    return response


def _metadata(server: ModelServer, request: get_model_metadata_pb2.GetModelMetadataRequest) -> get_model_metadata_pb2.GetModelMetadataResponse:
    if not request.HasField("model_spec"):
        raise invalid("Missing ModelSpec")
    if not request.metadata_field:
        raise invalid("GetModelMetadataRequest must specify at least one metadata_field")
    for field in request.metadata_field:
        if field != "signature_def":
            raise invalid(f"Metadata field {field} is not supported")
    servable = server.resolve(*_spec(request.model_spec))
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = servable.name
    response.model_spec.version.value = servable.version
    response.metadata["signature_def"].Pack(servable.signature_def_map())
    return response


def _model_status(server: ModelServer, request: get_model_status_pb2.GetModelStatusRequest) -> get_model_status_pb2.GetModelStatusResponse:
    response = get_model_status_pb2.GetModelStatusResponse()
    for number, (state, code, message) in server.version_states(*_spec(request.model_spec)).items():
        status = response.model_version_status.add(version=number, state=state)
        status.status.error_code = code.value[0]
        status.status.error_message = message
    return response
