"""One loaded model version: its signatures, input decoding and checks, and its batch queues."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2

from prodcat import features as F
from prodcat.contract.signatures import EXAMPLES_SIGNATURE, RAW_SIGNATURE
from prodcat.serving.tensor_codec import (
    TensorDecodeError, TensorTooLargeError, dtype_name, string_tensor_bytes, tensor_proto_to_ndarray,
)
from prodcat.serving.server.batching import Arrays, BatchQueue
from prodcat.serving.server.errors import ServingError, error_code, invalid, model_error_message, short
from prodcat.serving.server.metrics import Stats
from prodcat.serving.server.options import MAX_TENSOR_ELEMENTS, ServerOptions

log = logging.getLogger("prodcat.serving")

DEFAULT_SIGNATURE = EXAMPLES_SIGNATURE  # what an empty signature_name means, as in TF Serving


@dataclasses.dataclass(frozen=True)
class Signature:
    name: str
    function: Any  # a ConcreteFunction taking the inputs as keyword arguments
    inputs: dict[str, Any]  # input name -> tf.TensorSpec
    outputs: tuple[str, ...]
    batchable: bool  # every input is [batch, ...] with a free batch dimension
    composite_outputs: frozenset[str] = frozenset()  # SparseTensor/RaggedTensor outputs Predict cannot return


class Servable:
    """One loaded model version: its signatures, SignatureDefs and batch queues."""

    def __init__(self, name: str, version: int, path: Path, model: Any, signature_defs: dict, options: ServerOptions, stats: Stats) -> None:
        import tensorflow as tf

        self.name, self.version, self.path, self.options, self.stats = name, version, path, options, stats
        self._model = model  # keeps the loaded objects alive
        self.signature_defs = signature_defs
        self.signatures: dict[str, Signature] = {}
        for sig_name, function in model.signatures.items():
            specs = dict(function.structured_input_signature[1])
            batchable = bool(specs) and all(s.shape.rank and s.shape[0] is None for s in specs.values())
            outputs = function.structured_outputs
            composite = frozenset(k for k, v in outputs.items() if not isinstance(v, (tf.TensorSpec, tf.Tensor)))
            self.signatures[sig_name] = Signature(sig_name, function, specs, tuple(sorted(outputs)), batchable, composite)
        self._queues: dict[str, BatchQueue] = {}
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def load(cls, name: str, version: int, path: Path, options: ServerOptions, stats: Stats) -> Servable:
        """Loads a SavedModel version and replays its warm-up requests (a failure fails the load)."""
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (SentencePiece ops of the model's text encoder)

        from prodcat.contract.warmup import read_warmup_requests

        signature_defs = read_signature_defs(path)
        servable = cls(name, version, path, tf.saved_model.load(str(path), tags=["serve"]), signature_defs, options, stats)
        warmup = read_warmup_requests(path)
        for request in warmup:
            servable.predict_request(request, batch=False)
        if warmup:
            stats.add("warmup_requests", len(warmup))
            log.info("Finished reading %d warm-up requests for %s version %d", len(warmup), name, version)
        return servable

    def signature(self, signature_name: str) -> Signature:
        signature = self.signatures.get(signature_name or DEFAULT_SIGNATURE)
        if signature is None:
            # TF Serving says FAILED_PRECONDITION here; NOT_FOUND is what callers can act on.
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Serving signature key \"{signature_name}\" not found. "
                               f"Signatures of {self.name} version {self.version}: {sorted(self.signatures)}")
        return signature

    def signature_def_map(self) -> get_model_metadata_pb2.SignatureDefMap:
        """The SignatureDefs as GetModelMetadata returns them (REST prints the same message as JSON)."""
        signature_defs = get_model_metadata_pb2.SignatureDefMap()
        for name, signature_def in self.signature_defs.items():
            signature_defs.signature_def[name].CopyFrom(signature_def)
        return signature_defs

    def decode_inputs(self, signature: Signature, tensors: Mapping[str, Any], max_bytes: int | None = None) -> Arrays:
        """TensorProtos -> numpy, checked against the signature's names and dtypes.

        `max_bytes` bounds what all inputs together decode to (RESOURCE_EXHAUSTED beyond it).
        """
        check_names(signature, tensors.keys())
        arrays = {}
        budget = max_bytes
        for name, proto in sorted(tensors.items()):
            spec = signature.inputs[name]
            if proto.dtype != spec.dtype.as_datatype_enum:
                raise invalid(f"Expects arg[{name}] to be {spec.dtype.name} but {dtype_name(proto.dtype)} is provided")
            try:
                arrays[name] = array = tensor_proto_to_ndarray(proto, MAX_TENSOR_ELEMENTS, budget)
            except TensorTooLargeError as err:
                raise ServingError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                   f"input {name!r}: {err}; a request may decode to at most {max_bytes} bytes in all (--max_request_bytes)") from None
            except TensorDecodeError as err:
                raise invalid(f"input {name!r}: {err}") from None
            if budget is not None:
                budget -= string_tensor_bytes(proto) if array.dtype == object else array.nbytes
        return arrays

    def predict(self, signature: Signature, arrays: Arrays, output_filter: Sequence[str] = (), batch: bool = True) -> Arrays:
        """Validated numpy inputs -> the (filtered) numpy outputs."""
        wanted = list(dict.fromkeys(output_filter)) or list(signature.outputs)
        unknown = [name for name in wanted if name not in signature.outputs]
        if unknown:
            raise invalid(f"output tensor alias not found in signature: {unknown[0]} Outputs expected to be in the set {{{','.join(signature.outputs)}}}.")
        composite = [name for name in wanted if name in signature.composite_outputs]
        if composite:
            raise ServingError(grpc.StatusCode.UNIMPLEMENTED, f"output(s) {composite} of {signature.name} are sparse or ragged, which "
                               "Predict cannot return as a TensorProto; leave them out with output_filter")
        arrays = complete_raw_inputs(signature, arrays)
        size = _check_shapes(signature, arrays)
        if batch and size is not None and self.options.batching:
            outputs = self._queue(signature).submit(arrays, size)
        else:
            self.stats.add("inline_tasks")
            outputs = self.run(signature, arrays)
        return {name: outputs[name] for name in wanted}

    def predict_request(
        self, request: predict_pb2.PredictRequest, batch: bool = True, max_rows: int | None = None, max_bytes: int | None = None,
    ) -> tuple[Signature, Arrays]:
        """`max_rows`/`max_bytes`: a client request's limits (checked before anything is decoded)."""
        signature = self.signature(request.model_spec.signature_name)
        check_rows({name: [d.size for d in proto.tensor_shape.dim] for name, proto in request.inputs.items()}, max_rows)
        arrays = self.decode_inputs(signature, request.inputs, max_bytes)
        return signature, self.predict(signature, arrays, list(request.output_filter), batch)

    def run(self, signature: Signature, arrays: Arrays) -> Arrays:
        """Runs the signature once on (already validated) inputs."""
        import tensorflow as tf

        try:
            tensors = {name: tf.constant(array, dtype=signature.inputs[name].dtype) for name, array in arrays.items()}
            outputs = signature.function(**tensors)
            return {name: value.numpy() for name, value in outputs.items() if name not in signature.composite_outputs}
        except tf.errors.OpError as err:
            raise ServingError(error_code(err), model_error_message(err.message)) from None
        except (TypeError, ValueError) as err:
            raise invalid(short(str(err))) from None

    def _queue(self, signature: Signature) -> BatchQueue:
        with self._lock:
            queue = self._queues.get(signature.name)
            if queue is None:
                o = self.options
                queue = BatchQueue(
                    lambda arrays, s=signature: self.run(s, arrays), max_batch_size=o.max_batch_size,
                    timeout_s=o.batch_timeout_micros / 1e6, num_threads=o.num_batch_threads,
                    max_enqueued_batches=o.max_enqueued_batches, stats=self.stats, name=f"batch-v{self.version}-{signature.name}",
                )
                if self._closed:
                    queue.close()
                self._queues[signature.name] = queue
            return queue

    def close(self) -> None:
        """Drains and stops the batch queues; late requests still holding this version run inline."""
        with self._lock:
            self._closed = True
            queues = list(self._queues.values())
        for queue in queues:
            queue.close()


