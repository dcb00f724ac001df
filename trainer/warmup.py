"""TF Serving warm-up requests written into each exported version (`assets.extra/tf_serving_warmup_requests`).

TF Serving (and `prodcat serve`) replays these PredictionLogs when it loads a version, before the
version answers traffic, so the first real request does not pay for graph initialisation. The
requests are built from the serving contract, exactly as clients build theirs.
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
    path = Path(model_version_dir) / ASSETS_EXTRA / WARMUP_ASSET
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tf.io.TFRecordWriter(str(tmp)) as writer:
        for record in records:
            writer.write(record.SerializeToString())
    os.replace(tmp, path)  # a new file, never rewritten in place (version dirs may be hard-linked copies)
    return path
