"""The taxonomy's own category names as extra training products.

Training shops cover a few domains; a new merchant's products often belong to others. A category
name ("Yoga Mats", under "Sporting Goods > Athletics > ...") is a short product text of that
category, so each category contributes one example: the heads learn every domain's vocabulary,
not only the domains the training shops sold in. The names go through the run's own Transform
graph, so they reach the model exactly as a product's title and product type would.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the Transform graph's SentencePiece ops)
import tensorflow_transform as tft

from prodcat.contract.examples import product_to_example
from prodcat.records import Product
from prodcat.taxonomy import Taxonomy

_CHUNK = 512  # names transformed per call of the Transform graph


def name_products(taxonomy: Taxonomy) -> list[Product]:
    """One product per category: its own name as title, its full path as product type."""
    return [Product(id=f"taxonomy-name-{c.id}", title=c.name, product_type=c.path_str, category=c.id)
            for c in taxonomy.categories]


def write_name_examples(taxonomy: Taxonomy, tft_output: tft.TFTransformOutput, path: str) -> int:
    """Writes every category name, transformed as the Transform graph transforms a product, as
    gzipped transformed tf.Examples to `path` (read like the training split); returns their number."""
    raw_spec = tft_output.raw_feature_spec()
    transform = tft_output.transform_features_layer()
    coder = tft.coders.ExampleProtoCoder(tft_output.transformed_metadata.schema)
    products = name_products(taxonomy)
    with tf.io.TFRecordWriter(path, tf.io.TFRecordOptions(compression_type="GZIP")) as writer:
        for chunk in _chunks(products, _CHUNK):
            serialized = [product_to_example(p, p.category).SerializeToString() for p in chunk]
            transformed = transform(tf.io.parse_example(serialized, raw_spec))
            for instance in _instances(transformed, len(chunk)):
                writer.write(coder.encode(instance))
    return len(products)


def mix_name_examples(train_data: tf.data.Dataset, names: tf.data.Dataset, products: int, name_count: int,
                      per_epoch: float, batch_size: int, seed: int) -> tuple[tf.data.Dataset, int]:
    """An endless stream of batches drawing training products and category names in the ratio
    `products` : `per_epoch` x `name_count`, and the steps of one epoch (every product once,
    each name `per_epoch` times on average)."""
    drawn = per_epoch * name_count
    weights = [products / (products + drawn), drawn / (products + drawn)]
    stream = tf.data.Dataset.sample_from_datasets(
        [train_data.unbatch().repeat(), names.unbatch().shuffle(name_count, seed=seed).repeat()],
        weights=weights, seed=seed)
    return stream.batch(batch_size).prefetch(tf.data.AUTOTUNE), math.ceil((products + drawn) / batch_size)


def _chunks(items: Sequence[Product], size: int) -> Iterator[Sequence[Product]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _instances(transformed: dict[str, tf.Tensor | tf.SparseTensor], count: int) -> Iterator[dict[str, object]]:
    """Per product, its transformed features as `ExampleProtoCoder` takes them."""
    columns: dict[str, list] = {}
    for name, value in transformed.items():
        if isinstance(value, tf.SparseTensor):
            columns[name] = [np.asarray(row) for row in tf.RaggedTensor.from_sparse(value).to_list()]
        else:
            columns[name] = list(value.numpy())
    for i in range(count):
        yield {name: values[i] for name, values in columns.items()}
