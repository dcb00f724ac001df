"""The flat leaf classifier: the baseline the ablation benchmark measures prodcat's per-level heads against.

One softmax over every category of the taxonomy, trained on each product's own category, on
prodcat's own trunk (and wide path and category names); each level's distribution is the sum over
its subtrees, so decoding is unchanged. It measured no gain over the per-level heads
(BENCHMARKS.md, the model ablations), so only this benchmark builds it: `train` gets
`flat_network(...)` in place of the product's network, and datasets from `flat_datasets`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from prodcat import features as F
from prodcat.config import Config, ModelConfig, TextConfig
from prodcat.trainer import run
from prodcat.trainer.layers import NameScores
from prodcat.trainer.losses import MaskedLevelLoss, SumOverBatch, level_metrics
from prodcat.trainer.model import build_trunk, wide_scores
from prodcat.trainer.optimizers import make_optimizer
from prodcat.trainer.sampling import CATEGORY_LABEL, CategoryLayout
from prodcat.trainer.statistics import TrainingStatistics, WideFeatures, class_weights

keras = tf.keras
# The flat softmax's output; named as the training label of each product's own category, which
# is what it learns.
FLAT_OUTPUT = CATEGORY_LABEL


@keras.utils.register_keras_serializable(package="prodcat")
class SubtreeSum(keras.layers.Layer):
    """One level's distribution from the flat one: each class gets the mass of its whole subtree."""

    def __init__(self, ancestor_index: Sequence[int], n_classes: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.ancestor_index, self.n_classes = [int(i) for i in ancestor_index], int(n_classes)
        members = [i for i, a in enumerate(self.ancestor_index) if a >= 0]
        self._members = tf.constant(members, tf.int64)
        self._segments = tf.constant([self.ancestor_index[i] for i in members], tf.int64)

    def call(self, flat_probs: tf.Tensor) -> tf.Tensor:
        columns = tf.transpose(tf.gather(flat_probs, self._members, axis=1))
        return tf.transpose(tf.math.unsorted_segment_sum(columns, self._segments, self.n_classes))

    def get_config(self) -> dict:
        return {**super().get_config(), "ancestor_index": self.ancestor_index, "n_classes": self.n_classes}


def build_flat_model(
    layout: CategoryLayout, model_cfg: ModelConfig, text_cfg: TextConfig, feature_dims: dict[str, object],
    label_embeddings: Sequence[np.ndarray] | None = None, token_idf: np.ndarray | None = None,
    wide: WideFeatures | None = None,
) -> keras.Model:
    """prodcat's trunk under one softmax over all categories; per-level outputs summed from it.
    `wide`: the wide path over the flat list's categories (one output)."""
    trunk = build_trunk(model_cfg, text_cfg, feature_dims, token_idf, with_tokens=wide is not None)
    wide_flat = wide_scores(trunk.tokens, wide)
    h = trunk.features
    if model_cfg.level_hidden_units:
        h = keras.layers.Dense(model_cfg.level_hidden_units, activation="relu", name="flat_hidden")(h)
        h = keras.layers.Dropout(model_cfg.dropout, name="flat_dropout")(h)
    logits = keras.layers.Dense(layout.size, name="flat_logits")(h)
    if label_embeddings is not None:
        names = np.concatenate(list(label_embeddings))
        query = keras.layers.Dense(names.shape[1], name="flat_query")(h)
        logits = keras.layers.Add(name="flat_scores")([logits, NameScores(names, name="flat_name_scores")(query)])
    if wide_flat and wide_flat[0] is not None:
        logits = keras.layers.Add(name="flat_scores_with_wide")([logits, wide_flat[0]])
    flat = keras.layers.Activation("softmax", name=FLAT_OUTPUT)(logits)
    outputs = {FLAT_OUTPUT: flat}
    for level, (size, ancestors) in enumerate(zip(layout.level_sizes, layout.ancestor_indices), start=1):
        outputs[F.level_output(level)] = SubtreeSum(ancestors, size, name=F.level_output(level))(flat)
    return keras.Model(inputs=trunk.inputs, outputs=outputs, name="prodcat_flat")


def compile_flat_model(model: keras.Model, category_weights: Sequence[float] | None, n_levels: int,
                       model_cfg: ModelConfig) -> None:
    """The loss of each product's own category; the per-level masked accuracies prodcat reports."""
    model.compile(optimizer=make_optimizer(model_cfg.optimizer, model_cfg.learning_rate),
                  loss={FLAT_OUTPUT: SumOverBatch(MaskedLevelLoss(category_weights))}, metrics=level_metrics(n_levels))


def flat_network(layout: CategoryLayout) -> run.NetworkBuilder:
    """A `train` network builder for the flat classifier (class weights and the wide path per category)."""

    def build(config: Config, level_sizes: Sequence[int], feature_dims: dict,
              label_vectors: Sequence[np.ndarray] | None, stats: TrainingStatistics) -> keras.Model:
        model_cfg = config.model
        if model_cfg.class_sampling != "none":
            raise ValueError("the flat classifier learns each product's own category, which resampling drops")
        tfidf = model_cfg.token_weighting == "tfidf" and model_cfg.ngram_features
        wide = None
        if model_cfg.wide_path:
            wide = stats.wide_features([stats.category_counts], model_cfg.wide_max_features, model_cfg.wide_min_df)
        model = build_flat_model(layout, model_cfg, config.text, feature_dims, label_vectors,
                                 stats.token_idf() if tfidf else None, wide)
        compile_flat_model(model, class_weights(stats.category_counts, model_cfg.class_weighting), len(level_sizes),
                           model_cfg)
        return model

    return build


def flat_datasets(config: Config, taxonomy, tft_output, train_files: list[str],  # noqa: ANN001
                  eval_files: list[str]) -> tuple[tf.data.Dataset, tf.data.Dataset, CategoryLayout]:
    """Train and eval datasets whose labels carry each product's own category (the flat output's label)."""
    layout = CategoryLayout.from_taxonomy(taxonomy)
    n_levels = len(taxonomy.level_sizes())

    def dataset(files: list[str], shuffle: bool) -> tf.data.Dataset:
        return run.input_dataset(files, run.tfrecord_dataset_factory, tft_output, n_levels, config.model.batch_size,
                                 shuffle, config.model.seed, layout)

    return dataset(train_files, True), dataset(eval_files, False), layout
