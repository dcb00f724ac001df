"""numpy <-> TensorProto, as TF Serving encodes tensors: the one codec of the client and the server.

Decoding never evaluates data and bounds what a small proto may expand to (TF Serving's repeat-
the-last-value rule makes a 1 MB string over a [1000] shape 1 GB), so the server can check a
request before it allocates it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2


class TensorDecodeError(ValueError):
    """A TensorProto that does not describe a valid tensor."""


class TensorTooLargeError(TensorDecodeError):
    """A valid TensorProto that would decode to more than the caller allows (`max_bytes`)."""


def ndarray_to_tensor_proto(array: Any) -> tensor_pb2.TensorProto:
    """A numpy array (strings as bytes/str objects) as a TensorProto, like TF Serving writes it."""
    array = np.asarray(array)
    proto = tensor_pb2.TensorProto()
    proto.tensor_shape.CopyFrom(_shape_proto(array.shape))
    if array.dtype == object or array.dtype.kind in "SU":
        proto.dtype = types_pb2.DT_STRING
        proto.string_val.extend(v if isinstance(v, bytes) else str(v).encode("utf-8") for v in array.ravel().tolist())
        return proto
    import tensorflow as tf

    proto.dtype = tf.as_dtype(array.dtype).as_datatype_enum
    proto.tensor_content = np.ascontiguousarray(array).tobytes()
    return proto


def _shape_proto(shape: Iterable[int]) -> tensor_shape_pb2.TensorShapeProto:
    return tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=int(d)) for d in shape])


def dtype_name(dtype: int) -> str:
    """"DT_FLOAT" for a DataType enum value (the value itself when unknown)."""
    return types_pb2.DataType.Name(dtype) if dtype in types_pb2.DataType.values() else str(dtype)


def tensor_proto_to_ndarray(proto: tensor_pb2.TensorProto, max_elements: int | None = None, max_bytes: int | None = None) -> np.ndarray:
    """A TensorProto as a numpy array (strings as an object array of bytes); never evaluates data.

    Follows TensorFlow's rules: a value list shorter than the shape repeats its last value, an
    empty one means zeros / empty strings, a longer one is an error. `max_elements` and `max_bytes`
    (string bytes, or elements times the dtype's size) bound what a small proto may expand to:
    one 1 MB string repeated over a [1000] shape is 1 GB once TensorFlow copies it
    (`TensorTooLargeError`).
    """
    if proto.tensor_shape.unknown_rank:
        raise TensorDecodeError("tensor has unknown rank")
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    if any(d < 0 for d in shape):
        raise TensorDecodeError(f"tensor has a negative dimension: {list(shape)}")
    count = math.prod(shape)
    if max_elements is not None and count > max_elements:
        raise TensorDecodeError(f"tensor of shape {list(shape)} has {count} elements (at most {max_elements} allowed)")
    if proto.dtype == types_pb2.DT_STRING:
        if proto.tensor_content:
            raise TensorDecodeError("string tensor with tensor_content (strings travel in string_val)")
        values = list(proto.string_val)
        if len(values) > count:
            raise TensorDecodeError(f"tensor of shape {list(shape)} holds {count} values but {len(values)} were sent")
        if max_bytes is not None:
            size = string_tensor_bytes(proto)
            if size > max_bytes:
                raise TensorTooLargeError(f"string tensor of shape {list(shape)} decodes to {size} bytes (at most {max_bytes} allowed)")
        if len(values) < count:
            values += [values[-1] if values else b""] * (count - len(values))
        array = np.empty(count, dtype=object)
        array[:] = values
        return array.reshape(shape)
    if proto.dtype in (types_pb2.DT_INVALID, types_pb2.DT_VARIANT, types_pb2.DT_RESOURCE) or proto.dtype >= 100:
        raise TensorDecodeError(f"unsupported tensor dtype {dtype_name(proto.dtype)}")
    import tensorflow as tf

    try:
        dtype = tf.as_dtype(proto.dtype)
        if max_bytes is not None and count * dtype.size > max_bytes:
            raise TensorTooLargeError(f"{dtype.name} tensor of shape {list(shape)} decodes to {count * dtype.size} bytes (at most {max_bytes} allowed)")
        if proto.tensor_content and len(proto.tensor_content) != count * dtype.size:
            raise TensorDecodeError(f"tensor_content has {len(proto.tensor_content)} bytes, shape {list(shape)} of {dtype.name} needs {count * dtype.size}")
        return tf.make_ndarray(proto)
    except TensorDecodeError:
        raise
    except (TypeError, ValueError) as err:
        raise TensorDecodeError(f"undecodable tensor: {err}") from None


def string_tensor_bytes(proto: tensor_pb2.TensorProto) -> int:
    """The bytes a DT_STRING TensorProto's values add up to once its last value fills the shape."""
    count = math.prod(d.size for d in proto.tensor_shape.dim)
    values = proto.string_val
    return sum(map(len, values)) + max(0, count - len(values)) * (len(values[-1]) if values else 0)
