"""The `tfidf-svm` and `tfidf-lr` peers: TF-IDF features and a flat linear model on the label node.

The TF-IDF features are also what the `hiclass` peer (`benchmarks.peer_hiclass`) reads.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from prodcat.records import Product
from prodcat.taxonomy import Taxonomy

from .peer_interface import PeerOutput, TextSpec, _label_ids


# ----------------------------------------------------------------------------- TF-IDF features
def tfidf_features(max_char_features: int | None = 300_000):  # noqa: ANN201
    """Word 1-2-grams + character 2-5-grams within word boundaries (char_wb), sublinear TF-IDF."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion([
        ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b",
                                 min_df=1, sublinear_tf=True, dtype=np.float32)),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True,
                                 max_features=max_char_features, dtype=np.float32)),
    ])


class TfidfFlat:
    """TF-IDF + a linear model on the label node (`model`: "svm" = LinearSVC, "lr" = LogisticRegression)."""

    def __init__(self, model: str = "svm", text: TextSpec = TextSpec(), C: float | None = None,
                 max_char_features: int | None = 300_000, seed: int = 0) -> None:
        if model not in ("svm", "lr"):
            raise ValueError(f"model must be 'svm' or 'lr', got {model!r}")
        self.model, self.text, self.seed = model, text, seed
        self.C = C if C is not None else (1.0 if model == "svm" else 10.0)
        self.max_char_features = max_char_features
        self.name = f"tfidf-{model}"

    def fit(self, products: Sequence[Product], taxonomy: Taxonomy) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.svm import LinearSVC

        self.taxonomy = taxonomy
        self.features = tfidf_features(self.max_char_features)
        X = self.features.fit_transform([self.text.text(p) for p in products])
        y = np.array(_label_ids(products, taxonomy))
        self.single = None
        if len(set(y)) == 1:  # a one-class training set: nothing to learn
            self.single = y[0]
            return
        if self.model == "svm":
            self.clf = LinearSVC(C=self.C, random_state=self.seed)
        else:
            self.clf = LogisticRegression(C=self.C, max_iter=300, solver="saga", tol=1e-3, random_state=self.seed)
        self.clf.fit(X, y)

    def predict(self, products: Sequence[Product]) -> PeerOutput:
        if self.single is not None:
            return PeerOutput([self.taxonomy.ancestors(self.single) for _ in products], [1.0] * len(products))
        X = self.features.transform([self.text.text(p) for p in products])
        if self.model == "svm":
            scores = self.clf.decision_function(X)
        else:
            scores = self.clf.predict_proba(X)
        if scores.ndim == 1:  # two classes: LinearSVC returns one margin
            scores = np.stack([-scores, scores], axis=1)
        best = scores.argmax(axis=1)
        labels = self.clf.classes_[best]
        return PeerOutput([self.taxonomy.ancestors(str(c)) for c in labels],
                          [float(s) for s in scores[np.arange(len(best)), best]])
