"""The gRPC API over the pushed model: predictions, model spec, status and metadata as TF Serving answers, malformed requests."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import pytest
from server_fixtures import assert_same_predictions
from server_fixtures import base_copy, client, expected, products, server, stubs, target  # noqa: F401 (fixtures)
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, predict_pb2

from prodcat.records import Product
from prodcat.serving.client import PredictionClient, PredictionError, build_predict_request
from prodcat.serving.predict import resolve_model_dir
from prodcat.serving.server import ModelServer
from prodcat.serving.tensor_codec import ndarray_to_tensor_proto


@pytest.mark.slow
def test_grpc_predictions_equal_the_predictor(client: PredictionClient, products, expected, base_copy: Path) -> None:
    version, got = client.predict_with_version(products)
    assert version == int(resolve_model_dir(base_copy).name)
    assert_same_predictions(got, expected[False])
    assert_same_predictions(client.predict(products, full_depth=True), expected[True])
    assert_same_predictions(client.predict(products, signature_name="serving_default"), expected[False])


@pytest.mark.slow
def test_response_model_spec_and_output_filter(stubs, products, base_copy: Path) -> None:
    predictions, _ = stubs
    request = build_predict_request(products[:2], signature_name="serving_default", output_filter=["depth"])
    request.model_spec.signature_name = ""  # empty means serving_default, like TF Serving
    response = predictions.Predict(request, timeout=30)
    assert list(response.outputs) == ["depth"] and list(response.outputs["depth"].tensor_shape.dim[0:1])[0].size == 2
    assert response.model_spec.name == "prodcat" and response.model_spec.signature_name == "serving_default"
    assert response.model_spec.version.value == int(resolve_model_dir(base_copy).name)


@pytest.mark.slow
def test_status_and_metadata_answer_like_tf_serving(client: PredictionClient, stubs, server: ModelServer, base_copy: Path) -> None:
    version = int(resolve_model_dir(base_copy).name)
    (status,) = client.model_status()
    assert (status.version, status.state, status.error_code, status.error_message) == (version, "AVAILABLE", "OK", "")
    assert client.model_status(version)[0].state == "AVAILABLE"

    _, models = stubs
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "prodcat"
    raw = models.GetModelStatus(request, timeout=10)
    assert raw.model_version_status[0].state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert raw.model_version_status[0].status.error_code == 0

    metadata = client.metadata()
    assert metadata.version == version and metadata.name == "prodcat"
    assert {"serving_default", "serving_raw", "transform_features"} <= set(metadata.signatures)
    raw_sig = metadata.signatures["serving_raw"]
    assert raw_sig.method_name == "tensorflow/serving/predict"
    assert raw_sig.inputs["title"].dtype == "DT_STRING" and raw_sig.inputs["title"].shape == (None,)
    assert raw_sig.inputs["tags"].shape == (None, None)
    assert raw_sig.outputs["level_confidences"].dtype == "DT_FLOAT" and raw_sig.outputs["level_confidences"].shape == (None, 7)
    predictions, _ = stubs
    meta_request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    meta_request.model_spec.name = "prodcat"
    any_proto = predictions.GetModelMetadata(meta_request, timeout=10).metadata["signature_def"]
    assert any_proto.type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap"

    rest = f"http://127.0.0.1:{server.rest_port}/v1/models/prodcat"
    body = json.loads(urllib.request.urlopen(rest, timeout=10).read())
    assert body == {"model_version_status": [{"version": str(version), "state": "AVAILABLE",
                                              "status": {"error_code": "OK", "error_message": ""}}]}
    meta = json.loads(urllib.request.urlopen(rest + "/metadata", timeout=10).read())
    assert meta["model_spec"]["version"] == str(version)
    title = meta["metadata"]["signature_def"]["signature_def"]["serving_raw"]["inputs"]["title"]
    assert title["dtype"] == "DT_STRING" and title["tensor_shape"] == {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False}
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{server.rest_port}/monitoring/prometheus/metrics", timeout=10).read().decode()
    assert f'prodcat_serving_model_version{{model_name="prodcat"}} {version}' in metrics


def _malformed_requests(products: list[Product], version: int) -> list[tuple[str, predict_pb2.PredictRequest, grpc.StatusCode]]:
    def raw(**spec: object) -> predict_pb2.PredictRequest:
        request = build_predict_request(products[:2], raw_input_names=sorted(
            ["id", "title", "description", "vendor", "product_type", "tags", "collections", "shop", "image", "language"]))
        for key, value in spec.items():
            if key == "version":
                request.model_spec.version.value = value
            else:
                setattr(request.model_spec, key, value)
        return request

    cases = []
    request = raw()
    request.inputs["colour"].CopyFrom(request.inputs["title"])
    cases.append(("unknown input name", request, grpc.StatusCode.INVALID_ARGUMENT))
    request = raw()
    request.inputs["title"].CopyFrom(ndarray_to_tensor_proto(np.zeros(2, np.float32)))
    cases.append(("wrong dtype", request, grpc.StatusCode.INVALID_ARGUMENT))
    request = raw()
    del request.inputs["title"]
    cases.append(("missing input", request, grpc.StatusCode.INVALID_ARGUMENT))
    request = raw()
    request.inputs["title"].CopyFrom(ndarray_to_tensor_proto(np.array([[b"a", b"b"]], dtype=object)))
    cases.append(("bad rank", request, grpc.StatusCode.INVALID_ARGUMENT))
    request = raw()
    request.inputs["title"].CopyFrom(ndarray_to_tensor_proto(np.array([b"a", b"b", b"c"], dtype=object)))
    cases.append(("batch sizes differ", request, grpc.StatusCode.INVALID_ARGUMENT))
    request = raw()
    request.inputs["title"].string_val.append(b"one too many")
    cases.append(("undecodable tensor", request, grpc.StatusCode.INVALID_ARGUMENT))
    request = raw()
    request.output_filter.append("nonexistent")
    cases.append(("unknown output", request, grpc.StatusCode.INVALID_ARGUMENT))
    cases.append(("missing model", raw(name="nope"), grpc.StatusCode.NOT_FOUND))
    cases.append(("unknown version", raw(version=version + 1), grpc.StatusCode.NOT_FOUND))
    cases.append(("unknown signature", raw(signature_name="nope"), grpc.StatusCode.NOT_FOUND))
    cases.append(("unknown version label", raw(version_label="stable"), grpc.StatusCode.INVALID_ARGUMENT))
    cases.append(("sparse output", build_predict_request(products[:2], signature_name="transform_features"), grpc.StatusCode.UNIMPLEMENTED))
    request = raw()
    request.inputs["title"].string_val[0] = b"x" * (5 * 1024 * 1024)
    cases.append(("oversized request", request, grpc.StatusCode.RESOURCE_EXHAUSTED))  # over --max_request_bytes on the wire
    request = raw()
    request.inputs["title"].string_val[:] = [b"x" * 100_000]
    for proto in request.inputs.values():
        proto.tensor_shape.dim[0].size = 64  # 64 rows, the last value repeated: 6.4 MB of titles from a 100 kB request
    cases.append(("decodes past max_request_bytes", request, grpc.StatusCode.RESOURCE_EXHAUSTED))
    request = raw()
    for proto in request.inputs.values():
        proto.tensor_shape.dim[0].size = 65
    cases.append(("more rows than max_batch_rows", request, grpc.StatusCode.INVALID_ARGUMENT))
    request = raw()
    request.inputs["title"].tensor_shape.dim.add(size=1 << 22)  # [2, 4M]: one value would fill 8M elements
    cases.append(("expands past max elements", request, grpc.StatusCode.INVALID_ARGUMENT))
    request = raw()
    request.inputs["title"].tensor_content = b"ab"
    cases.append(("string in tensor_content", request, grpc.StatusCode.INVALID_ARGUMENT))
    request = raw()
    request.inputs["title"].tensor_shape.dim[0].size = -1
    cases.append(("negative dimension", request, grpc.StatusCode.INVALID_ARGUMENT))
    request = raw()
    request.inputs["title"].tensor_shape.unknown_rank = True
    cases.append(("unknown rank", request, grpc.StatusCode.INVALID_ARGUMENT))
    request = raw()
    request.inputs["title"].dtype = types_pb2.DT_INVALID
    cases.append(("invalid dtype", request, grpc.StatusCode.INVALID_ARGUMENT))
    request = raw()
    request.inputs["title"].dtype = 12345  # not a DataType
    cases.append(("unknown dtype number", request, grpc.StatusCode.INVALID_ARGUMENT))
    request = raw()
    request.ClearField("model_spec")
    cases.append(("no model_spec", request, grpc.StatusCode.INVALID_ARGUMENT))
    return cases


@pytest.mark.slow
def test_malformed_requests_get_the_right_status_codes_and_the_server_keeps_serving(
    stubs, client: PredictionClient, products, expected, base_copy: Path,
) -> None:
    predictions, models = stubs
    version = int(resolve_model_dir(base_copy).name)
    gap = build_predict_request(products[:1], signature_name="serving_raw")
    tags = gap.inputs["tags"]
    if len(tags.string_val) >= 2:  # padding before a real value ("", "x") is accepted, not an error
        tags.string_val[0], tags.string_val[1] = b"", b"x"
        gap.model_spec.name = "prodcat"
        assert predictions.Predict(gap, timeout=30).outputs["category_id"].string_val
    codes = {}
    for name, request, _ in _malformed_requests(products, version):
        with pytest.raises(grpc.RpcError) as err:
            predictions.Predict(request, timeout=30)
        codes[name] = err.value.code()
    assert codes == {name: code for name, _, code in _malformed_requests(products, version)}

    meta = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["bogus"])
    meta.model_spec.name = "prodcat"
    with pytest.raises(grpc.RpcError) as err:
        predictions.GetModelMetadata(meta, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    for spec in ({"name": "nope"}, {"name": "prodcat", "version": version + 1}):
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = spec["name"]
        if "version" in spec:
            request.model_spec.version.value = spec["version"]
        with pytest.raises(grpc.RpcError) as err:
            models.GetModelStatus(request, timeout=10)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(PredictionError) as typed:
        PredictionClient(client.target, "nope").model_status()
    assert typed.value.code == grpc.StatusCode.NOT_FOUND

    assert_same_predictions(client.predict(products[:5]), expected[False][:5])  # still serving
