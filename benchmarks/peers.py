"""The systems users would pick instead of prodcat, behind one interface, for `benchmarks.quality`.

Every peer is fitted on labelled `Product`s and a `Taxonomy` and returns, per product, a predicted
category path (taxonomy ids from level 1 down, always a real path of the tree) and a confidence
(a float; higher = surer; only its order matters, the coverage sweep thresholds on it):

| name        | model                                                                 | confidence |
|-------------|-----------------------------------------------------------------------|------------|
| `fasttext`  | fastText supervised (fasttext-wheel) on the product's label node      | softmax probability of the predicted label |
| `hiclass`   | hiclass LocalClassifierPerParentNode, LogisticRegression per parent, TF-IDF features | product of the local classifiers' probabilities of the chosen child, level by level |
| `tfidf-svm` | TF-IDF (word 1-2-grams + char_wb 2-5-grams) + LinearSVC on the label node | decision value of the predicted class |
| `tfidf-lr`  | the same features + LogisticRegression on the label node              | probability of the predicted class |
| `zeroshot`  | USE-m embedding of the product text vs of every category's path name (prodcat's TF encoder), no training | cosine similarity to the chosen category |

The flat peers predict the node a product is labelled with (its "leaf" in the data: a taxonomy
leaf, or an inner node when the label stops above the leaves) and take that node's ancestors as
the path. Every peer reads the same product text (`TextSpec`), which is also what prodcat is
configured to read in the benchmark.

Modules, one job each:
- `peer_interface`: the text every peer reads (`TextSpec`), its output (`PeerOutput`), `Peer`;
- `peer_tfidf`: `tfidf-svm` and `tfidf-lr`;
- `peer_hiclass`: `hiclass`;
- `peer_fasttext`: `fasttext`;
- `peer_zeroshot`: `zeroshot`.
This module maps the names to them (`make_peer`).
"""

from __future__ import annotations

# Re-exported: benchmarks.quality and tests/ import the peers from here.
from .peer_fasttext import FastTextFlat, fasttext_text  # noqa: F401
from .peer_hiclass import HiClassLCPPN, import_hiclass  # noqa: F401
from .peer_interface import FIELD_SEPARATOR, Peer, PeerOutput, TextSpec, _label_ids  # noqa: F401
from .peer_tfidf import TfidfFlat, tfidf_features  # noqa: F401
from .peer_zeroshot import ZeroShotUSE, category_text  # noqa: F401


PEERS = {
    "fasttext": FastTextFlat,
    "hiclass": HiClassLCPPN,
    "tfidf-svm": lambda text=TextSpec(): TfidfFlat("svm", text),
    "tfidf-lr": lambda text=TextSpec(): TfidfFlat("lr", text),
    "zeroshot": ZeroShotUSE,
}


def make_peer(name: str, text: TextSpec = TextSpec()) -> Peer:
    if name not in PEERS:
        raise ValueError(f"unknown peer {name!r}; choose from {', '.join(PEERS)}")
    return PEERS[name](text=text)
