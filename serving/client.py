"""A Python client for any TF Serving-compatible gRPC endpoint (TF Serving itself or `prodcat serve`).

`PredictionClient(target)` turns `Product`s into a `PredictRequest` — raw fields (image bytes
included) for the `serving_raw` signature, or serialized tf.Examples for `serving_default` — and
the response back into the same typed `Prediction`s that batch prediction writes
(`contract.signatures.predictions_from_outputs`). `PredictionClient(target, tls=TlsOptions(...))`
talks to a server started with `--ssl_config_file` (TLS, or mutual TLS with a client certificate).

Tensors are encoded by `serving/tensor_codec.py`, the codec the server (`serving/server/`) uses too.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from typing import Any

import grpc
import numpy as np
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from prodcat import features as F
from prodcat.records import Product, RecordError
from prodcat.contract.signatures import (
    EXAMPLES_INPUT,
    PREDICTION_OUTPUTS,
    RAW_SIGNATURE,
    Prediction,
    default_raw_input_names,
    object_array,
    predictions_from_outputs,
    raw_inputs,
)
from prodcat.serving.tensor_codec import dtype_name, ndarray_to_tensor_proto, tensor_proto_to_ndarray

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024
DEFAULT_CONCURRENCY = 4  # requests in flight from `predict_file`, so a batching server can merge them
# List fields (tags, collections) are [batch, n] tensors padded with "" (which the model drops).
# Padding every request to the same width lets TF Serving's batcher concatenate concurrent
# requests without `pad_variable_length_inputs` (whose padding value, the tensor's first element,
# would be a real tag, not ""). Lists longer than this round up to a power of two.
DEFAULT_LIST_WIDTH = 16


# ----------------------------------------------------------------------------- requests
def build_predict_request(
    products: Sequence[Product], *, model_name: str = "prodcat", signature_name: str = RAW_SIGNATURE,
    raw_input_names: Iterable[str] | None = None, version: int | None = None, version_label: str | None = None,
    output_filter: Iterable[str] = (), list_width: int = DEFAULT_LIST_WIDTH,
) -> predict_pb2.PredictRequest:
    """A TF Serving PredictRequest for products: raw fields (`serving_raw`) or serialized tf.Examples."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    elif version_label:
        request.model_spec.version_label = version_label
    if signature_name == RAW_SIGNATURE:
        names = list(raw_input_names) if raw_input_names is not None else default_raw_input_names()
        inputs = raw_inputs(products, names, list_width)
    else:
        from prodcat.contract.examples import products_to_serialized

        inputs = {EXAMPLES_INPUT: object_array(products_to_serialized(list(products)))}
    for name, array in inputs.items():
        request.inputs[name].CopyFrom(ndarray_to_tensor_proto(array))
    request.output_filter.extend(output_filter)
    return request


# ----------------------------------------------------------------------------- typed answers
@dataclasses.dataclass(frozen=True)
class VersionStatus:
    """One version's state as GetModelStatus reports it (state: START/LOADING/AVAILABLE/UNLOADING/END)."""

    version: int
    state: str
    error_code: str = "OK"
    error_message: str = ""


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    dtype: str  # e.g. "DT_STRING"
    shape: tuple[int | None, ...] | None  # None: unknown rank; None dims: any size


@dataclasses.dataclass(frozen=True)
class SignatureInfo:
    method_name: str
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]


@dataclasses.dataclass(frozen=True)
class ModelMetadata:
    name: str
    version: int
    signatures: dict[str, SignatureInfo]
    signature_defs: Any  # the SignatureDefMap proto as served


class PredictionError(RuntimeError):
    """A failed call: `code` is the gRPC status code (grpc.StatusCode), `details` the server's message."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self.code, self.details = code, details
        super().__init__(f"{code.name}: {details}")


def _tensor_info(info: Any) -> TensorInfo:
    shape = None if info.tensor_shape.unknown_rank else tuple(None if d.size < 0 else d.size for d in info.tensor_shape.dim)
    return TensorInfo(dtype_name(info.dtype), shape)


# ----------------------------------------------------------------------------- TLS
class TLSConfigError(ValueError):
    """TLS settings that cannot work: an unreadable or malformed certificate/key, a missing half of a pair."""


def read_pem(path: str | os.PathLike, what: str) -> bytes:
    """The bytes of a PEM file; `what` names it in the error ("the TLS CA certificate")."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as err:
        raise TLSConfigError(f"cannot read {what} {os.fspath(path)!r}: {err.strerror or err}") from None
    if b"-----BEGIN " not in data:
        raise TLSConfigError(f"{what} {os.fspath(path)!r} is not a PEM file (no -----BEGIN line)")
    return data


@dataclasses.dataclass(frozen=True)
class TlsOptions:
    """TLS for the client's gRPC channel; the certificate and key are paths to PEM files.

    `ca_cert`: the CA certificate(s) the server's certificate must chain to (None: the system's
    root CAs). `client_cert` + `client_key`: a client certificate, for servers that require one
    (mutual TLS, `client_verify: true`). `server_name`: the name the server's certificate must
    carry when it differs from the target's host (e.g. connecting to an IP address).
    """

    ca_cert: str | os.PathLike | None = None
    client_cert: str | os.PathLike | None = None
    client_key: str | os.PathLike | None = None
    server_name: str | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        """Reads the files (raising TLSConfigError with the path if one is unusable)."""
        if (self.client_cert is None) != (self.client_key is None):
            raise TLSConfigError("a client certificate needs its private key and vice versa (give both or neither)")
        return grpc.ssl_channel_credentials(
            root_certificates=read_pem(self.ca_cert, "the TLS CA certificate") if self.ca_cert is not None else None,
            private_key=read_pem(self.client_key, "the TLS client key") if self.client_key is not None else None,
            certificate_chain=read_pem(self.client_cert, "the TLS client certificate") if self.client_cert is not None else None,
        )

    def channel_options(self) -> list[tuple[str, Any]]:
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []


def make_channel(target: str, tls: TlsOptions | None = None, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> grpc.Channel:
    """A gRPC channel to `target` (host:port): plaintext, or TLS with `tls`."""
    options = [("grpc.max_send_message_length", max_message_bytes), ("grpc.max_receive_message_length", max_message_bytes)]
    if tls is None:
        return grpc.insecure_channel(target, options=options)
    return grpc.secure_channel(target, tls.credentials(), options=options + tls.channel_options())


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
