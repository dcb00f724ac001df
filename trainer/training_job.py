"""One training job end to end: train on the transformed examples and export the serving model.

One job: `train_job` is what the TFX Trainer process (`run.run_fn`) and each local worker process
(local_cluster.py) run: configure the distribution strategy, read the data, train, build the
decoder and signatures, and export (the chief to `serving_model_dir`, with its assets and warm-up
requests; other workers elsewhere, or they wait for the chief's export).
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from prodcat.config import Config
from prodcat.module_config import ModuleConfig
from prodcat.trainer import distribution
from prodcat.trainer.model import model_decoder
from prodcat.trainer.input_data import tfrecord_dataset_factory, training_datasets
from prodcat.trainer.job_outputs import _write_assets, _write_digest, _write_warmup
from prodcat.trainer.local_cluster import TrainingJob
from prodcat.trainer.model import label_embeddings, model_feature_dims
from prodcat.trainer.signatures import make_signatures, save_serving_model, serving_feature_spec
from prodcat.trainer.training import train


def train_job(job: TrainingJob, dataset_factory=tfrecord_dataset_factory, worker_index: int | None = None) -> None:  # noqa: ANN001
    """Trains and exports one model; the same code in the Trainer process and in each worker."""
    module_config = ModuleConfig.from_custom_config(job.custom_config)  # plain Python, no TF yet
    # First TF call: a multi-worker strategy must configure collective ops before any other.
    strategy = distribution.strategy_from_environment(module_config.config.training.collective_timeout_s)
    config, taxonomy = module_config.config, module_config.taxonomy()
    tft_output = tft.TFTransformOutput(job.transform_output)
    level_sizes = taxonomy.level_sizes()
    train_data, eval_data, category_layout = training_datasets(
        config, taxonomy, tft_output, job.train_files, job.eval_files, dataset_factory)
    model, summary = train(
        config, level_sizes, train_data, eval_data,
        feature_dims=model_feature_dims(tft_output.transformed_feature_spec()),
        label_vectors=_label_vectors(config, taxonomy),
        log_dir=os.path.join(job.model_run_dir, "tensorboard"),
        backup_dir=os.path.join(job.model_run_dir, "backup"), strategy=strategy, category_layout=category_layout,
    )
    decoder = model_decoder(model, taxonomy, config.thresholds)
    signatures = make_signatures(model, tft_output, decoder)
    chief = distribution.is_chief()
    export_dir = job.serving_model_dir if chief else os.path.join(job.model_run_dir, f"worker_export_{worker_index}")
    save_serving_model(model, export_dir, signatures)
    if chief:
        _write_assets(export_dir, module_config, summary)
        _write_warmup(export_dir, sorted(serving_feature_spec(tft_output)))
    if worker_index is not None:
        _write_digest(job.model_run_dir, worker_index, model)
    elif not chief:
        _wait_for_chief_export(job.serving_model_dir)


def _wait_for_chief_export(serving_model_dir: str, timeout_s: float = 1800.0) -> None:
    """On a managed cluster every replica runs the TFX Trainer executor, which fails a replica
    whose serving_model_dir is missing when run_fn returns; only the chief writes it."""
    import time

    marker = os.path.join(serving_model_dir, "saved_model.pb")
    deadline = time.time() + timeout_s
    while not tf.io.gfile.exists(marker):
        if time.time() > deadline:
            raise TimeoutError(f"the chief did not export {marker} within {timeout_s:.0f} s")
        time.sleep(5)


def _label_vectors(config: Config, taxonomy) -> list[np.ndarray] | None:  # noqa: ANN001
    """Embeddings of the category names with the run's own text encoder (label semantics)."""
    if not config.model.label_semantics or config.text.encoder.kind == "none":
        return None
    from prodcat.trainer.encoders.text import text_encoder

    return label_embeddings(taxonomy, text_encoder(config.text.encoder))
