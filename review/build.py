"""A review queue from a pushed model and a batch of products (or a finished run's eval split).

The products go through `serving.predict.Predictor`, the batch predictor every caller uses, twice:
once as served (thresholds applied) and once at full depth (what the thresholds withheld). The
taxonomy and thresholds are the ones the model version ships, so the queue judges the model by
the rules it is served with.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from prodcat.config import Config
from prodcat.contract.signatures import ASSETS_EXTRA, CONFIG_ASSET, PREDICT_READ_OPTIONS, TAXONOMY_ASSET, Prediction
from prodcat.records import Product, RecordError
from prodcat.readers import input_files, iter_products
from prodcat.review.items import QUEUES, Queue, QueueMeta, save_queue
from prodcat.review.queues import audit_queue, config_floor, disagreement_queue, withheld_queue
from prodcat.serving.predict import resolve_model_dir
from prodcat.taxonomy import Taxonomy


@dataclasses.dataclass(frozen=True)
class ServedModel:
    """A pushed model version with the taxonomy and config it was exported with."""

    model_dir: Path
    version: str
    taxonomy: Taxonomy
    config: Config


def served_model(model: str | os.PathLike) -> ServedModel:
    """A model version directory, or the newest version under a model base path."""
    model_dir = resolve_model_dir(model)
    extra = model_dir / ASSETS_EXTRA
    config = Config.model_validate(json.loads((extra / CONFIG_ASSET).read_text(encoding="utf-8")))
    return ServedModel(model_dir, model_dir.name, Taxonomy.from_file(extra / TAXONOMY_ASSET), config)


def read_products(paths: Sequence[str | os.PathLike]) -> list[Product]:
    """Every product of the given files or directories; the gzipped TFRecords of a run's Examples too."""
    from prodcat.contract.examples import TFRECORD_READERS, iter_tfrecord

    readers = {**TFRECORD_READERS, ".gz": iter_tfrecord}
    products: list[Product] = []
    for path in paths:
        files = [Path(path)] if Path(path).is_file() else input_files(path)
        for file in files:
            products += iter_products(file, options=PREDICT_READ_OPTIONS, extra_readers=readers)
    if not products:
        raise RecordError(", ".join(str(p) for p in paths), None, None, "no products to review")
    return products


def predict(model: ServedModel, products: Sequence[Product], batch_size: int = 256) -> tuple[list[Prediction], list[Prediction]]:
    """(served, full-depth) predictions of every product, in input order."""
    from prodcat.serving.predict import Predictor

    predictor = Predictor(model.model_dir)
    served: list[Prediction] = []
    full: list[Prediction] = []
    for start in range(0, len(products), batch_size):
        batch = list(products[start: start + batch_size])
        served += predictor.predict(batch)
        full += predictor.predict(batch, full_depth=True)
    return served, full


def build_queue(queue: str, model: ServedModel, products: Sequence[Product], served: Sequence[Prediction],
                full: Sequence[Prediction], *, weights: Mapping[str, float] | None = None, margin: float = 0.05,
                confidence: float = 0.95, seed: int = 0, min_confidence: float = 0.9) -> Queue:
    """One of `QUEUES` over predictions already made (tests and callers with predictions at hand)."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; expected one of {', '.join(QUEUES)}")
    taxonomy, thresholds = model.taxonomy, model.config.thresholds
    base = dict(queue=queue, model_dir=str(model.model_dir), model_version=model.version, products=len(products),
                served=sum(s.category_id is not None for s in served))
    if queue == "withheld":
        items = withheld_queue(products, served, full, taxonomy, config_floor(thresholds, taxonomy), weights)
        return Queue(QueueMeta(**base), tuple(items))
    if queue == "disagreements":
        return Queue(QueueMeta(**base), tuple(disagreement_queue(products, full, served, taxonomy, min_confidence)))
    items, sizes, wanted = audit_queue(products, served, full, taxonomy, thresholds.sensitive.paths, margin,
                                       confidence, seed)
    return Queue(QueueMeta(**base, strata=sizes, sampled=wanted, margin=margin, confidence=confidence), tuple(items))


def read_weights(path: str | os.PathLike) -> dict[str, float]:
    """Traffic or catalogue weights, one JSON line per product: {"id": ..., "weight": ...}."""
    weights: dict[str, float] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            weight = float(record["weight"])
            weights[str(record["id"])] = weight
        except (ValueError, KeyError, TypeError):
            raise RecordError(str(path), number, "weight", 'expected {"id": ..., "weight": <number>}') from None
        if weight < 0:
            raise RecordError(str(path), number, "weight", f"a weight must be >= 0, got {weight}")
    return weights


def prepare_queue(queue: str, model_path: str | os.PathLike, products: Sequence[str | os.PathLike],
                  directory: str | os.PathLike, *, weights: str | os.PathLike | None = None, margin: float = 0.05,
                  confidence: float = 0.95, seed: int = 0, min_confidence: float = 0.9) -> tuple[Path, bool]:
    """The saved queue of this model version in `directory`: (path, whether it was built now).

    An existing one is reused as it is, so a session restarted after a crash, or continued the
    next day, sees the same items in the same order (the audit's sample must not be redrawn).
    """
    model = served_model(model_path)
    path = Path(directory) / f"{queue}-{model.version}.json"
    if path.exists():
        return path, False
    read = read_products(products)
    served, full = predict(model, read)
    built = build_queue(queue, model, read, served, full, weights=read_weights(weights) if weights else None,
                        margin=margin, confidence=confidence, seed=seed, min_confidence=min_confidence)
    return save_queue(built, path), True
