"""The classifier and its training: trunk, heads, margin head, optimisation; settings removed."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from prodcat.config.base import FROM_FILE, Section


class MarginHeadConfig(Section):
    """A linear SVM per taxonomy level beside the neural heads (`model.margin_head`).

    Fitted by liblinear (scikit-learn's LinearSVC: one-vs-rest squared hinge, L2) to convergence
    on the training split before the network trains, on the products' sublinear TF-IDF vectors
    (word uni/bigrams and character n-grams as two L2-normalised blocks), their sentence embedding
    and their shop. Served as TF ops inside the model: each level's distribution becomes
    softmax(log p_network + weight * svm_scores). On sparse n-grams a margin-trained linear model
    reaches what a softmax trained with Adam does not (BENCHMARKS.md); the network keeps what it
    adds beyond it (names of categories without training products, other languages).
    """

    enabled: bool = Field(True, description="fit the SVMs and mix their scores into the served distributions")
    c: float = Field(1.0, gt=0.0, description="liblinear's C: the inverse of the L2 regularisation strength")
    max_features: int = Field(1 << 16, ge=1, description="n-gram buckets kept (most frequent in training first)")
    min_df: int = Field(1, ge=1, description="a bucket is kept when at least this many training products have it")
    weight: float | None = Field(
        None, ge=0.0, description="the SVM scores' weight against the network's log-probabilities; None: the middle "
        "of the best plateau of `weight_grid` on the eval split")
    weight_grid: tuple[Annotated[float, Field(ge=0.0)], ...] = Field(
        (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0), description="the weights tried on the eval split when `weight` is None")
    max_iter: int = Field(1000, ge=1, description="liblinear's iteration cap per class")


# Settings removed from `model`, with what replaces each or why it went; and the value that asked
# for what prodcat now always does. A config file that sets one is an error; a config dumped
# before the removal (an exported model's assets.extra/config.json, a compiled pipeline's
# custom_config) holds every setting and still loads when it holds that value.
REMOVED_MODEL_SETTINGS: dict[str, tuple[object, str]] = {
    "heads": ("per_level", "the model has one softmax head per taxonomy level; the flat leaf classifier measured "
              "no gain and is the ablation benchmark's variant 'flat leaf classifier' (benchmarks/flat_classifier.py)"),
    "memorizing_path_dropout": (0.0, "it measured no gain (BENCHMARKS.md); delete the setting"),
    "loss": ("cross_entropy", "each level's loss is cross-entropy; the hinge losses measured no gain (BENCHMARKS.md)"),
    "hinge_margin": (1.0, "it went with the hinge loss, which measured no gain (BENCHMARKS.md); delete the setting"),
    "wide_gain": (1.0, "the wide path learns at the model's learning rate; other gains measured worse "
                  "(BENCHMARKS.md); delete the setting"),
}


class ModelConfig(Section):
    """The per-level model: shared trunk, one softmax head per taxonomy level."""

    embedding_dim: int = Field(64, ge=4, description="size of the learned word/n-gram embedding")
    token_weighting: Literal["mean", "tfidf"] = Field(
        "tfidf", description="pooling of the n-gram embeddings: mean, or TF-IDF weights from the training data "
        "(rare, telling tokens count more than the n-grams every title shares)")
    image_units: int = Field(64, ge=4, description="size of the image features fed to the trunk")
    hidden_units: tuple[int, ...] = Field((256,), description="the shared trunk's dense layers, one size each")
    level_hidden_units: int = Field(128, ge=0, description="a dense layer of this size in each level's head; 0: none")
    parent_feedback: bool = Field(
        True, description="each level's head also reads the level above's predicted distribution")
    ngram_features: bool = Field(
        True, description="the trained text path (hashed word/char n-grams learned end to end); off: the "
        "model reads only the pretrained embeddings (and shop, image)")
    merchant_feature: bool = Field(
        True, description="learn an embedding of the shop name (zero for shops never seen in training)")
    merchant_dim: int = Field(16, ge=2, description="size of the shop embedding")
    merchant_dropout: float = Field(
        0.5, ge=0.0, lt=1.0, description="share of training products whose shop embedding is hidden: a shop never "
        "seen in training has a zero embedding, so the model must also learn to categorize without one")
    label_semantics: bool = Field(
        True, description="also score each category by the product's similarity to the category's path name "
        "(needs the pretrained text encoder): rare and unseen categories can be predicted")
    label_prior: bool = Field(
        True, description="add the plain similarity of the product's sentence embedding to each category name "
        "(zero-shot, only its scale learned): a prior for shops and domains training has not covered")
    unseen_classes: Literal["trained", "label_semantics"] = Field(
        "label_semantics", description="categories without training products: label_semantics leaves them out of "
        "training and scores them by their names at serving; trained keeps them in every softmax")
    unseen_class_offset: float | None = Field(
        None, ge=0.0, description="with unseen_classes label_semantics: subtracted from a name-only score at serving, "
        "so such a category wins only by a margin; None: 0 while early stopping watches the eval split, then "
        "the middle of the best plateau of unseen_class_offset_grid there")
    unseen_class_offset_grid: tuple[Annotated[float, Field(ge=0.0)], ...] = Field(
        (3.0, 4.5, 6.0, 9.0, 12.0), min_length=1, description="the offsets tried on the eval split when "
        "unseen_class_offset is None; none below 3 by default: on new shops a smaller one won the eval split by "
        "chance and lost on the shops after it")
    wide_path: bool = Field(
        True, description="wide & deep: add a linear model on the TF-IDF vector of the hashed n-grams to each "
        "level's scores, one weight per (n-gram, category with training products)")
    wide_max_features: int = Field(1 << 15, ge=1, description="n-gram buckets the wide path keeps, most frequent first")
    wide_min_df: int = Field(2, ge=1, description="the wide path keeps buckets in at least this many training products")
    dropout: float = Field(0.2, ge=0.0, lt=1.0, description="dropout rate after each dense layer in training")
    loss_weights: tuple[float, ...] | None = Field(
        None, description="per-level loss weights (the last repeats for deeper levels); None weighs every level 1.0"
    )
    class_weighting: Literal["none", "inverse_sqrt", "inverse"] = Field(
        "inverse_sqrt", description="weigh each product's loss by its category's rarity: 1/sqrt(count), 1/count or none")
    class_sampling: Literal["none", "sqrt", "uniform"] = Field(
        "none", description="resample the training stream by category: sqrt draws a category in proportion to "
        "the square root of its count, uniform every seen category equally often; none: as in the data")
    optimizer: Literal["adam", "lazy_adam"] = Field(
        "lazy_adam", description="lazy_adam: Adam that updates only the looked-up rows of the n-gram and wide "
        "tables (much less work per step); adam: Keras' Adam")
    learning_rate: float = Field(3e-3, gt=0, description="the optimizer's learning rate")
    batch_size: int = Field(64, ge=1, description="products per training step")
    epochs: int = Field(30, ge=1, description="most passes over the training data (early stopping may end sooner)")
    early_stopping_patience: int = Field(
        4, ge=0, description="epochs without improvement on the eval split before training stops")
    early_stopping_monitor: Literal["loss", "accuracy"] = Field(
        "accuracy", description="what early stopping watches on the eval split (and whose best epoch it keeps): "
        "the mean per-level accuracy, or the loss")
    margin_head: MarginHeadConfig = Field(MarginHeadConfig(), description="linear SVMs per level beside the network")
    seed: int = Field(0, description="the random seed of training: same data and seed, same model")

    @model_validator(mode="before")
    @classmethod
    def _removed_settings(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or not REMOVED_MODEL_SETTINGS.keys() & data.keys():
            return data
        strict = bool(info.context and info.context.get(FROM_FILE))
        problems = [key for key in REMOVED_MODEL_SETTINGS
                    if key in data and (strict or data[key] != REMOVED_MODEL_SETTINGS[key][0])]
        if problems:
            raise PydanticCustomError("removed_setting", "; ".join(
                f"`{key}` was removed: {REMOVED_MODEL_SETTINGS[key][1]}" for key in problems))
        return {key: value for key, value in data.items() if key not in REMOVED_MODEL_SETTINGS}

