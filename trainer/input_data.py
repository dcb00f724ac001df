"""The Trainer's input: transformed examples as (features, per-level labels) tf.data datasets.

One job: read the Transform component's output files into the batches `training.train` fits on
(the features the model reads, one label per taxonomy level, and with class resampling each
product's own category), sharded by data so every worker of a multi-worker run gets its share.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft
from tfx_bsl.public import tfxio

from prodcat import features as F
from prodcat.config import Config
from prodcat.trainer.model import model_feature_dims
from prodcat.trainer.sampling import CATEGORY_LABEL, CategoryLayout


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
