"""A Python client for any TF Serving-compatible gRPC endpoint (TF Serving itself or `prodcat serve`).

`PredictionClient(target)` turns `Product`s into a `PredictRequest` — raw fields (image bytes
included) for the `serving_raw` signature, or serialized tf.Examples for `serving_default` — and
the response back into the same typed `Prediction`s that batch prediction writes
(`contract.signatures.predictions_from_outputs`). `PredictionClient(target, tls=TlsOptions(...))`
talks to a server started with `--ssl_config_file` (TLS, or mutual TLS with a client certificate).

Tensors are encoded by `serving/tensor_codec.py`, the codec the server (`serving/server/`) uses too.
Requests and answers are typed in `serving/client_messages.py`, channels (TLS) made by `serving/grpc_channel.py`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import grpc
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from prodcat import features as F
from prodcat.records import Product, RecordError
from prodcat.contract.signatures import PREDICTION_OUTPUTS, RAW_SIGNATURE, Prediction, predictions_from_outputs
from prodcat.serving.client_messages import (  # noqa: F401  (re-exported: the client's answers)
    DEFAULT_LIST_WIDTH, ModelMetadata, PredictionError, SignatureInfo, TensorInfo, VersionStatus, build_predict_request,
)
from prodcat.serving.grpc_channel import (  # noqa: F401  (TLSConfigError, read_pem: re-exported)
    DEFAULT_MAX_MESSAGE_BYTES, TLSConfigError, TlsOptions, make_channel, read_pem,
)
from prodcat.serving.tensor_codec import dtype_name, tensor_proto_to_ndarray

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_CONCURRENCY = 4  # requests in flight from `predict_file`, so a batching server can merge them


def _tensor_info(info: Any) -> TensorInfo:
    shape = None if info.tensor_shape.unknown_rank else tuple(None if d.size < 0 else d.size for d in info.tensor_shape.dim)
    return TensorInfo(dtype_name(info.dtype), shape)


# ----------------------------------------------------------------------------- the client
class PredictionClient:
    """Calls a TF Serving-compatible gRPC endpoint (`host:port`) for one model.

    `signature_name` picks how products travel: `serving_raw` (named raw fields, image bytes
    included) or `serving_default` (serialized tf.Examples). `version`/`version_label` pin a
    version; by default the server's newest is used. `tls` connects over TLS (plaintext without).
    Failed calls raise `PredictionError` (a server that speaks TLS to a plaintext client, or refuses
    its certificate, is UNAVAILABLE).
    """

    def __init__(
        self, target: str, model_name: str = "prodcat", *, signature_name: str = RAW_SIGNATURE,
        version: int | None = None, version_label: str | None = None, timeout: float = DEFAULT_TIMEOUT_S,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, list_width: int = DEFAULT_LIST_WIDTH,
        channel: grpc.Channel | None = None, tls: TlsOptions | None = None,
    ) -> None:
        self.target, self.model_name, self.signature_name = target, model_name, signature_name
        self.version, self.version_label, self.timeout, self.list_width = version, version_label, timeout, list_width
        self._channel = channel or make_channel(target, tls, max_message_bytes)
        self._predictions = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)
        self._raw_inputs: list[str] | None = None

    # -- prediction
    def build_request(self, products: Sequence[Product], signature_name: str | None = None, full_depth: bool = False) -> predict_pb2.PredictRequest:
        signature_name = signature_name or self.signature_name
        raw_names = self._raw_input_names() if signature_name == RAW_SIGNATURE else None
        outputs = (*PREDICTION_OUTPUTS, F.OUT_FULL_DEPTH if full_depth else F.OUT_DEPTH)
        return build_predict_request(
            products, model_name=self.model_name, signature_name=signature_name, raw_input_names=raw_names,
            version=self.version, version_label=self.version_label, output_filter=outputs, list_width=self.list_width,
        )

    def call(self, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
        """Sends a ready PredictRequest (any signature, any inputs)."""
        return self._rpc(self._predictions.Predict, request)

    def predict_with_version(
        self, products: Sequence[Product], full_depth: bool = False, signature_name: str | None = None
    ) -> tuple[int, list[Prediction]]:
        """The predictions and the model version that answered (the response's model_spec)."""
        if not products:
            return 0, []
        response = self.call(self.build_request(products, signature_name, full_depth))
        outputs = {name: tensor_proto_to_ndarray(tensor) for name, tensor in response.outputs.items()}
        return response.model_spec.version.value, predictions_from_outputs([p.id for p in products], outputs, full_depth)

    def predict(self, products: Sequence[Product], full_depth: bool = False, signature_name: str | None = None) -> list[Prediction]:
        """One request for all products; use `predict_file` (or slice) for large inputs."""
        return self.predict_with_version(products, full_depth, signature_name)[1]

    # -- model service
    def model_status(self, version: int | None = None) -> list[VersionStatus]:
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = self.model_name
        if version is not None:
            request.model_spec.version.value = version
        response = self._rpc(self._models.GetModelStatus, request)
        return [
            VersionStatus(
                s.version, get_model_status_pb2.ModelVersionStatus.State.Name(s.state),
                _code_name(s.status.error_code), s.status.error_message,
            )
            for s in response.model_version_status
        ]

    def metadata(self) -> ModelMetadata:
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        request.model_spec.name = self.model_name
        if self.version is not None:
            request.model_spec.version.value = self.version
        elif self.version_label:
            request.model_spec.version_label = self.version_label
        response = self._rpc(self._predictions.GetModelMetadata, request)
        signature_defs = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_defs)
        signatures = {
            name: SignatureInfo(
                sig.method_name,
                {k: _tensor_info(v) for k, v in sig.inputs.items()},
                {k: _tensor_info(v) for k, v in sig.outputs.items()},
            )
            for name, sig in signature_defs.signature_def.items()
        }
        return ModelMetadata(response.model_spec.name, response.model_spec.version.value, signatures, signature_defs)

    # -- plumbing
    def _raw_input_names(self) -> list[str]:
        if self._raw_inputs is None:
            signature = self.metadata().signatures.get(RAW_SIGNATURE)
            if signature is None:
                raise PredictionError(grpc.StatusCode.NOT_FOUND, f"model {self.model_name!r} has no {RAW_SIGNATURE} signature")
            self._raw_inputs = sorted(signature.inputs)
        return self._raw_inputs

    def _rpc(self, method: Any, request: Any) -> Any:
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as err:
            raise PredictionError(err.code(), err.details() or "") from None

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> PredictionClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _code_name(code: int) -> str:
    """A tensorflow.error.Code (same numbers as gRPC's) by name, e.g. "OK", "NOT_FOUND"."""
    names = {c.value[0]: c.name for c in grpc.StatusCode}
    return names.get(code, str(code))


def predict_file(
    target: str, input_path: str | os.PathLike, output_path: str | os.PathLike, *, model_name: str = "prodcat",
    signature_name: str = RAW_SIGNATURE, full_depth: bool = False, batch_size: int = 64,
    timeout: float = DEFAULT_TIMEOUT_S, progress: bool = True, rejects: list[RecordError] | None = None,
    tls: TlsOptions | None = None, concurrency: int = DEFAULT_CONCURRENCY,
) -> int:
    """`prodcat predict` through a server: products in, one JSON line per product out (atomic).

    `concurrency` requests are in flight at once on one channel (answers written in input order),
    so a server that batches concurrent requests, as TF Serving does, is kept busy rather than
    waiting for the client between requests."""
    from prodcat.serving.predict import write_predictions

    with PredictionClient(target, model_name, signature_name=signature_name, timeout=timeout, tls=tls) as client:
        return write_predictions(input_path, output_path, lambda batch: client.predict(batch, full_depth),
                                 batch_size, progress, rejects, parallel=concurrency)