def check_names(signature: Signature, names: Any) -> None:
    """INVALID_ARGUMENT unless exactly the signature's inputs were sent (TF Serving's message).

    `serving_raw` takes any subset of its inputs that has the title: a client sends the fields it
    has, and `complete_raw_inputs` fills the others in empty, as ExampleGen writes an unknown field.
    """
    sent, expected = set(names), set(signature.inputs)
    if signature.name == RAW_SIGNATURE and sent < expected:
        if F.TITLE not in sent:
            raise invalid(f"input {F.TITLE!r} is required by {RAW_SIGNATURE} (every other product field is optional)")
        return
    if sent != expected:
        fmt = lambda s: "{" + ", ".join(sorted(s)) + "}"  # noqa: E731
        raise invalid(
            f"input size does not match signature: {len(sent)}!={len(expected)} len({fmt(sent)}) != len({fmt(expected)}). "
            f"Sent extra: {fmt(sent - expected)}. Missing but required: {fmt(expected - sent)}.")


def complete_raw_inputs(signature: Signature, arrays: Arrays) -> Arrays:
    """`serving_raw` inputs a client left out, as empty strings ([batch] or [batch, 1] by the input's rank)."""
    missing = [name for name in signature.inputs if name not in arrays]
    if signature.name != RAW_SIGNATURE or not missing or F.TITLE not in arrays:
        return arrays
    rows = len(arrays[F.TITLE])
    filled = dict(arrays)
    for name in missing:
        filled[name] = np.full((rows, 1) if signature.inputs[name].shape.rank == 2 else (rows,), b"", dtype=object)
    return filled


