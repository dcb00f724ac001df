"""Category names as training products: transformed by the run's own graph, mixed in at the configured rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

from prodcat import features as F
from prodcat.config import Config
from prodcat.module_config import ModuleConfig
from prodcat.taxonomy import Taxonomy
from prodcat.trainer.name_examples import mix_name_examples, name_products, write_name_examples
from prodcat.trainer.preprocessing import preprocessing_fn
from prodcat.trainer.run import input_dataset, tfrecord_dataset_factory

RAW_SPEC = {
    **{name: tf.io.FixedLenFeature([1], tf.string) for name in
       (F.ID, F.TITLE, F.DESCRIPTION, F.VENDOR, F.PRODUCT_TYPE, F.SHOP, F.LANGUAGE, F.IMAGE, F.CATEGORY)},
    F.TAGS: tf.io.VarLenFeature(tf.string), F.COLLECTIONS: tf.io.VarLenFeature(tf.string),
}


def test_every_category_is_a_product_named_by_its_name_and_path(tiny_google: Taxonomy) -> None:
    products = name_products(tiny_google)
    assert [p.category for p in products] == [c.id for c in tiny_google.categories]
    kites = next(p for p in products if p.category == "2")
    assert (kites.title, kites.product_type) == ("Kites", "Toys > Kites")
    assert len({p.id for p in products}) == len(products)


@pytest.mark.slow
def test_names_are_transformed_by_the_runs_graph_and_read_like_the_training_split(
        tiny_google: Taxonomy, tmp_path: Path) -> None:
    taxonomy_path = tiny_google.save(tmp_path / "t.txt")
    config = Config.model_validate({"text": {"encoder": {"kind": "none"}, "word_buckets": 1000}})
    custom = ModuleConfig(config, str(taxonomy_path)).to_custom_config()
    rows = [{F.ID: [pid], F.TITLE: [title], F.DESCRIPTION: [""], F.VENDOR: [""], F.PRODUCT_TYPE: [""], F.SHOP: ["s"],
             F.LANGUAGE: ["en"], F.IMAGE: [b""], F.CATEGORY: [category], F.TAGS: [], F.COLLECTIONS: []}
            for pid, title, category in (("a", "Stunt kite", "3"), ("b", "Clay pot", "5"))]
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(RAW_SPEC))
    with tft_beam.Context(temp_dir=str(tmp_path / "tft"), force_tf_compat_v1=False):
        transform_fn = (rows, metadata) | tft_beam.AnalyzeDataset(lambda inputs: preprocessing_fn(inputs, custom))
        _ = transform_fn | tft_beam.WriteTransformFn(str(tmp_path / "graph"))
    metadata_io.write_metadata(metadata, str(tmp_path / "graph" / tft.TFTransformOutput.RAW_METADATA_DIR))
    tft_output = tft.TFTransformOutput(str(tmp_path / "graph"))

    path = str(tmp_path / "names.gz")
    assert write_name_examples(tiny_google, tft_output, path) == len(tiny_google.categories)
    names = input_dataset([path], tfrecord_dataset_factory, tft_output, tiny_google.depth, 100, False, 0)
    features, labels = next(iter(names))
    order = [c.id for c in tiny_google.categories]
    for level in range(1, tiny_google.depth + 1):
        expected = [tiny_google.level_index(level, tiny_google.ancestors(c)[level - 1])
                    if len(tiny_google.ancestors(c)) >= level else -1 for c in order]
        np.testing.assert_array_equal(labels[F.level_output(level)].numpy().reshape(-1), expected)
    kites = order.index("2")
    assert (features[F.TOKENS].indices[:, 0].numpy() == kites).sum() > 5, "the name's n-grams reach the model"


def test_mixing_draws_names_at_the_configured_rate_and_counts_them_in_the_epoch() -> None:
    def batches(label: int, count: int) -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices(({"x": tf.fill([count], label)}, {"y": tf.fill([count], label)})).batch(8)

    mixed, steps = mix_name_examples(batches(0, 400), batches(1, 100), products=400, name_count=100, per_epoch=2.0,
                                     batch_size=50, seed=1)
    assert steps == 12  # 400 products + 2 x 100 names, 50 a batch
    drawn = np.concatenate([labels["y"].numpy() for _, labels in mixed.take(steps * 5)])
    assert len(drawn) == steps * 5 * 50
    assert drawn.mean() == pytest.approx(200 / 600, abs=0.03)
