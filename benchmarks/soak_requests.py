"""The abusive requests `benchmarks.soak` mixes into its load, and the gRPC code each must get back.

Each is derived from one valid serialized request, so it reaches the server exactly as the
load generator sends any other request; the kinds are listed in `benchmarks.soak`'s docstring.
"""

from __future__ import annotations

EXPECTED_CODES = {
    "oversized": "RESOURCE_EXHAUSTED",
    "wrong_dtype": "INVALID_ARGUMENT",
    "unknown_signature": "NOT_FOUND",
    "malformed_tensor": "INVALID_ARGUMENT",
    "huge_shape": "INVALID_ARGUMENT",
    "ragged_batch": "INVALID_ARGUMENT",
    "garbage_bytes": "INTERNAL",
}


def abusive_requests(valid: bytes, max_request_bytes: int) -> list[tuple[str, bytes]]:
    """(kind, serialized request) for every kind in EXPECTED_CODES, derived from one valid request."""
    from tensorflow.core.framework import types_pb2
    from tensorflow_serving.apis import predict_pb2

    base = predict_pb2.PredictRequest.FromString(valid)
    out: list[tuple[str, bytes]] = []

    request = predict_pb2.PredictRequest()
    request.CopyFrom(base)
    request.inputs["title"].string_val[:] = [b"x" * (2 * max_request_bytes)]
    out.append(("oversized", request.SerializeToString()))

    request = predict_pb2.PredictRequest()
    request.CopyFrom(base)
    title = request.inputs["title"]
    title.ClearField("string_val")
    title.dtype = types_pb2.DT_INT64
    title.int64_val[:] = [42]
    out.append(("wrong_dtype", request.SerializeToString()))

    request = predict_pb2.PredictRequest()
    request.CopyFrom(base)
    request.model_spec.signature_name = "no_such_signature"
    out.append(("unknown_signature", request.SerializeToString()))

    request = predict_pb2.PredictRequest()
    request.CopyFrom(base)
    request.inputs["title"].string_val[:] = [b"a", b"b", b"c"]  # shape stays [1]
    out.append(("malformed_tensor", request.SerializeToString()))

    request = predict_pb2.PredictRequest()
    request.CopyFrom(base)
    request.inputs["title"].tensor_shape.dim[0].size = 1 << 40
    out.append(("huge_shape", request.SerializeToString()))

    request = predict_pb2.PredictRequest()
    request.CopyFrom(base)
    request.inputs["title"].tensor_shape.dim[0].size = 2
    request.inputs["title"].string_val[:] = [b"one", b"two"]
    out.append(("ragged_batch", request.SerializeToString()))

    out.append(("garbage_bytes", b"\xff\xfe not a protobuf \x00\x01\x02" * 4))
    assert [k for k, _ in out] == list(EXPECTED_CODES)
    return out
