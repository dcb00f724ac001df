"""TFX Trainer entry point (`run_fn`): trains the hierarchical model and exports the serving model."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx_bsl.public import tfxio

from prodcat import features as F
from prodcat.config import Config, ModelConfig
from prodcat.contract.signatures import ASSETS_EXTRA, CONFIG_ASSET, TAXONOMY_ASSET, TRAINING_SUMMARY_ASSET, WARMUP_PRODUCTS
from prodcat.contract.warmup import write_warmup_requests
from prodcat.module_config import ModuleConfig
from prodcat.trainer import distribution
from prodcat.trainer.callbacks import training_callbacks
from prodcat.trainer.decoding import model_decoder
from prodcat.trainer.local_cluster import WORKER_DIGESTS, TrainingJob, run_local_cluster
from prodcat.trainer.losses import compile_model
from prodcat.trainer.margin import MarginHead, TrainingFeatures, choose_weight, mixed_layers, with_margin_head
from prodcat.trainer.model import build_model, label_embeddings, model_feature_dims
from prodcat.trainer.sampling import (
    CATEGORY_LABEL, SAMPLING_POWER, CategoryLayout, resample_by_category, target_distribution,
)
from prodcat.trainer.signatures import make_signatures, save_serving_model, serving_feature_spec
from prodcat.trainer.statistics import TrainingStatistics, class_weights

if TYPE_CHECKING:  # a training worker need not import TFX's components (minutes of a restart on a busy host)
    from tfx import v1 as tfx

_LOG = logging.getLogger("prodcat.trainer")

# Training products the decoder compares each product with (name_fallback_classes: auto): 4,096
# sentence embeddings, 8 MB in the export, one small matrix product per product served.
NOVELTY_SAMPLE_SIZE = 4096

# Builds and compiles the network `train` fits, from the training statistics (called under the
# distribution strategy's scope). The product's is `per_level_network`; benchmarks pass others.
NetworkBuilder = Callable[[Config, Sequence[int], dict, Sequence[np.ndarray] | None, TrainingStatistics],
                          tf.keras.Model]


def tfrecord_dataset_factory(files: list[str], options: tfxio.TensorFlowDatasetOptions, schema) -> tf.data.Dataset:  # noqa: ANN001
    """The dataset factory a worker process uses (the Trainer's DataAccessor reads the same files)."""
    return tfxio.TFExampleRecord(file_pattern=files, schema=schema, telemetry_descriptors=["prodcat"]).TensorFlowDataset(options)


def input_dataset(
    file_pattern: list[str], dataset_factory, tft_output: tft.TFTransformOutput,  # noqa: ANN001
    n_levels: int, batch_size: int, shuffle: bool, seed: int, category_layout: CategoryLayout | None = None,
) -> tf.data.Dataset:
    """(features, per-level labels) batches of transformed examples, one pass; with
    `category_layout`, the labels also carry each product's own category (`CATEGORY_LABEL`).

    Sharding is by data, not by file: a split is often a single file, and every worker must see
    its share of it under MultiWorkerMirroredStrategy.
    """
    dataset = dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, num_epochs=1, shuffle=shuffle, shuffle_seed=seed),
        tft_output.transformed_metadata.schema,
    )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = dataset.with_options(options)

    inputs = model_feature_dims(tft_output.transformed_feature_spec())

    def split(features: dict) -> tuple[dict, dict]:
        labels = {F.level_output(k): features[F.level_label(k)] for k in range(1, n_levels + 1)}
        if category_layout is not None:
            labels[CATEGORY_LABEL] = category_layout.category_label([labels[F.level_output(k)] for k in range(1, n_levels + 1)])
        return {name: features[name] for name in inputs}, labels

    return dataset.map(split).prefetch(tf.data.AUTOTUNE)


