"""Reading a version's TF Serving warm-up requests (`assets.extra/tf_serving_warmup_requests`,
written by the Trainer: `trainer/warmup.py`), which `prodcat serve` replays before a version answers.

The file is a TFRecord of `PredictionLog` protos, each holding a `PredictLog.request`; TF Serving
reads at most 1000 of them.
"""

from __future__ import annotations

import os
from pathlib import Path

from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from prodcat.contract.signatures import ASSETS_EXTRA, MAX_WARMUP_RECORDS, WARMUP_ASSET


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
    import tensorflow as tf

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


def read_signature_defs(model_version_dir: str | os.PathLike) -> dict:
    """The `serve` MetaGraph's SignatureDefs, read from saved_model.pb without loading the graph."""
    from tensorflow.core.protobuf import saved_model_pb2

    path = Path(model_version_dir) / "saved_model.pb"
    saved_model = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    for meta_graph in saved_model.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return dict(meta_graph.signature_def)
    raise ValueError(f"{path}: no MetaGraph tagged 'serve'")
