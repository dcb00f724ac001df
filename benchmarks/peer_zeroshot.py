"""The `zeroshot` peer: the nearest category name by USE-m embedding, with no training at all.

It shows what a multilingual sentence encoder gets from the taxonomy's names alone, the
baseline any trained system has to beat.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from prodcat.records import Product
from prodcat.taxonomy import Taxonomy

from .peer_interface import PeerOutput, TextSpec


# ----------------------------------------------------------------------------- zero-shot USE-m
_GPC_CODE = re.compile(r"^\d+_")


def category_text(taxonomy: Taxonomy, category_id: str) -> str:
    """A category's path name, "A > B > C" (GS1 GPC code prefixes such as "65000000_" removed)."""
    return " > ".join(_GPC_CODE.sub("", name) for name in taxonomy[category_id].path)


class ZeroShotUSE:
    """Nearest category by cosine between USE-m embeddings of the product text and of each path name.

    No training: `fit` only embeds the taxonomy (every category, inner nodes included, so the
    prediction may stop above the leaves). Uses prodcat's TF implementation of USE multilingual v3.
    """

    name = "zeroshot"

    def __init__(self, text: TextSpec = TextSpec(), max_tokens: int = 128, batch: int = 128) -> None:
        self.text, self.max_tokens, self.batch = text, max_tokens, batch

    def _embed(self, texts: list[str]) -> np.ndarray:
        import tensorflow as tf

        out = [self.encoder(tf.constant(texts[i:i + self.batch])).numpy() for i in range(0, len(texts), self.batch)]
        return np.concatenate(out) if out else np.zeros((0, self.encoder.dim), np.float32)

    def fit(self, products: Sequence[Product], taxonomy: Taxonomy) -> None:  # noqa: ARG002  (no training)
        from prodcat.trainer.encoders.text import text_encoder

        self.taxonomy = taxonomy
        self.encoder = text_encoder({"kind": "use_multilingual", "max_tokens": self.max_tokens})
        self.ids = [c.id for c in taxonomy.categories]
        self.matrix = self._embed([category_text(taxonomy, c) for c in self.ids])

    def predict(self, products: Sequence[Product]) -> PeerOutput:
        embeddings = self._embed([self.text.text(p) for p in products])
        similarity = embeddings @ self.matrix.T
        best = similarity.argmax(axis=1)
        return PeerOutput([self.taxonomy.ancestors(self.ids[j]) for j in best],
                          [float(similarity[i, j]) for i, j in enumerate(best)])