def training_datasets(
    config: Config, taxonomy, tft_output: tft.TFTransformOutput, train_files: list[str], eval_files: list[str],  # noqa: ANN001
    dataset_factory=tfrecord_dataset_factory,  # noqa: ANN001
) -> tuple[tf.data.Dataset, tf.data.Dataset, CategoryLayout | None]:
    """The train and eval datasets `train` expects, and the category layout when class resampling
    needs each training product's own category."""
    model_cfg = config.model
    layout = CategoryLayout.from_taxonomy(taxonomy) if model_cfg.class_sampling != "none" else None
    n_levels = len(taxonomy.level_sizes())

    def dataset(files: list[str], shuffle: bool, layout: CategoryLayout | None) -> tf.data.Dataset:
        return input_dataset(files, dataset_factory, tft_output, n_levels, model_cfg.batch_size, shuffle, model_cfg.seed,
                             layout)

    return dataset(train_files, True, layout), dataset(eval_files, False, None), layout


def per_level_network(config: Config, level_sizes: Sequence[int], feature_dims: dict,
                      label_vectors: Sequence[np.ndarray] | None, stats: TrainingStatistics) -> tf.keras.Model:
    """prodcat's model (`build_model`), compiled with class weights from the training counts."""
    model_cfg = config.model
    tfidf = model_cfg.token_weighting == "tfidf" and model_cfg.ngram_features
    wide = None
    if model_cfg.wide_path:
        wide = stats.wide_features(stats.level_counts, model_cfg.wide_max_features, model_cfg.wide_min_df)
        _LOG.info("wide path: %d n-gram buckets x %s classes with training products", wide.rows,
                  "/".join(str(int(s.sum())) for s in wide.seen_classes))
    model = build_model(level_sizes, model_cfg, config.text, feature_dims, label_vectors,
                        stats.token_idf() if tfidf else None, wide, seen_classes=[c > 0 for c in stats.level_counts])
    compile_model(model, [class_weights(c, model_cfg.class_weighting) for c in stats.level_counts], model_cfg)
    return model


def train(
    config: Config, level_sizes: Sequence[int], train_data: tf.data.Dataset, eval_data: tf.data.Dataset,
    feature_dims: dict | None = None, label_vectors: Sequence[np.ndarray] | None = None, log_dir: str | None = None,
    backup_dir: str | None = None, strategy: tf.distribute.Strategy | None = None,
    category_layout: CategoryLayout | None = None, network: NetworkBuilder = per_level_network,
) -> tuple[tf.keras.Model, dict]:
    """Builds (`network`), compiles and fits the model under `strategy` (default: the
    environment's), then adds the margin head."""
    model_cfg: ModelConfig = config.model
    strategy = strategy or distribution.strategy_from_environment()
    tfidf = model_cfg.token_weighting == "tfidf" and model_cfg.ngram_features
    stats = TrainingStatistics.collect(train_data, level_sizes,
                                       config.text.word_buckets if tfidf or model_cfg.wide_path else 0,
                                       sample_size=NOVELTY_SAMPLE_SIZE, seed=model_cfg.seed)
    margin = None
    if model_cfg.margin_head.enabled:
        margin = _fit_margin_head(config, level_sizes, train_data, feature_dims or {})
    steps_per_epoch = None
    if model_cfg.class_sampling != "none":
        if category_layout is None:
            raise ValueError("class_sampling needs the category layout (each product's own category in its labels)")
        power = SAMPLING_POWER[model_cfg.class_sampling]
        train_data = resample_by_category(train_data, stats.category_counts, power, model_cfg.batch_size, model_cfg.seed)
        steps_per_epoch = stats.batches  # an epoch: as many batches as one pass over the data
        resampled = target_distribution(stats.category_counts, power) * stats.category_counts.sum()  # what batches hold
        stats = dataclasses.replace(stats, category_counts=resampled, level_counts=category_layout.level_counts(resampled))
    elif backup_dir and isinstance(config.training.checkpoint_every, int):
        # Resuming mid-epoch needs the epoch's length, which Keras cannot infer from record files.
        train_data = train_data.apply(tf.data.experimental.assert_cardinality(stats.batches))
    _LOG.info("training with %s (%d worker(s), %d replica(s))", type(strategy).__name__,
              distribution.cluster_workers(), strategy.num_replicas_in_sync)
    with strategy.scope():
        model = network(config, level_sizes, feature_dims or {}, label_vectors, stats)
    callbacks, backup = training_callbacks(len(level_sizes), model_cfg.early_stopping_monitor,
                                           model_cfg.early_stopping_patience, backup_dir,
                                           config.training.checkpoint_every, log_dir, model_cfg.epochs)
    history = model.fit(train_data, validation_data=eval_data, epochs=model_cfg.epochs, steps_per_epoch=steps_per_epoch,
                        callbacks=callbacks, verbose=0)
    epochs_restored = backup.epochs_restored if backup is not None else 0
    counts = stats.level_counts
    summary = {
        # A resumed training: `history` covers the epochs after the restored ones only.
        "epochs_run": epochs_restored + len(history.history.get("loss", [])),
        "epochs_restored": epochs_restored,
        "history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
        "train_examples_per_level": [int(round(c.sum())) for c in counts],
        "classes_seen_per_level": [int((c > 0).sum()) for c in counts],
        "class_sampling": model_cfg.class_sampling,
        "strategy": type(strategy).__name__,
        "workers": distribution.cluster_workers(),
    }
    if margin is not None:
        model = _with_margin_head(model, margin, model_cfg, eval_data, len(level_sizes), strategy, summary)
    model.training_sample = stats.sentence_sample  # the decoder's reference for products unlike training
    return model, summary