def check_rows(shapes: Mapping[str, Sequence[int]], max_rows: int | None) -> None:
    """INVALID_ARGUMENT for an input with more than `max_rows` rows (dimension 0); None/0: no limit."""
    if not max_rows:
        return
    for name, shape in sorted(shapes.items()):
        if len(shape) and shape[0] > max_rows:
            raise invalid(f"input {name!r} has {shape[0]} rows; this server takes at most {max_rows} rows per request "
                          "(--max_batch_rows): split the request")


def _check_shapes(signature: Signature, arrays: Arrays) -> int | None:
    """Checks ranks and fixed dimensions; returns the common batch size of a batchable signature."""
    for name, array in arrays.items():
        shape = signature.inputs[name].shape
        if shape.rank is None:
            continue
        if array.ndim != shape.rank or any(d is not None and d != a for d, a in zip(shape.as_list(), array.shape)):
            want = [-1 if d is None else d for d in shape.as_list()]
            raise invalid(f"input {name!r} has shape {list(array.shape)}, the signature expects {want} (-1: any size)")
    if not signature.batchable:
        return None
    sizes = {name: array.shape[0] for name, array in arrays.items()}
    if len(set(sizes.values())) > 1:
        raise invalid(f"all inputs must have the same 0th-dimension (batch) size; got {dict(sorted(sizes.items()))}")
    return next(iter(sizes.values()))


def read_signature_defs(model_version_dir: str | Path) -> dict:
    """The `serve` MetaGraph's SignatureDefs, read from saved_model.pb without loading the graph."""
    from tensorflow.core.protobuf import saved_model_pb2

    path = Path(model_version_dir) / "saved_model.pb"
    saved_model = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    for meta_graph in saved_model.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return dict(meta_graph.signature_def)
    raise ValueError(f"{path}: no MetaGraph tagged 'serve'")
