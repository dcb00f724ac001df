"""TFX Trainer entry point (`run_fn`): trains the hierarchical model and exports the serving model."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import logging

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx_bsl.public import tfxio

from prodcat import features as F
from prodcat.config import Config, ModelConfig
from prodcat.contract.signatures import ASSETS_EXTRA, CONFIG_ASSET, RAW_SIGNATURE, TAXONOMY_ASSET, WARMUP_PRODUCTS
from prodcat.module_config import ModuleConfig
from prodcat.trainer import distribution
from prodcat.trainer.decoding import model_decoder
from prodcat.trainer.local_cluster import WORKER_DIGESTS, TrainingJob, run_local_cluster
from prodcat.trainer.margin import MarginHead, TrainingFeatures, choose_weight, mixed_layers, with_margin_head
from prodcat.trainer.model import (
    FlatLayout, WideFeatures, build_model, compile_model, inverse_document_frequency, label_embeddings,
    model_feature_dims,
)
from prodcat.trainer.sampling import SAMPLING_POWER, resample_by_category, target_distribution
from prodcat.trainer.signatures import make_signatures, save_serving_model
from prodcat.trainer.warmup import write_warmup_requests

if TYPE_CHECKING:  # a training worker need not import TFX's components (minutes of a restart on a busy host)
    from tfx import v1 as tfx

TRAINING_SUMMARY = "training_summary.json"
_LOG = logging.getLogger("prodcat.trainer")


def tfrecord_dataset_factory(files: list[str], options: tfxio.TensorFlowDatasetOptions, schema) -> tf.data.Dataset:  # noqa: ANN001
    """The dataset factory a worker process uses (the Trainer's DataAccessor reads the same files)."""
    return tfxio.TFExampleRecord(file_pattern=files, schema=schema, telemetry_descriptors=["prodcat"]).TensorFlowDataset(options)


def input_dataset(
    file_pattern: list[str], dataset_factory, tft_output: tft.TFTransformOutput,  # noqa: ANN001
    n_levels: int, batch_size: int, shuffle: bool, seed: int, flat_layout: FlatLayout | None = None,
) -> tf.data.Dataset:
    """(features, per-level labels) batches of transformed examples, one pass.

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
        if flat_layout is not None:  # the flat classifier learns the product's own category
            labels[F.FLAT_OUTPUT] = flat_layout.flat_label([labels[F.level_output(k)] for k in range(1, n_levels + 1)])
        return {name: features[name] for name in inputs}, labels

    return dataset.map(split).prefetch(tf.data.AUTOTUNE)


def training_datasets(
    config: Config, taxonomy, tft_output: tft.TFTransformOutput, train_files: list[str], eval_files: list[str],  # noqa: ANN001
    dataset_factory=tfrecord_dataset_factory,  # noqa: ANN001
) -> tuple[tf.data.Dataset, tf.data.Dataset, FlatLayout | None]:
    """The train and eval datasets `train` expects, and the flat layout when the model or the sampler needs
    each product's own category (the flat classifier learns it; resampling draws by it)."""
    model_cfg = config.model
    flat = model_cfg.heads == "flat"
    layout = FlatLayout.from_taxonomy(taxonomy) if flat or model_cfg.class_sampling != "none" else None
    n_levels = len(taxonomy.level_sizes())

    def dataset(files: list[str], shuffle: bool, layout: FlatLayout | None) -> tf.data.Dataset:
        return input_dataset(files, dataset_factory, tft_output, n_levels, model_cfg.batch_size, shuffle, model_cfg.seed,
                             layout)

    return dataset(train_files, True, layout), dataset(eval_files, False, layout if flat else None), layout


def level_class_counts(dataset: tf.data.Dataset, level_sizes: Sequence[int]) -> list[np.ndarray]:
    return _training_statistics(dataset, level_sizes)[0][:-1]


def _training_statistics(
    dataset: tf.data.Dataset, level_sizes: Sequence[int], token_buckets: int = 0,
) -> tuple[list[np.ndarray], int, tuple[np.ndarray, int] | None]:
    """One pass over the training data: class counts per level (then per category, when the labels
    carry the flat one), the number of batches and, with `token_buckets`, the document frequency
    of every token bucket and the number of products."""
    counts = [np.zeros(size, dtype=np.int64) for size in level_sizes]
    counts.append(np.zeros(int(sum(level_sizes)), dtype=np.int64))  # each product's own category (flat)
    document_frequency = np.zeros(token_buckets, dtype=np.int64) if token_buckets else None
    batches = documents = 0
    for features, labels in dataset:
        batches += 1
        for k, size in enumerate(level_sizes, start=1):
            values = np.reshape(labels[F.level_output(k)].numpy(), [-1])
            counts[k - 1] += np.bincount(values[values >= 0], minlength=size)
        if F.FLAT_OUTPUT in labels:
            values = np.reshape(labels[F.FLAT_OUTPUT].numpy(), [-1])
            counts[-1] += np.bincount(values[values >= 0], minlength=counts[-1].size)
        if document_frequency is not None:
            tokens = features[F.TOKENS]
            documents += int(tokens.dense_shape[0])
            pairs = np.unique(np.stack([tokens.indices[:, 0].numpy(), tokens.values.numpy()], axis=1), axis=0)
            document_frequency += np.bincount(pairs[:, 1], minlength=token_buckets)
    return counts, batches, ((document_frequency, documents) if document_frequency is not None else None)


def class_weights(counts: np.ndarray, scheme: str) -> list[float] | None:
    """Smoothed inverse-frequency weights, scaled so the average training product weighs 1.

    Rare categories get more weight, but `inverse_sqrt` keeps a class with 5 examples from
    outweighing one with 5,000 by a factor of 1,000.
    """
    if scheme == "none" or counts.sum() == 0:
        return None
    power = 0.5 if scheme == "inverse_sqrt" else 1.0
    weights = np.where(counts > 0, 1.0 / np.maximum(counts, 1) ** power, 0.0)
    weights *= counts.sum() / max((weights * counts).sum(), 1e-12)
    return weights.astype(np.float32).tolist()


def val_accuracy_key(level: int) -> str:
    """The epoch-log key Keras gives level `level`'s accuracy on the eval split."""
    return f"val_{F.level_output(level)}_accuracy"


class EpochLog(tf.keras.callbacks.Callback):
    """One short line per epoch: losses and per-level accuracy on the eval split."""

    def __init__(self, n_levels: int) -> None:
        super().__init__()
        self.n_levels = n_levels

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        accuracies = " ".join(
            f"L{k}={logs.get(val_accuracy_key(k), float('nan')):.3f}" for k in range(1, self.n_levels + 1)
        )
        _LOG.info("epoch %d: loss %.4f val_loss %.4f val accuracy %s",
                     epoch + 1, logs.get("loss", float("nan")), logs.get("val_loss", float("nan")), accuracies)


class MeanLevelAccuracy(tf.keras.callbacks.Callback):
    """Adds the mean of the per-level eval accuracies to the epoch's logs, for early stopping,
    TensorBoard and the training summary to read."""

    KEY = "val_mean_level_accuracy"
    # `model.early_stopping_monitor` -> (epoch-log key, better when) for EarlyStopping
    STOPPING = {"accuracy": (KEY, "max"), "loss": ("val_loss", "min")}

    def __init__(self, n_levels: int) -> None:
        super().__init__()
        self.n_levels = n_levels

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None:
            return
        values = [logs[key] for k in range(1, self.n_levels + 1)
                  if (key := val_accuracy_key(k)) in logs]
        if values:
            logs[self.KEY] = float(np.mean(values))


class ResumingBackup(tf.keras.callbacks.BackupAndRestore):
    """BackupAndRestore that says what it restored, so a resumed training is visible in the log.

    `epochs_restored`: epochs completed before this `fit` (0 for a fresh start); with a step
    cadence the epoch that was interrupted is counted as not done.
    """

    def __init__(self, backup_dir: str, save_freq: str | int = "epoch") -> None:
        super().__init__(backup_dir, save_freq=save_freq)
        self.epochs_restored = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)  # restores the backup, if there is one
        state = getattr(self, "_training_state", None)
        epoch = int(tf.keras.backend.get_value(state._ckpt_saved_epoch)) if state is not None else -1
        step = int(tf.keras.backend.get_value(state._ckpt_saved_batch)) if state is not None else -1
        if epoch < 0:
            _LOG.info("no training state backed up in %s: training from epoch 1", self.backup_dir)
        elif self.save_freq == "epoch":
            self.epochs_restored = epoch + 1
            _LOG.info("restored the training state backed up after epoch %d from %s: resuming at epoch %d",
                      epoch + 1, self.backup_dir, epoch + 2)
        elif step + 1 == (getattr(self, "params", None) or {}).get("steps"):  # backed up after the epoch's last step
            self.epochs_restored = epoch + 1
            _LOG.info("restored the training state backed up after epoch %d from %s: resuming at epoch %d",
                      epoch + 1, self.backup_dir, epoch + 2)
        else:
            self.epochs_restored = epoch
            _LOG.info("restored the training state backed up in epoch %d after step %d from %s: resuming "
                      "epoch %d at step %d", epoch + 1, step + 1, self.backup_dir, epoch + 1, step + 2)