def _with_margin_head(model: tf.keras.Model, margin: MarginHead, model_cfg: ModelConfig, eval_data: tf.data.Dataset,
                      n_levels: int, strategy: tf.distribute.Strategy, summary: dict) -> tf.keras.Model:
    """The trained network mixed with the margin head at the configured weight or the one the
    eval split chooses; records both in `summary`."""
    with strategy.scope():
        served = with_margin_head(model, margin, n_levels)
    weight, accuracy = model_cfg.margin_head.weight, {}
    if weight is None:
        weight, accuracy = choose_weight(model, served.get_layer("margin_scores"), eval_data, n_levels,
                                         model_cfg.margin_head.weight_grid)
    for layer in mixed_layers(served):
        layer.weight.assign(weight)
    _LOG.info("margin head: weight %g (eval mean per-level accuracy by weight: %s)", weight,
              ", ".join(f"{w:g}: {a:.4f}" for w, a in accuracy.items()) or "not chosen on the eval split")
    summary["margin_head"] = {**margin.summary(), "weight": weight,
                              "eval_accuracy_by_weight": {f"{w:g}": a for w, a in accuracy.items()}}
    return served


def _fit_margin_head(config: Config, level_sizes: Sequence[int], train_data: tf.data.Dataset,
                     feature_dims: dict) -> MarginHead:
    """The per-level linear SVMs on the training split (every worker fits the same: same data, same seed)."""
    merchant_buckets = config.text.merchant_buckets if F.MERCHANT in feature_dims else None
    data = TrainingFeatures.collect(train_data, len(level_sizes), config.text.word_buckets, merchant_buckets)
    if data.embeddings is not None and not feature_dims.get(F.TEXT_EMBEDDING):
        data.embeddings = None
    head = MarginHead.fit(data, level_sizes, config.model.margin_head, seed=config.model.seed)
    _LOG.info("margin head: %d products, %s", data.labels.shape[0], head.summary())
    return head


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """Called by the TFX Trainer: train on the transformed examples, export with signatures.

    With `training.workers` > 1 and no cluster in TF_CONFIG, training runs in that many local
    worker processes (data-parallel); otherwise in this process under the environment's strategy.
    """
    job = TrainingJob(
        train_files=list(fn_args.train_files), eval_files=list(fn_args.eval_files),
        transform_output=fn_args.transform_output, serving_model_dir=fn_args.serving_model_dir,
        model_run_dir=fn_args.model_run_dir, custom_config=dict(fn_args.custom_config or {}),
    )
    training = ModuleConfig.from_custom_config(job.custom_config).config.training
    workers = training.workers
    if workers > 1 and distribution.cluster_workers() == 1:
        digests = run_local_cluster(job, workers, max_restarts=training.max_restarts)
        if len({d["digest"] for d in digests}) != 1:
            raise RuntimeError(f"training workers disagree on the final weights: {digests}")
        return
    train_job(job, dataset_factory=fn_args.data_accessor.tf_dataset_factory)


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
