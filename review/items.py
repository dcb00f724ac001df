"""What a review queue holds: items to decide (product, served path, candidates) and the queue's facts.

A queue is built once from a model and a batch of products, then saved; the web app and `prodcat
review stats` read the saved file, so a restarted session sees the same items in the same order,
and the audit's stratum sizes (needed to weight its estimates) travel with it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from prodcat.contract.signatures import ASSETS_EXTRA, TAXONOMY_ASSET
from prodcat.taxonomy import Taxonomy

QUEUES = ("withheld", "audit", "disagreements")


class QueueError(ValueError):
    """A queue file that cannot be used; the message names the file and what is wrong."""


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A category a reviewer can accept with one key: a prefix of the decoded path, or the data's label."""

    category_id: str
    path: str
    confidence: float | None  # the lowest of the model's confidences along the candidate's path; None for the data's label
    source: str  # "model" or "label"


@dataclasses.dataclass(frozen=True)
class QueueItem:
    """One product to decide, with what the model served and what it would have said at full depth."""

    item_id: str  # "<queue>:<product id>", the review log's unique key
    queue: str
    product: dict[str, Any]  # the canonical product record (Product.to_json_dict)
    served_id: str | None  # the served category (None: withheld at level 1)
    served_path: str
    served_depth: int
    candidates: tuple[Candidate, ...]
    label_id: str | None = None  # the category the data gives the product, if any
    stratum: str | None = None  # audit: the stratum it was sampled from
    priority: float = 0.0  # larger first (withheld: value of a decision; disagreements: model confidence)

    @property
    def product_id(self) -> str:
        return str(self.product["id"])

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QueueItem:
        fields = dict(data)
        fields["candidates"] = tuple(Candidate(**c) for c in data.get("candidates", ()))
        return cls(**fields)


@dataclasses.dataclass(frozen=True)
class QueueMeta:
    """Facts about the batch a queue was drawn from, needed to read its decisions without bias."""

    queue: str
    model_dir: str
    model_version: str
    products: int  # products in the batch
    served: int  # of them, products served a category (coverage = served / products)
    strata: dict[str, int] = dataclasses.field(default_factory=dict)  # audit: stratum -> served products in it
    sampled: dict[str, int] = dataclasses.field(default_factory=dict)  # audit: stratum -> products sampled
    margin: float | None = None  # audit: the target margin of error the sample sizes come from
    confidence: float | None = None  # audit: the confidence level of that margin

    @property
    def coverage(self) -> float:
        return self.served / self.products if self.products else 0.0


@dataclasses.dataclass(frozen=True)
class Queue:
    meta: QueueMeta
    items: tuple[QueueItem, ...]

    def item(self, item_id: str) -> QueueItem | None:
        return next((i for i in self.items if i.item_id == item_id), None)


def item_id(queue: str, product_id: str) -> str:
    return f"{queue}:{product_id}"


def save_queue(queue: Queue, path: str | os.PathLike) -> Path:
    """Writes the queue as one JSON document, atomically (a crash leaves the old file or the new one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    document = {"meta": dataclasses.asdict(queue.meta), "items": [i.to_json() for i in queue.items]}
    tmp.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_queue(path: str | os.PathLike) -> Queue:
    """Reads a queue written by `save_queue`; a missing or malformed file is a `QueueError` naming it."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        meta = QueueMeta(**document["meta"])
        items = tuple(QueueItem.from_json(i) for i in document["items"])
    except OSError as err:
        raise QueueError(f"{path}: cannot read the queue ({err.strerror or err})") from None
    except (ValueError, KeyError, TypeError) as err:
        raise QueueError(f"{path}: not a review queue ({err})") from None
    if meta.queue not in QUEUES:
        raise QueueError(f"{path}: unknown queue {meta.queue!r} (expected one of {', '.join(QUEUES)})")
    return Queue(meta, items)


def queue_taxonomy(model_dir: str) -> Taxonomy:
    """The taxonomy a queue's model version ships (decisions are ids of it)."""
    path = Path(model_dir) / ASSETS_EXTRA / TAXONOMY_ASSET
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the queue's model taxonomy is gone (the queue names model {model_dir})")
    return Taxonomy.from_file(path)
