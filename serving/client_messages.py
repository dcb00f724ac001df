"""What the client sends and gets back, typed: `build_predict_request` turns products into a TF
Serving `PredictRequest` (raw fields for `serving_raw`, serialized tf.Examples for
`serving_default`), and the dataclasses below are what GetModelStatus / GetModelMetadata answers
become, with `PredictionError` for a failed call. Apart from `client.py` (the calls themselves)
because benchmarks and tests build requests without a client or a channel.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import grpc
from tensorflow_serving.apis import predict_pb2

from prodcat.contract.signatures import EXAMPLES_INPUT, RAW_SIGNATURE, default_raw_input_names, object_array, raw_inputs
from prodcat.records import Product
from prodcat.serving.tensor_codec import ndarray_to_tensor_proto

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
