"""TF Serving warm-up requests (`assets.extra/tf_serving_warmup_requests`): the file format, written
into each exported version by the Trainer and replayed by `prodcat serve` before a version answers.

TF Serving does the same on load, so the first real request does not pay for graph initialisation.
The file is a TFRecord of `PredictionLog` protos, each holding a `PredictLog.request` built from the
serving contract exactly as clients build theirs; TF Serving reads at most 1000 of them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from prodcat.contract.examples import products_to_serialized
from prodcat.contract.signatures import (
    ASSETS_EXTRA,
    EXAMPLES_INPUT,
    EXAMPLES_SIGNATURE,
    MAX_WARMUP_RECORDS,
    RAW_SIGNATURE,
    WARMUP_ASSET,
    object_array,
    raw_inputs,
)
from prodcat.records import Product


def warmup_path(model_version_dir: str | os.PathLike) -> Path:
    return Path(model_version_dir) / ASSETS_EXTRA / WARMUP_ASSET


def read_warmup_requests(model_version_dir: str | os.PathLike) -> list[predict_pb2.PredictRequest]:
    """The warm-up PredictRequests of a version ([] without a warm-up file).

    Raises ValueError for a record that is not a PredictionLog with a predict_log (TF Serving
    fails the load on those too) and tf.errors.DataLossError for a corrupt file.
    """
    path = warmup_path(model_version_dir)
    if not path.is_file():
        return []
    requests = []
    for index, record in enumerate(tf.data.TFRecordDataset(str(path)).take(MAX_WARMUP_RECORDS)):
        log = prediction_log_pb2.PredictionLog()
        try:
            log.ParseFromString(record.numpy())
        except Exception as err:  # protobuf's DecodeError
            raise ValueError(f"{path}: record {index} is not a PredictionLog ({err})") from None
        if log.WhichOneof("log_type") != "predict_log":
            raise ValueError(f"{path}: record {index} is a {log.WhichOneof('log_type')}; only predict_log warm-up is supported")
        requests.append(log.predict_log.request)
    return requests


def write_warmup_requests(
    model_version_dir: str | os.PathLike, products: Sequence[Product], raw_input_names: Sequence[str], *,
    model_name: str = "prodcat", batch_sizes: Sequence[int] = (1, 32),
) -> Path:
    """Writes one request per signature in (`serving_raw`, `serving_default`) and batch size (the
    first N products); returns the file. `raw_input_names` are the exported `serving_raw` inputs, so
    the requests always fit the model they warm up. Written to a temporary name, then renamed."""
    if not products:
        raise ValueError("warm-up needs at least one product")
    sizes = sorted({min(max(1, int(n)), len(products)) for n in batch_sizes})
    records = []
    for name in (RAW_SIGNATURE, EXAMPLES_SIGNATURE):
        for size in sizes:
            batch = list(products[:size])
            if name == RAW_SIGNATURE:
                inputs = raw_inputs(batch, sorted(raw_input_names))
            else:
                inputs = {EXAMPLES_INPUT: object_array(products_to_serialized(batch))}
            request = predict_pb2.PredictRequest()
            request.model_spec.name = model_name
            request.model_spec.signature_name = name
            for key, array in inputs.items():
                request.inputs[key].CopyFrom(tf.make_tensor_proto(array))
            records.append(prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request)))
    if len(records) > MAX_WARMUP_RECORDS:
        raise ValueError(f"{len(records)} warm-up requests; TF Serving reads at most {MAX_WARMUP_RECORDS}")
    path = warmup_path(model_version_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tf.io.TFRecordWriter(str(tmp)) as writer:
        for record in records:
            writer.write(record.SerializeToString())
    os.replace(tmp, path)  # a new file, never rewritten in place (version dirs may be hard-linked copies)
    return path
