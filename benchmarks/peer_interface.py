"""What every peer of `benchmarks.quality` shares: the product text it reads, its output, its interface.

Kept apart from the peers themselves so each peer module imports only this, and the registry
(`benchmarks.peers`) imports the peers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

from prodcat.records import Product
from prodcat.taxonomy import Taxonomy

FIELD_SEPARATOR = " | "  # the separator prodcat's Transform joins fields with (trainer/text.py)


@dataclasses.dataclass(frozen=True)
class TextSpec:
    """Which product fields form the text every system reads, in order.

    `fields` name `Product` attributes (list fields are joined with ", "); `description_chars`
    appends the first N characters of the description (0: none). The default is what prodcat's
    default config reads: its n-gram text fields, and the shop (prodcat learns a merchant
    embedding; the peers see the shop name as words). The description is left out: on a dev split
    of MWPD's training set, TF-IDF + LinearSVC with its first 200 or 500 characters scored lower
    at levels 2 and 3 than without it.
    """

    fields: tuple[str, ...] = ("title", "product_type", "tags", "vendor", "collections", "shop")
    description_chars: int = 0

    def text(self, product: Product) -> str:
        parts = []
        for name in self.fields:
            value = getattr(product, name)
            value = ", ".join(value) if isinstance(value, list) else (value or "")
            if value.strip():
                parts.append(value.strip())
        if self.description_chars and product.description:
            parts.append(product.description[: self.description_chars].strip())
        return FIELD_SEPARATOR.join(parts)

    def describe(self) -> str:
        return " + ".join(self.fields) + (f" + description[:{self.description_chars}]" if self.description_chars else "")


@dataclasses.dataclass
class PeerOutput:
    """Predictions for a batch of products: one path (ids, level 1 first) and one confidence each."""

    paths: list[list[str]]
    confidences: list[float]


class Peer(Protocol):
    name: str

    def fit(self, products: Sequence[Product], taxonomy: Taxonomy) -> None: ...

    def predict(self, products: Sequence[Product]) -> PeerOutput: ...


def _label_ids(products: Sequence[Product], taxonomy: Taxonomy) -> list[str]:
    """The taxonomy id each product is labelled with (labels may be ids or full paths)."""
    out = []
    for product in products:
        node = taxonomy.resolve(product.category or "")
        if node is None:
            raise ValueError(f"product {product.id}: category {product.category!r} is not in the taxonomy")
        out.append(node.id)
    return out
