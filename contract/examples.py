"""tf.Example, the wire format of products: what ExampleGen writes, what `serving_default` and the
warm-up requests take, and `.tfrecord` product files.

The feature values come from `contract.signatures`; this module only wraps them in TensorFlow's
protos, so every writer and reader of tf.Examples encodes a product the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import tensorflow as tf
from google.protobuf.message import DecodeError

from prodcat.contract.signatures import example_features, mapping_from_features
from prodcat.records import Product, ReadOptions, RecordError, product_from_mapping


def product_to_example(product: Product, category_id: str | None = None) -> tf.train.Example:
    """The product's tf.Example; `category_id` is the resolved taxonomy id (ExampleGen resolves labels given as paths)."""
    feature = {name: tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
               for name, values in example_features(product, category_id).items()}
    return tf.train.Example(features=tf.train.Features(feature=feature))


def products_to_serialized(products: Sequence[Product]) -> list[bytes]:
    return [product_to_example(p).SerializeToString() for p in products]


def example_to_mapping(serialized: bytes) -> dict[str, Any]:
    """A serialized tf.Example as the plain dict `records.product_from_mapping` validates."""
    example = tf.train.Example.FromString(serialized)
    features: dict[str, list[bytes]] = {}
    for name, feature in example.features.feature.items():
        values = list(feature.bytes_list.value)
        if not values and feature.int64_list.value:
            values = [str(v).encode() for v in feature.int64_list.value]
        features[name] = values
    return mapping_from_features(features)


def iter_tfrecord(path: Path, options: ReadOptions) -> Iterator[tuple[Product, int] | RecordError]:
    """The products of a TFRecord file of tf.Examples (gzipped when it ends in .gz), numbered from 1."""
    source = str(path)
    compression = "GZIP" if path.name.endswith(".gz") else ""
    number = 0
    try:
        for number, serialized in enumerate(tf.data.TFRecordDataset(str(path), compression).as_numpy_iterator(), start=1):
            try:
                yield product_from_mapping(example_to_mapping(serialized), source, number, path.parent, options), number
            except RecordError as err:
                yield err
            except (ValueError, DecodeError) as err:
                yield RecordError(source, number, None, f"not a tf.Example ({err})")
    except tf.errors.OpError as err:  # DataLossError for a truncated or corrupt file
        yield RecordError(source, number + 1 if number else None, None, f"corrupt TFRecord file ({err.message})")


# The readers `records.iter_numbered_products(readers=...)` adds for TFRecord product files.
TFRECORD_READERS = {".tfrecord": iter_tfrecord, ".tfrecords": iter_tfrecord}
