"""Signature names, product -> model inputs, model outputs -> `Prediction` (no TensorFlow here).

The Trainer exports these signatures and every caller (`prodcat predict`, `prodcat serve`, the
client, the warm-up requests, the report) builds its inputs and reads its outputs through this
module, so the two sides cannot drift apart.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from prodcat import features as F
from prodcat.images import ImageError, normalize_image
from prodcat.records import MAX_FIELD_CHARS, Product, ReadOptions

RAW_SIGNATURE = "serving_raw"  # named string inputs, one per product field
EXAMPLES_SIGNATURE = "serving_default"  # serialized tf.Examples (TF Serving's and TFMA's default)
TRANSFORM_SIGNATURE = "transform_features"  # serialized tf.Examples -> transformed features (TFMA)
EXAMPLES_INPUT = "examples"  # the one input of `serving_default`
# What a model version carries besides the SavedModel (`<version>/assets.extra/...`).
ASSETS_EXTRA = "assets.extra"
CONFIG_ASSET = "prodcat_config.json"  # the run's config, thresholds included
TAXONOMY_ASSET = "taxonomy.txt"  # the taxonomy the model was trained on
WARMUP_ASSET = "tf_serving_warmup_requests"  # PredictionLogs TF Serving replays on load
TRAINING_SUMMARY_ASSET = "training_summary.json"  # what the Trainer did: epochs, history, classes seen
MAX_WARMUP_RECORDS = 1000  # TF Serving reads at most this many
# The outputs a `Prediction` is made of; asking only for them keeps responses small.
PREDICTION_OUTPUTS = (F.OUT_LEVEL_IDS, F.OUT_LEVEL_NAMES, F.OUT_LEVEL_CONFIDENCES)

# Requests replayed when a server loads a version: several languages and list widths, no label.
WARMUP_PRODUCTS: tuple[Product, ...] = (
    Product(id="warmup-1", title="Stainless steel water bottle 750 ml", tags=["bottle", "outdoor"], language="en"),
    Product(id="warmup-2", title="Hundebett orthopädisch XL grau", vendor="Tierwelt", language="de"),
    Product(id="warmup-3", title="Camiseta de algodón para niños", product_type="Ropa", tags=["algodón"], language="es"),
)

_PRODUCT_FIELDS = frozenset(f.name for f in dataclasses.fields(Product))
# How callers of a model read product files: a text value longer than the graph would read is a
# bad record (named, or skipped with --skip-bad-records), never silently cut.
PREDICT_READ_OPTIONS = ReadOptions(max_field_chars=MAX_FIELD_CHARS)


# ----------------------------------------------------------------------------- inputs
def default_raw_input_names() -> list[str]:
    """The serving_raw inputs prodcat exports (every raw feature but the label)."""
    return sorted({F.ID, *F.TEXT_FIELDS, *F.LIST_FIELDS, F.IMAGE})


def normalized_image(data: bytes | None) -> bytes:
    """The JPEG the model was trained on (see prodcat.images); an undecodable image counts as none."""
    if not data:
        return b""
    try:
        return normalize_image(data)
    except ImageError:
        return b""


def raw_inputs(products: Sequence[Product], input_names: Iterable[str], list_width: int = 1) -> dict[str, np.ndarray]:
    """The `serving_raw` inputs: [batch] strings, list fields [batch, width] padded with "".

    Lists are padded to at least `list_width` (a fixed width lets a batching server concatenate
    concurrent requests); longer lists round the width up to a power of two. The model drops the
    "" padding, so the width never changes a prediction.
    """
    columns: dict[str, np.ndarray] = {}
    for name in input_names:
        if name in F.LIST_FIELDS:
            values = [getattr(p, name) for p in products]
            longest = max((len(v) for v in values), default=0)
            width = max(1, list_width)
            if longest > width:
                width = 1 << (longest - 1).bit_length()
            array = np.full((len(products), width), b"", dtype=object)
            for row, items in enumerate(values):
                array[row, : len(items)] = [s.encode("utf-8") for s in items]
            columns[name] = array
        elif name == F.IMAGE:
            columns[name] = object_array([normalized_image(p.image) for p in products])
        elif name in _PRODUCT_FIELDS:
            columns[name] = object_array([(getattr(p, name) or "").encode("utf-8") for p in products])
        else:
            raise ValueError(f"the serving_raw signature takes an input {name!r} that products do not have")
    return columns


def example_features(product: Product, category_id: str | None = None) -> dict[str, list[bytes]]:
    """A product's tf.Example features: every raw feature present (empty when unknown), so the
    schema is stable across sources. `category_id` is the resolved taxonomy id."""
    text = {
        F.ID: product.id, F.TITLE: product.title, F.DESCRIPTION: product.description, F.VENDOR: product.vendor,
        F.PRODUCT_TYPE: product.product_type, F.SHOP: product.shop, F.LANGUAGE: product.language,
        F.CATEGORY: category_id if category_id is not None else (product.category or ""),
    }
    features = {name: [value.encode("utf-8")] for name, value in text.items()}
    features[F.TAGS] = [t.encode("utf-8") for t in product.tags]
    features[F.COLLECTIONS] = [c.encode("utf-8") for c in product.collections]
    features[F.IMAGE] = [product.image or b""]
    return features


def mapping_from_features(features: dict[str, list[bytes]]) -> dict[str, Any]:
    """tf.Example features as the plain dict `records.product_from_mapping` validates.

    Bytes that are not UTF-8 are decoded with `surrogateescape`, so the record is rejected naming
    the feature that holds them instead of failing as a whole.
    """
    out: dict[str, Any] = {}
    for name, values in features.items():
        if name == F.IMAGE:
            out[name] = values[0] if values and values[0] else None
        elif name in F.LIST_FIELDS:
            out[name] = [v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else str(v) for v in values]
        elif values:
            value = values[0]
            out[name] = value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)
    return out


def object_array(values: list[bytes]) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


# ----------------------------------------------------------------------------- outputs
@dataclasses.dataclass(frozen=True)
class LevelPrediction:
    level: int
    id: str
    name: str
    confidence: float


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One product's category as served: thresholded (or the full decoded path with full_depth)."""

    id: str
    category_id: str | None
    category_path: str
    levels: list[LevelPrediction]
    depth: int

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "category_id": self.category_id, "category_path": self.category_path,
            "levels": [dataclasses.asdict(level) for level in self.levels], "depth": self.depth,
        }


def predictions_from_outputs(ids: list[str], outputs: dict[str, Any], full_depth: bool = False) -> list[Prediction]:
    """Turns the model's output tensors (numpy) into `Prediction`s."""
    level_ids = np.asarray(outputs[F.OUT_LEVEL_IDS])
    level_names = np.asarray(outputs[F.OUT_LEVEL_NAMES])
    confidences = np.asarray(outputs[F.OUT_LEVEL_CONFIDENCES])
    depths = np.asarray(outputs[F.OUT_FULL_DEPTH if full_depth else F.OUT_DEPTH]).reshape(-1)
    results = []
    for row, product_id in enumerate(ids):
        depth = int(depths[row])
        levels = [
            LevelPrediction(k + 1, text(level_ids[row, k]), text(level_names[row, k]), round(float(confidences[row, k]), 6))
            for k in range(depth)
        ]
        results.append(Prediction(
            id=product_id,
            category_id=levels[-1].id if levels else None,
            category_path=" > ".join(level.name for level in levels),
            levels=levels,
            depth=depth,
        ))
    return results


def text(value: Any) -> str:
    """A string tensor's element as str."""
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
