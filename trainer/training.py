"""Training the hierarchical model: fit the network on the training split, then add the margin head.

One job: `train` turns (features, labels) datasets into a trained Keras model and a training
summary; it collects the training statistics, resamples by category if configured, fits the
network under the distribution strategy with prodcat's callbacks, and mixes in the margin head
(fitted before the network, weighted on the eval split); with `model.unseen_class_offset` None the
eval split also sets how far categories without training products are held back. Reading the data
is input_data.py's job, exporting the model training_job.py's.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from prodcat import features as F
from prodcat.config import Config, ModelConfig
from prodcat.trainer import distribution
from prodcat.trainer.callbacks import training_callbacks
from prodcat.trainer.eval_choice import choose_unseen_offset
from prodcat.trainer.losses import compile_model
from prodcat.trainer.margin import choose_weight, mixed_layers, with_margin_head
from prodcat.trainer.margin_fit import MarginHead, TrainingFeatures
from prodcat.trainer.model import build_model
from prodcat.trainer.sampling import SAMPLING_POWER, CategoryLayout, resample_by_category, target_distribution
from prodcat.trainer.statistics import TrainingStatistics, class_weights

_LOG = logging.getLogger("prodcat.trainer")

# Training products the decoder compares each product with (name_fallback_classes: auto): 4,096
# sentence embeddings, 8 MB in the export, one small matrix product per product served.
NOVELTY_SAMPLE_SIZE = 4096

# Builds and compiles the network `train` fits, from the training statistics (called under the
# distribution strategy's scope). The product's is `per_level_network`; benchmarks pass others.
NetworkBuilder = Callable[[Config, Sequence[int], dict, Sequence[np.ndarray] | None, TrainingStatistics],
                          tf.keras.Model]


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
    if model_cfg.unseen_class_offset is None:
        _choose_unseen_offset(model, model_cfg, eval_data, len(level_sizes), summary)
    if margin is not None:
        model = _with_margin_head(model, margin, model_cfg, eval_data, len(level_sizes), strategy, summary)
    model.training_sample = stats.sentence_sample  # the decoder's reference for products unlike training
    return model, summary


def _choose_unseen_offset(model: tf.keras.Model, model_cfg: ModelConfig, eval_data: tf.data.Dataset,
                          n_levels: int, summary: dict) -> None:
    """Sets the offset of categories without training products to the one the eval split
    chooses (before the margin head: the network's own scores decide it); records it in `summary`."""
    offset, accuracy = choose_unseen_offset(model, eval_data, n_levels, model_cfg.unseen_class_offset_grid)
    if offset is None:
        return
    _LOG.info("unseen-class offset: %g (eval mean per-level accuracy by offset: %s)", offset,
              ", ".join(f"{o:g}: {a:.4f}" for o, a in accuracy.items()) or "no labelled eval products")
    summary["unseen_class_offset"] = {"offset": offset, "eval_accuracy_by_offset": {f"{o:g}": a for o, a in accuracy.items()}}


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
