"""The REST API over the pushed model, and clients (REST and gRPC) that send only some product fields."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
from server_fixtures import assert_same_predictions
from server_fixtures import base_copy, expected, products, server, stubs, target  # noqa: F401 (fixtures)

from prodcat.records import Product
from prodcat.serving.client import build_predict_request
from prodcat.serving.predict import Predictor, resolve_model_dir
from prodcat.serving.server import ModelServer
from prodcat.serving.tensor_codec import ndarray_to_tensor_proto, tensor_proto_to_ndarray


def _rest_post(server: ModelServer, path: str, payload: object) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{server.rest_port}{path}", data=json.dumps(payload).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _instance(p: Product, width: int = 8) -> dict:
    import base64

    return {"id": p.id, "title": p.title, "description": p.description, "vendor": p.vendor, "product_type": p.product_type,
            "shop": p.shop, "language": p.language, "image": {"b64": base64.b64encode(p.image or b"").decode()},
            "tags": (p.tags + [""] * width)[:width], "collections": (p.collections + [""] * width)[:width]}


def tf_example_bytes(**fields: str) -> bytes:
    import tensorflow as tf

    feature = {k: tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode()])) for k, v in fields.items()}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@pytest.mark.slow
def test_clients_send_only_the_fields_they_have(server: ModelServer, stubs, products) -> None:
    """REST rows with a subset of the product fields (no signature named), gRPC `serving_raw` with
    only some inputs, `serving_default` with tf.Examples of only a title: each answers as the full
    product with those fields empty would."""
    from prodcat.contract.signatures import predictions_from_outputs

    few = [Product(p.id, p.title, tags=p.tags[:2]) for p in products[:4]]
    full = Predictor(server.options.model_base_path).predict(few)
    rows = [{"id": p.id, "title": p.title, **({"tags": p.tags} if p.tags else {})} for p in few]
    status, body = _rest_post(server, "/v1/models/prodcat:predict", {"instances": rows})
    assert status == 200, body
    columns = {name: np.array([row[name] for row in body["predictions"]], dtype=object) for name in body["predictions"][0]}
    columns["level_confidences"] = columns["level_confidences"].astype(np.float32)
    assert_same_predictions(predictions_from_outputs([p.id for p in few], columns), full)

    predictions, _ = stubs
    response = predictions.Predict(build_predict_request(few, raw_input_names=["id", "title"]), timeout=60)
    outputs = {name: tensor_proto_to_ndarray(proto) for name, proto in response.outputs.items()}
    titles_only = Predictor(server.options.model_base_path).predict([Product(p.id, p.title) for p in few])
    assert_same_predictions(predictions_from_outputs([p.id for p in few], outputs), titles_only)
    with pytest.raises(grpc.RpcError) as err:
        predictions.Predict(build_predict_request(few, raw_input_names=["id", "tags"]), timeout=60)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "'title' is required" in err.value.details()

    no_title = tf_example_bytes(description="soft, washable")
    request = build_predict_request([], signature_name="serving_default")
    request.inputs["examples"].CopyFrom(ndarray_to_tensor_proto(np.array([no_title], dtype=object)))
    with pytest.raises(grpc.RpcError) as err:
        predictions.Predict(request, timeout=60)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "no feature 'title'" in err.value.details()
    assert "Graph execution" not in err.value.details() and "node" not in err.value.details()

    status, body = _rest_post(server, "/v1/models/prodcat:predict", {"instances": [{"title": "dog \ud800 bed"}]})
    assert status == 400 and "not valid Unicode" in body["error"]  # a lone surrogate is the client's error, not a 500


@pytest.mark.slow
def test_rest_predict_rows_and_columns_equal_the_predictor(server: ModelServer, products, expected) -> None:
    from prodcat.contract.signatures import predictions_from_outputs

    ids = [p.id for p in products]
    status, rows = _rest_post(server, "/v1/models/prodcat:predict", {"signature_name": "serving_raw", "instances": [_instance(p) for p in products]})
    assert status == 200, rows
    columns = {name: np.array([row[name] for row in rows["predictions"]], dtype=object) for name in rows["predictions"][0]}
    columns["level_confidences"] = columns["level_confidences"].astype(np.float32)
    assert_same_predictions(predictions_from_outputs(ids, columns), expected[False])

    instances = [_instance(p) for p in products]
    inputs = {name: [inst[name] for inst in instances] for name in instances[0]}
    version = resolve_model_dir(server.options.model_base_path).name
    status, cols = _rest_post(server, f"/v1/models/prodcat/versions/{version}:predict", {"signature_name": "serving_raw", "inputs": inputs})
    assert status == 200, cols
    outputs = {name: np.array(value, dtype=np.float32 if name == "level_confidences" else object) for name, value in cols["outputs"].items()}
    assert_same_predictions(predictions_from_outputs(ids, outputs, full_depth=True), expected[True])

    assert _rest_post(server, "/v1/models/nope:predict", {"instances": [1]})[0] == 404
    assert _rest_post(server, "/v1/models/prodcat:predict", {"signature_name": "serving_raw", "instances": [{"title": 1}]})[0] == 400
    bad_json = urllib.request.Request(f"http://127.0.0.1:{server.rest_port}/v1/models/prodcat:predict", data=b"{nope", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(bad_json, timeout=10)
    assert err.value.code == 400 and "error" in json.loads(err.value.read())
    assert _rest_post(server, "/v1/models/prodcat:predict", {"signature_name": "nope", "instances": [_instance(products[0])]})[0] == 404
    status, body = _rest_post(server, "/v1/models/prodcat:predict", {"signature_name": "serving_raw", "instances": [_instance(products[0])] * 65})
    assert status == 400 and "--max_batch_rows" in body["error"]
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=10)  # a body over --max_request_bytes
    connection.putrequest("POST", "/v1/models/prodcat:predict")
    connection.putheader("Content-Length", str(5 * 1024 * 1024))
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 413 and "--max_request_bytes" in json.loads(response.read())["error"]
    connection.close()
    assert _rest_post(server, "/v1/models/prodcat:predict", {"signature_name": "serving_raw", "instances": [_instance(products[0])]})[0] == 200
