"""Conversion between canonical products and tf.Examples (ExampleGen's output, serving's input)."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from prodcat import features as F
from prodcat.records import Product, RecordError
from prodcat.taxonomy import Taxonomy


def _bytes_feature(values: list[bytes]) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def product_to_example(product: Product, category_id: str | None = None) -> tf.train.Example:
    """Every raw feature is present (empty when unknown) so the schema is stable across sources.

    `category_id` is the resolved taxonomy id (ExampleGen resolves labels given as paths).
    """
    text = {
        F.ID: product.id,
        F.TITLE: product.title,
        F.DESCRIPTION: product.description,
        F.VENDOR: product.vendor,
        F.PRODUCT_TYPE: product.product_type,
        F.SHOP: product.shop,
        F.LANGUAGE: product.language,
        F.CATEGORY: category_id if category_id is not None else (product.category or ""),
    }
    feature = {name: _bytes_feature([value.encode("utf-8")]) for name, value in text.items()}
    feature[F.TAGS] = _bytes_feature([t.encode("utf-8") for t in product.tags])
    feature[F.COLLECTIONS] = _bytes_feature([c.encode("utf-8") for c in product.collections])
    feature[F.IMAGE] = _bytes_feature([product.image or b""])
    return tf.train.Example(features=tf.train.Features(feature=feature))


def example_to_mapping(serialized: bytes) -> dict[str, Any]:
    """A tf.Example as the plain dict `product_from_mapping` validates.

    Bytes that are not UTF-8 are decoded with `surrogateescape`, so the record is rejected naming
    the feature that holds them instead of failing as a whole.
    """
    example = tf.train.Example.FromString(serialized)
    out: dict[str, Any] = {}
    for name, feature in example.features.feature.items():
        values = list(feature.bytes_list.value)
        if name == F.IMAGE:
            out[name] = values[0] if values and values[0] else None
        elif name in F.LIST_FIELDS:
            out[name] = [v.decode("utf-8", "surrogateescape") for v in values]
        elif values:
            out[name] = values[0].decode("utf-8", "surrogateescape")
        elif feature.int64_list.value:
            out[name] = str(feature.int64_list.value[0])
    return out


def products_to_serialized(products: list[Product]) -> list[bytes]:
    return [product_to_example(p).SerializeToString() for p in products]


def resolve_category(product: Product, taxonomy: Taxonomy, source: str, line: int | None, require: bool) -> str | None:
    """The product's taxonomy id (labels may be ids or paths); a bad or missing label raises.

    ExampleGen and the run's preflight check share this, so both reject exactly the same records.
    """
    if not product.category:
        if require:
            raise RecordError(source, line, F.CATEGORY, f"product {product.id!r}: missing (training data needs a category)",
                              record_id=product.id)
        return None
    node = taxonomy.resolve(product.category)
    if node is None:
        raise RecordError(source, line, F.CATEGORY, f"product {product.id!r}: {product.category!r} is not in the taxonomy",
                          record_id=product.id)
    return node.id
