"""The tensor codec and the client's raw predict requests (no model)."""

from __future__ import annotations

import numpy as np
import pytest
from tensorflow.core.framework import tensor_pb2, types_pb2

from prodcat.images import normalize_image
from prodcat.records import Product
from prodcat.serving.client import build_predict_request
from prodcat.serving.tensor_codec import TensorDecodeError, TensorTooLargeError, ndarray_to_tensor_proto, tensor_proto_to_ndarray


def test_tensor_codec_round_trips_and_rejects_bad_protos() -> None:
    strings = np.array([[b"a", "b\u00e9".encode()], [b"", b"\x00\xff"]], dtype=object)
    assert tensor_proto_to_ndarray(ndarray_to_tensor_proto(strings)).tolist() == strings.tolist()
    floats = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(tensor_proto_to_ndarray(ndarray_to_tensor_proto(floats)), floats)

    short = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[b"x"])
    short.tensor_shape.dim.add(size=3)
    assert tensor_proto_to_ndarray(short).tolist() == [b"x"] * 3  # TensorFlow repeats the last value
    too_many = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[b"x", b"y"])
    too_many.tensor_shape.dim.add(size=1)
    huge = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[b"x"])
    huge.tensor_shape.dim.add(size=10**12)
    unknown = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING)
    unknown.tensor_shape.unknown_rank = True
    bad_content = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_content=b"\x00" * 5)
    bad_content.tensor_shape.dim.add(size=2)
    for proto in (too_many, huge, unknown, bad_content):
        with pytest.raises(TensorDecodeError):
            tensor_proto_to_ndarray(proto, max_elements=1000)

    # A short value list fills its shape with the last value: bounded by what it decodes to.
    bomb = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[b"a", b"x" * 1000])
    bomb.tensor_shape.dim.add(size=100)
    with pytest.raises(TensorTooLargeError, match="decodes to 99001 bytes"):  # 1 + 99 * 1000
        tensor_proto_to_ndarray(bomb, max_bytes=99_000)
    assert tensor_proto_to_ndarray(bomb, max_bytes=99_001).shape == (100,)
    zeros = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT)
    zeros.tensor_shape.dim.add(size=1000)
    with pytest.raises(TensorTooLargeError, match="4000 bytes"):
        tensor_proto_to_ndarray(zeros, max_bytes=3999)
    assert not tensor_proto_to_ndarray(zeros, max_bytes=4000).any()


def test_raw_requests_pad_list_fields_and_re_encode_images_as_ingestion_does() -> None:
    import io

    from PIL import Image

    png = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(png, format="PNG")
    products = [Product("a", "A", tags=["x"], image=b"\x89PNG"),
                Product("b", "B", tags=[f"t{i}" for i in range(20)], image=png.getvalue())]
    request = build_predict_request(products, raw_input_names=["id", "image", "tags", "title"])
    tags = tensor_proto_to_ndarray(request.inputs["tags"])
    assert tags.shape == (2, 32) and tags[0, 0] == b"x" and tags[0, 1] == b"" and tags[1, 19] == b"t19"
    # the JPEG ExampleGen would have stored; an undecodable image travels as none, as in `prodcat predict`
    assert tensor_proto_to_ndarray(request.inputs["image"]).tolist() == [b"", normalize_image(png.getvalue())]
    assert tensor_proto_to_ndarray(build_predict_request(products[:1], raw_input_names=["tags"]).inputs["tags"]).shape == (1, 16)