def train(
    config: Config, level_sizes: Sequence[int], train_data: tf.data.Dataset, eval_data: tf.data.Dataset,
    feature_dims: dict | None = None, label_vectors: Sequence[np.ndarray] | None = None, log_dir: str | None = None,
    backup_dir: str | None = None, strategy: tf.distribute.Strategy | None = None, flat_layout: FlatLayout | None = None,
) -> tuple[tf.keras.Model, dict]:
    """Builds, compiles and fits the model under `strategy` (default: the environment's)."""
    model_cfg: ModelConfig = config.model
    strategy = strategy or distribution.strategy_from_environment()
    tfidf = model_cfg.token_weighting == "tfidf" and model_cfg.ngram_features
    counts, batches, frequencies = _training_statistics(
        train_data, level_sizes, config.text.word_buckets if tfidf or model_cfg.wide_path else 0)
    counts, flat_counts = counts[:-1], counts[-1]
    token_idf = inverse_document_frequency(*frequencies) if frequencies is not None and tfidf else None
    wide = None
    if model_cfg.wide_path:
        wide = WideFeatures.from_training_statistics(
            *frequencies, [flat_counts] if model_cfg.heads == "flat" else counts,
            model_cfg.wide_max_features, model_cfg.wide_min_df)
        _LOG.info("wide path: %d n-gram buckets x %s classes with training products", wide.rows,
                  "/".join(str(int(s.sum())) for s in wide.seen_classes))
    margin = None
    if model_cfg.margin_head.enabled:
        margin = _fit_margin_head(config, level_sizes, train_data, feature_dims or {})
    steps_per_epoch = None
    if model_cfg.class_sampling != "none":
        if flat_layout is None:
            raise ValueError("class_sampling needs the flat layout (each product's own category in its labels)")
        power = SAMPLING_POWER[model_cfg.class_sampling]
        train_data = resample_by_category(train_data, flat_counts, power, model_cfg.batch_size, model_cfg.seed,
                                          keep_flat_label=model_cfg.heads == "flat")
        steps_per_epoch = batches  # an epoch: as many batches as one pass over the data
        flat_counts = target_distribution(flat_counts, power) * flat_counts.sum()  # what the batches now hold
        counts = flat_layout.level_counts(flat_counts)
    elif backup_dir and isinstance(config.training.checkpoint_every, int):
        # Resuming mid-epoch needs the epoch's length, which Keras cannot infer from record files.
        train_data = train_data.apply(tf.data.experimental.assert_cardinality(batches))
    weights = [class_weights(c, model_cfg.class_weighting) for c in counts]
    _LOG.info("training with %s (%d worker(s), %d replica(s))", type(strategy).__name__,
              distribution.cluster_workers(), strategy.num_replicas_in_sync)
    with strategy.scope():
        model = build_model(level_sizes, model_cfg, config.text, feature_dims, label_vectors, token_idf, flat_layout,
                            wide, seen_classes=[c > 0 for c in counts])
        compile_model(model, weights, model_cfg, class_weights(flat_counts, model_cfg.class_weighting))
    callbacks: list[tf.keras.callbacks.Callback] = [MeanLevelAccuracy(len(level_sizes))]  # before the stopper
    monitor, mode = MeanLevelAccuracy.STOPPING[model_cfg.early_stopping_monitor]
    callbacks.append(tf.keras.callbacks.EarlyStopping(
        monitor=monitor, mode=mode, patience=model_cfg.early_stopping_patience, restore_best_weights=True))
    backup = None
    if backup_dir:  # before the loggers: an epoch in the log is an epoch backed up
        backup = ResumingBackup(backup_dir, save_freq=config.training.checkpoint_every)
        callbacks.append(backup)
    if log_dir:
        callbacks.append(tf.keras.callbacks.TensorBoard(log_dir=log_dir, update_freq="epoch"))
    callbacks.append(EpochLog(len(level_sizes)))
    history = model.fit(train_data, validation_data=eval_data, epochs=model_cfg.epochs, steps_per_epoch=steps_per_epoch,
                        callbacks=callbacks, verbose=0)
    epochs_restored = backup.epochs_restored if backup is not None else 0
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
        with strategy.scope():
            served = with_margin_head(model, margin, len(level_sizes))
        weight, accuracy = model_cfg.margin_head.weight, {}
        if weight is None:
            weight, accuracy = choose_weight(model, served.get_layer("margin_scores"), eval_data, len(level_sizes),
                                             model_cfg.margin_head.weight_grid)
        for layer in mixed_layers(served):
            layer.weight.assign(weight)
        _LOG.info("margin head: weight %g (eval mean per-level accuracy by weight: %s)", weight,
                  ", ".join(f"{w:g}: {a:.4f}" for w, a in accuracy.items()) or "not chosen on the eval split")
        summary["margin_head"] = {**margin.summary(), "weight": weight,
                                  "eval_accuracy_by_weight": {f"{w:g}": a for w, a in accuracy.items()}}
        model = served
    return model, summary


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
    train_data, eval_data, flat_layout = training_datasets(
        config, taxonomy, tft_output, job.train_files, job.eval_files, dataset_factory)
    model, summary = train(
        config, level_sizes, train_data, eval_data,
        feature_dims=model_feature_dims(tft_output.transformed_feature_spec()),
        label_vectors=_label_vectors(config, taxonomy),
        log_dir=os.path.join(job.model_run_dir, "tensorboard"),
        backup_dir=os.path.join(job.model_run_dir, "backup"), strategy=strategy, flat_layout=flat_layout,
    )
    decoder = model_decoder(model, taxonomy, config.thresholds)
    signatures = make_signatures(model, tft_output, decoder)
    chief = distribution.is_chief()
    export_dir = job.serving_model_dir if chief else os.path.join(job.model_run_dir, f"worker_export_{worker_index}")
    save_serving_model(model, export_dir, signatures)
    if chief:
        _write_assets(export_dir, module_config, summary)
        _write_warmup(export_dir, signatures)
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


