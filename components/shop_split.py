"""The train/eval split by shop: no shop in both, so model selection is judged on new merchants.

Early stopping, the margin head's mixing weight, the thresholds and the Evaluator's gates all read
the eval split. Split by product, they reward what a training shop's own listings share (its
vendor, its wording, its product types), which new merchants do not have; split by shop, they
reward what carries over.

TFX's own `partition_feature_name` hashes one feature into buckets. Here the shops are put in a
hash order and cut where the products, not the shops, reach each split's share: shop sizes follow
a power law, so hashing shops into buckets would leave the eval split's size to where the few big
shops fall (from a sliver to half the data). A product without a shop is hashed on its id.

`split.method: auto` splits by shop when the products name at least `split.min_shops` shops, and by
product otherwise: a handful of shops would make the eval split one or two merchants.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import os
from collections.abc import Iterable

import apache_beam as beam
import tensorflow as tf
from tfx.dsl.io import fileio
from tfx.utils import io_utils

from prodcat import features as F

DECISION_DIR = "SplitDecision"  # inside the Examples artifact, beside TFX's Split-* folders


def _value(example: tf.train.Example, name: str) -> bytes:
    feature = example.features.feature.get(name)
    values = feature.bytes_list.value if feature is not None else ()
    return values[0] if values else b""


def _hash(key: bytes) -> int:
    return int(hashlib.sha256(key).hexdigest(), 16)


def shop_splits(shop_sizes: Iterable[tuple[bytes, int]], bounds: list[int]) -> dict[bytes, int]:
    """Each shop's split: shops in hash order, cut where the products' running share passes each
    split's share of the cumulative hash buckets `bounds`.

    A shop goes where the middle of its products falls, so each split's share is met to within
    half a shop.
    """
    ordered = sorted(shop_sizes, key=lambda item: (_hash(b"shop\0" + item[0]), item[0]))
    total = sum(size for _, size in ordered) or 1
    cuts = [bound / bounds[-1] for bound in bounds[:-1]]
    splits, before = {}, 0
    for shop, size in ordered:
        splits[shop] = bisect.bisect(cuts, (before + size / 2) / total)
        before += size
    return splits


def partition(example: tf.train.Example, num_partitions: int, bounds: list[int],
              splits_of_shops: dict[bytes, int]) -> int:
    """The product's shop's split; hashed on its id into the cumulative buckets `bounds` when it
    has no shop or shops are not split on."""
    del num_partitions  # beam.Partition passes it; `bounds` has one entry per split
    shop = _value(example, F.SHOP)
    if shop in splits_of_shops:
        return splits_of_shops[shop]
    return bisect.bisect(bounds, _hash(b"id\0" + _value(example, F.ID)) % bounds[-1])


def describe(shop_sizes: list[tuple[bytes, int]], splits_of_shops: dict[bytes, int], split_names: list[str],
             min_shops: int) -> str:
    """What the split did, as JSON for the Examples artifact's `split` property: by shop (and how
    many shops each split holds) or by product (and why)."""
    if splits_of_shops:
        shops = [sum(1 for split in splits_of_shops.values() if split == index) for index in range(len(split_names))]
        return json.dumps({"by": "shop", "shops": len(shop_sizes), "shops_per_split": dict(zip(split_names, shops))})
    return json.dumps({"by": "product", "shops": len(shop_sizes), "min_shops": min_shops})


def split_by_shop(examples: beam.PCollection, hash_buckets: list[int], min_shops: int,
                  split_names: list[str]) -> tuple[list[beam.PCollection], beam.PCollection]:
    """One PCollection per split, sized by `hash_buckets`; by shop once there are `min_shops` shops.
    Also a one-element PCollection describing the decision (`describe`)."""
    bounds = list(itertools.accumulate(hash_buckets))

    def assign(sizes: list[tuple[bytes, int]]) -> dict[bytes, int]:
        return shop_splits(sizes, bounds) if len(sizes) >= min_shops else {}

    shop_sizes = (
        examples
        | "Shops" >> beam.Map(lambda example: _value(example, F.SHOP))
        | "NamedShops" >> beam.Filter(bool)
        | "ShopSizes" >> beam.combiners.Count.PerElement()
        | "AllShops" >> beam.combiners.ToList()
    )
    splits_of_shops = shop_sizes | "AssignShops" >> beam.Map(assign)
    decision = shop_sizes | "DescribeSplit" >> beam.Map(
        lambda sizes, assigned: describe(sizes, assigned, split_names, min_shops),
        beam.pvalue.AsSingleton(splits_of_shops))
    parts = examples | "SplitByShop" >> beam.Partition(
        partition, len(bounds), bounds, beam.pvalue.AsSingleton(splits_of_shops))
    return list(parts), decision


def write_decision(decision: beam.PCollection, examples_uri: str) -> None:
    """Writes `split_by_shop`'s decision into the Examples artifact, for `read_decision`."""
    _ = decision | "WriteSplitDecision" >> beam.io.WriteToText(
        os.path.join(examples_uri, DECISION_DIR, "split"), file_name_suffix=".json", shard_name_template="")


def read_decision(examples_uri: str, method: str) -> str:
    """How the products were split, as JSON: the decision written by `write_decision` (methods
    shop and auto), else `{"by": "product"}` (TFX's hash) or `{"by": "files"}`."""
    path = os.path.join(examples_uri, DECISION_DIR, "split.json")
    if fileio.exists(path):
        return io_utils.read_string_file(path).strip()
    return json.dumps({"by": "files" if method == "files" else "product"})
