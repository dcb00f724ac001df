"""The `fasttext` peer: fastText's supervised classifier on the label node.

fastText reads a training file of whitespace-split lines, so the product text is normalised
here (`fasttext_text`) before training and prediction alike.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence

from prodcat.records import Product
from prodcat.taxonomy import Taxonomy

from .peer_interface import PeerOutput, TextSpec, _label_ids


# ----------------------------------------------------------------------------- fastText
_FT_TOKEN = re.compile(r"[^\w]+", re.UNICODE)


def fasttext_text(text: str) -> str:
    """Lowercased, punctuation to spaces, one line (fastText splits on whitespace only)."""
    return " ".join(_FT_TOKEN.sub(" ", text.lower()).split())


class FastTextFlat:
    """fastText supervised classifier on the label node (word uni- and bigrams, softmax).

    Settings chosen on a dev split carved from MWPD's training set (not on any evaluation split):
    lr 1.0, 50 epochs, no character n-grams (lr 0.5 / 25 epochs / char 2-5-grams scored lower).
    One thread, so runs are reproducible.
    """

    name = "fasttext"

    def __init__(self, text: TextSpec = TextSpec(), epoch: int = 50, lr: float = 1.0, word_ngrams: int = 2,
                 dim: int = 100, minn: int = 0, maxn: int = 0, threads: int = 1, seed: int = 0) -> None:
        self.text = text
        self.params = dict(epoch=epoch, lr=lr, wordNgrams=word_ngrams, dim=dim, minn=minn, maxn=maxn,
                           minCount=1, loss="softmax", thread=threads, seed=seed, verbose=0)

    def fit(self, products: Sequence[Product], taxonomy: Taxonomy) -> None:
        import fasttext

        self.taxonomy = taxonomy
        labels = _label_ids(products, taxonomy)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "train.txt")
            with open(path, "w", encoding="utf-8") as handle:
                for product, label in zip(products, labels):
                    handle.write(f"__label__{label} {fasttext_text(self.text.text(product))}\n")
            self.model = fasttext.train_supervised(input=path, **self.params)

    def predict(self, products: Sequence[Product]) -> PeerOutput:
        labels, probs = self.model.predict([fasttext_text(self.text.text(p)) for p in products], k=1)
        paths = [self.taxonomy.ancestors(label[0][len("__label__"):]) for label in labels]
        return PeerOutput(paths, [float(min(p[0], 1.0)) for p in probs])