def _write_warmup(export_dir: str, signatures: dict) -> None:
    """TF Serving replays assets.extra/tf_serving_warmup_requests on load: no slow first request."""
    if "://" in export_dir:  # the warm-up writer works on local paths; cluster exports skip it
        _LOG.info("no warm-up requests written for remote export %s", export_dir)
        return
    write_warmup_requests(export_dir, WARMUP_PRODUCTS, sorted(signatures[RAW_SIGNATURE].structured_input_signature[1]))


def _write_assets(export_dir: str, module_config: ModuleConfig, summary: dict) -> None:
    """The taxonomy and thresholds travel with the model (assets.extra), for tools and audits."""
    extra = os.path.join(export_dir, ASSETS_EXTRA)
    tf.io.gfile.makedirs(extra)
    with tf.io.gfile.GFile(os.path.join(extra, TAXONOMY_ASSET), "w") as handle:
        handle.write(module_config.taxonomy().to_google_text())
    with tf.io.gfile.GFile(os.path.join(extra, CONFIG_ASSET), "w") as handle:
        handle.write(module_config.config.model_dump_json(indent=2))
    with tf.io.gfile.GFile(os.path.join(extra, TRAINING_SUMMARY), "w") as handle:
        handle.write(json.dumps(summary, indent=2))
