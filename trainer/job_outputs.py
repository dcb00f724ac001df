"""The files a training job writes beside the serving SavedModel, and each worker's weights digest.

One job: the export's assets.extra (taxonomy, config, training summary: the model carries what it
was trained with, for tools and audits), TF Serving's warm-up requests, and in a local multi-worker
run each worker's digest of its final weights, by which the Trainer checks that the workers agree.
"""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import tensorflow as tf

from prodcat.contract.signatures import ASSETS_EXTRA, CONFIG_ASSET, TAXONOMY_ASSET, TRAINING_SUMMARY_ASSET, WARMUP_PRODUCTS
from prodcat.contract.warmup import write_warmup_requests
from prodcat.module_config import ModuleConfig
from prodcat.trainer.local_cluster import WORKER_DIGESTS

_LOG = logging.getLogger("prodcat.trainer")


def weights_digest(model: tf.keras.Model) -> str:
    import hashlib

    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()


def _write_digest(model_run_dir: str, worker_index: int, model: tf.keras.Model) -> None:
    folder = os.path.join(model_run_dir, WORKER_DIGESTS)
    tf.io.gfile.makedirs(folder)
    record = {"worker": worker_index, "digest": weights_digest(model),
              "parameters": int(sum(np.size(w) for w in model.get_weights()))}
    with tf.io.gfile.GFile(os.path.join(folder, f"worker-{worker_index}.json"), "w") as handle:
        handle.write(json.dumps(record))


def _write_warmup(export_dir: str, raw_input_names: list[str]) -> None:
    """TF Serving replays assets.extra/tf_serving_warmup_requests on load: no slow first request."""
    if "://" in export_dir:  # the warm-up writer works on local paths; cluster exports skip it
        _LOG.info("no warm-up requests written for remote export %s", export_dir)
        return
    write_warmup_requests(export_dir, WARMUP_PRODUCTS, raw_input_names)


def _write_assets(export_dir: str, module_config: ModuleConfig, summary: dict) -> None:
    """The taxonomy and thresholds travel with the model (assets.extra), for tools and audits."""
    extra = os.path.join(export_dir, ASSETS_EXTRA)
    tf.io.gfile.makedirs(extra)
    with tf.io.gfile.GFile(os.path.join(extra, TAXONOMY_ASSET), "w") as handle:
        handle.write(module_config.taxonomy().to_google_text())
    with tf.io.gfile.GFile(os.path.join(extra, CONFIG_ASSET), "w") as handle:
        handle.write(module_config.config.model_dump_json(indent=2))
    with tf.io.gfile.GFile(os.path.join(extra, TRAINING_SUMMARY_ASSET), "w") as handle:
        handle.write(json.dumps(summary, indent=2))
