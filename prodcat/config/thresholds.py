"""What is served and what is pushed: confidence floors, decoding, sensitive subtrees, gates."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from prodcat.config.base import Section


class ThresholdOverride(Section):
    """A stricter confidence floor for every category under `path` (e.g. sensitive subtrees)."""

    path: str = Field(description="a category path of the taxonomy, e.g. 'Mature'")
    min_confidence: float = Field(ge=0.0, le=1.0, description="the floor for every category under `path`")


GOOGLE_SENSITIVE_PATHS = (
    "Religious & Ceremonial",
    "Apparel & Accessories > Clothing > Traditional & Ceremonial Clothing > Religious Ceremonial Clothing",
    "Mature",
    "Sporting Goods > Outdoor Recreation > Hunting & Shooting",
    "Arts & Entertainment > Hobbies & Creative Arts > Collectibles > Collectible Weapons",
    "Health & Beauty > Health Care > Medicine & Drugs",
)


class SensitiveConfig(Section):
    """Subtrees where a wrong category does harm (religion, weapons, adult goods, medicine).

    They get a stricter confidence floor in serving, their own evaluation slices and gates.
    Paths the taxonomy does not have are ignored (the defaults name Google's categories), unlike
    explicit `thresholds.overrides`, which must exist.
    """

    paths: tuple[str, ...] = Field(GOOGLE_SENSITIVE_PATHS, description="the sensitive subtrees' category paths")
    min_confidence: float = Field(0.8, ge=0.0, le=1.0, description="the confidence floor inside those subtrees")


class ThresholdTuningConfig(Section):
    """Choosing the floors from the eval split (`prodcat tune-thresholds`, the ThresholdTuner component).

    The per-level floors with the highest coverage at hierarchical precision >= `target_precision`,
    and per sensitive subtree the lowest floor (not below `sensitive.min_confidence`) at which its
    slice reaches `sensitive_precision`. With `enabled`, the pipeline tunes every trained model
    between Trainer and Evaluator, so the Evaluator gates, and the Pusher pushes, the tuned model.
    """

    enabled: bool = Field(False, description="tune every trained model's floors in the pipeline, before the Evaluator")
    target_precision: float = Field(
        0.9, gt=0.0, le=1.0, description="hierarchical precision the per-level floors must reach on the eval split")
    sensitive_precision: float | None = Field(
        0.98, gt=0.0, le=1.0, description="precision each sensitive subtree's floor must reach; None: keep them as configured")
    calibrate: bool = Field(
        False, description="fit a temperature per level on the eval split (lowest NLL) and tune on the calibrated "
        "confidences; the temperatures go into `thresholds.temperatures`")
    max_products: int = Field(20000, ge=1, description="eval products used (a deterministic sample beyond)")


class ThresholdConfig(Section):
    """Confidence floors applied by the serving graph, level by level.

    A prediction stops at the last level whose confidence passes its floor; a product whose
    level-1 confidence fails gets no prediction (this is what coverage measures).
    """

    per_level: tuple[Annotated[float, Field(ge=0.0, le=1.0)], ...] = Field(
        (0.3, 0.7, 0.9), min_length=1, description="confidence floor per level, level 1 first; the last repeats for "
        "deeper levels. Stricter below level 1: on shops never seen in training a wrong guess is most often a deep one")
    per_level_unfamiliar: tuple[Annotated[float, Field(ge=0.0, le=1.0)], ...] = Field(
        (0.9, 0.995, 0.999), description="confidence floor per level for a product unlike the training data (the "
        "name_evidence_margin test; a model with category names and a training sample), where it is stricter than "
        "per_level; the last repeats for deeper levels; (): per_level for every product. The heads are as sure of a "
        "new shop's unfamiliar products as of familiar ones and more often wrong, most of all below level 1")
    beam_width: int = Field(
        5, ge=1, le=64, description="paths kept by beam search over the tree (scored by the product of their level "
        "probabilities); 1: greedy decoding")
    name_evidence: float = Field(
        40.0, ge=0.0, le=1000.0, description="weight of the category names in every level's decision: each "
        "category's log-probability gains this times the best cosine similarity between the product and the "
        "names of its subtree (less name_level_penalty per level); 0: the model's probabilities alone, for every "
        "product. The names know every category and a new shop's own words; where the heads are sure they decide")
    name_evidence_familiar: float = Field(
        10.0, ge=0.0, le=1000.0, description="name_evidence for a product like the training data (a sampled "
        "training product more than name_evidence_margin nearer than its nearest category name): the heads know "
        "such products better than the names do")
    name_evidence_margin: float = Field(
        0.35, ge=0.0, le=2.0, description="cosine by which a product's nearest training product must be nearer than "
        "its nearest category name (less the level penalty) for name_evidence_familiar")
    name_fallback_below: float = Field(
        0.2, ge=0.0, le=1.0, description="a path with a level confidence below this gives way to the category whose "
        "name is nearest to the product's sentence embedding (needs model.label_semantics); 0: never")
    name_fallback_classes: Literal["unseen", "all", "auto"] = Field(
        "auto", description="which categories the name fallback may choose: unseen, only those without training "
        "products (the heads decide among the others); all: any category; auto: any category for a product unlike "
        "the training data (see novel_margin), only unseen ones for the others")
    novel_margin: float = Field(
        0.25, ge=0.0, le=2.0, description="auto: a product is unlike the training data when its nearest category name "
        "(cosine, less the level penalty) is within this of its nearest training product (of a sample of them)")
    name_level_penalty: float = Field(
        0.03, ge=0.0, le=1.0, description="the names' cosine similarity (name evidence and fallback) is lowered by "
        "this per level of a category, so a name match goes only as deep as the product's words support")
    stop_where_labels_stop: bool = Field(
        True, description="a path ends at a category that training products were labelled with when none was "
        "labelled deeper in its subtree: the training data supports no finer choice there")
    overrides: tuple[ThresholdOverride, ...] = Field((), description="stricter floors for named subtrees")
    sensitive: SensitiveConfig = Field(SensitiveConfig(), description="subtrees where a wrong category does harm")
    temperatures: tuple[Annotated[float, Field(gt=0.0)], ...] = Field(
        (), description="per-level softmax temperature applied to the model's probabilities before decoding "
        "(calibration); () or 1.0: none; levels past the tuple's end get 1.0")
    tune: ThresholdTuningConfig = Field(ThresholdTuningConfig(), description="choosing the floors from the eval split")

    def for_level(self, level: int) -> float:
        """The floor of `level` (1-based); the last value repeats for deeper levels."""
        return self.per_level[min(level, len(self.per_level)) - 1]

    def for_level_unfamiliar(self, level: int) -> float:
        """The extra floor of `level` (1-based) for a product unlike the training data (the last
        value repeats; 0 without `per_level_unfamiliar`). Serving applies the stricter of it and
        the product's other floors."""
        if not self.per_level_unfamiliar:
            return 0.0
        return self.per_level_unfamiliar[min(level, len(self.per_level_unfamiliar)) - 1]

    def temperature(self, level: int) -> float:
        """The temperature of `level` (1-based): 1.0 (none) past the configured ones."""
        return self.temperatures[level - 1] if level <= len(self.temperatures) else 1.0


class EvaluationConfig(Section):
    """Blessing gates checked by the Evaluator before anything is pushed."""

    min_hierarchical_f1: float = Field(0.5, ge=0.0, le=1.0, description="a model below this hierarchical F1 is not pushed")
    min_coverage: float = Field(0.5, ge=0.0, le=1.0, description="a model predicting fewer eval products is not pushed")
    max_f1_regression: float = Field(
        0.02, ge=0.0, le=1.0, description="a model whose hierarchical F1 falls more below the last pushed one's is not pushed")
    min_sensitive_precision: float = Field(
        0.0, ge=0.0, le=1.0,
        description="floor on hierarchical precision over products whose true or served category is "
        "sensitive; 0 turns the gate off (with a floor, an eval split without sensitive products fails)",
    )
    min_sensitive_predicted_precision: float = Field(
        0.0, ge=0.0, le=1.0,
        description="floor on the precision of sensitive predictions: among products whose served category "
        "lies in a sensitive subtree, the share whose true category lies in that same subtree; 0 turns the "
        "gate off (with a floor, a model that predicts no sensitive category on the eval split fails)",
    )
    audit_gate: bool = Field(
        False, description="gate on reviewers' audit: the model's hierarchical precision on the eval split must "
        "reach the audited precision of the newest audited model in review.logs (prodcat review stats), less "
        "audit_tolerance; on without an audit, the run stops before it starts")
    audit_tolerance: float = Field(
        0.02, ge=0.0, le=1.0, description="how far below the audited precision of the previous model the new "
        "model's precision may be (the audit gate)")
