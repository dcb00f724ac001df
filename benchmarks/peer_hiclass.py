"""The `hiclass` peer: hiclass's per-parent-node classifiers (LogisticRegression on TF-IDF features).

Holds the shim that lets hiclass import under the scikit-learn version TFX pins, and the
path confidence hiclass itself does not compute correctly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from prodcat.records import Product
from prodcat.taxonomy import Taxonomy

from .peer_interface import PeerOutput, TextSpec, _label_ids
from .peer_tfidf import tfidf_features


# ----------------------------------------------------------------------------- hiclass
def import_hiclass():  # noqa: ANN201
    """hiclass's LocalClassifierPerParentNode, importable under the scikit-learn prodcat pins.

    hiclass 5.0.8 declares scikit-learn>=1.5 but imports two names that only exist from 1.6:
    `sklearn.utils._tags.ClassifierTags` (used only in `__sklearn_tags__`, which scikit-learn 1.5
    never calls) and `sklearn.utils.validation.validate_data` (1.6's public spelling of 1.5's
    `BaseEstimator._validate_data`). TFX 1.16 pins scikit-learn==1.5.1, so when they are missing
    they are provided here, for this process only, with 1.5's equivalents.
    """
    import sklearn.utils._tags as tags
    import sklearn.utils.validation as validation

    if not hasattr(tags, "ClassifierTags"):
        @dataclasses.dataclass
        class ClassifierTags:  # noqa: D401  (only constructed, never read, under scikit-learn 1.5)
            poor_score: bool = False
            multi_class: bool = True
            multi_label: bool = False

        tags.ClassifierTags = ClassifierTags
    if not hasattr(validation, "validate_data"):
        def validate_data(estimator, X, y="no_validation", **kwargs):  # noqa: ANN001, ANN202, N803
            return estimator._validate_data(X, y, **kwargs)

        validation.validate_data = validate_data
    from hiclass import LocalClassifierPerParentNode

    return LocalClassifierPerParentNode


class HiClassLCPPN:
    """hiclass LocalClassifierPerParentNode with LogisticRegression per parent node on TF-IDF features.

    Paths come from `LocalClassifierPerParentNode.predict` (greedy top-down). The confidence is
    the product, over levels, of the parent node's classifier probability for the chosen child
    (hiclass's own `predict_proba` is not used: in 5.0.8 it scores every product with every
    parent's classifier at deeper levels, not only the products routed to that parent).
    """

    name = "hiclass"

    def __init__(self, text: TextSpec = TextSpec(), C: float = 10.0, max_char_features: int | None = 300_000,
                 n_jobs: int = 1, seed: int = 0) -> None:
        self.text, self.C, self.max_char_features, self.n_jobs, self.seed = text, C, max_char_features, n_jobs, seed

    def fit(self, products: Sequence[Product], taxonomy: Taxonomy) -> None:
        from sklearn.linear_model import LogisticRegression

        LocalClassifierPerParentNode = import_hiclass()
        self.taxonomy = taxonomy
        self.features = tfidf_features(self.max_char_features)
        X = self.features.fit_transform([self.text.text(p) for p in products])
        y = [taxonomy.ancestors(label) for label in _label_ids(products, taxonomy)]
        width = max(len(path) for path in y)
        y = np.array([path + [""] * (width - len(path)) for path in y])  # labels above the leaves: "" below
        self.model = LocalClassifierPerParentNode(
            local_classifier=LogisticRegression(C=self.C, max_iter=300, solver="saga", tol=1e-3, random_state=self.seed),
            n_jobs=self.n_jobs)
        self.model.fit(X, y)

    def predict(self, products: Sequence[Product]) -> PeerOutput:
        X = self.features.transform([self.text.text(p) for p in products])
        predicted = np.asarray(self.model.predict(X), dtype=object)
        if predicted.ndim == 1:
            predicted = predicted[:, None]
        paths = [[str(v) for v in row if str(v)] for row in predicted]
        return PeerOutput(paths, self._path_confidences(X, paths))

    def _path_confidences(self, X, paths: list[list[str]]) -> list[float]:  # noqa: ANN001, N803
        """Product of each level's local probability of the chosen child, routed as `predict` routes."""
        model, sep = self.model, self.model.separator_
        confidence = np.ones(len(paths))
        nodes = np.array([model.root_] * len(paths), dtype=object)  # hiclass node names: "a<sep>b<sep>c"
        for level in range(max((len(p) for p in paths), default=0)):
            for parent in set(nodes[[len(p) > level for p in paths]]):
                rows = np.array([i for i, p in enumerate(paths) if len(p) > level and nodes[i] == parent])
                classifier = model.hierarchy_.nodes[parent].get("classifier")
                children = [paths[i][level] if parent == model.root_ else f"{parent}{sep}{paths[i][level]}" for i in rows]
                if classifier is None or not hasattr(classifier, "predict_proba"):
                    proba_of_choice = np.ones(len(rows))
                else:
                    proba = classifier.predict_proba(X[rows])
                    column = {str(c): j for j, c in enumerate(classifier.classes_)}
                    proba_of_choice = np.array([proba[k, column[c]] if c in column else 1.0 for k, c in enumerate(children)])
                confidence[rows] *= proba_of_choice
                nodes[rows] = np.array(children, dtype=object)
        return [float(c) for c in confidence]
