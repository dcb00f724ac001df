"""One typed configuration for the whole system, loaded from YAML.

The local runner, the Kubeflow runner, the module files TFX loads, serving and the CLI all read
this object, so a setting has one name and one default. Unknown keys are errors: a typo in a
config must not silently fall back to a default.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from prodcat.config.base import FROM_FILE, Section, validation_problems
from prodcat.config.data import DemoConfig, IngestConfig, ReviewConfig, SplitConfig
from prodcat.config.features import ImageConfig, TextConfig, TextEncoderConfig
from prodcat.config.model import REMOVED_MODEL_SETTINGS, MarginHeadConfig, ModelConfig
from prodcat.config.runtime import BeamConfig, ClusterConfig, Resources, ServingConfig, TrainingConfig
from prodcat.config.thresholds import (
    GOOGLE_SENSITIVE_PATHS, EvaluationConfig, SensitiveConfig, ThresholdConfig, ThresholdOverride,
    ThresholdTuningConfig,
)

__all__ = [
    "BeamConfig", "ClusterConfig", "Config", "ConfigError", "DemoConfig", "EvaluationConfig", "FROM_FILE",
    "GOOGLE_SENSITIVE_PATHS", "ImageConfig", "IngestConfig", "MarginHeadConfig", "ModelConfig", "REMOVED_MODEL_SETTINGS",
    "Resources", "ReviewConfig", "SensitiveConfig", "ServingConfig", "SplitConfig", "TextConfig", "TextEncoderConfig",
    "ThresholdConfig", "ThresholdOverride", "ThresholdTuningConfig", "TrainingConfig", "load_config",
]


class Config(Section):
    """Everything a run needs. Paths are resolved against the config file's directory."""

    pipeline_name: str = Field("prodcat-demo", description="the pipeline's name (lower-case letters, digits, '-')")
    data: str | None = Field(None, description="product file or directory; None generates demo data")
    taxonomy: str | None = Field(None, description="path or URL; None uses $PRODCAT_TAXONOMY or Google's file")
    output_dir: str = Field("outputs/demo", description="where artifacts, ML Metadata and served models go")
    enable_cache: bool = Field(True, description="reuse a component's earlier output when its inputs did not change")
    demo: DemoConfig = Field(DemoConfig(), description="the generated products used when `data` is None")
    review: ReviewConfig = Field(ReviewConfig(), description="reviewers' decisions: labels that override the data's")
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
    review = raw.get("review")
    if isinstance(review, dict) and isinstance(review.get("logs"), list):
        review["logs"] = [str((path.parent / log).resolve()) if isinstance(log, str) and not Path(log).expanduser().is_absolute()
                          else log for log in review["logs"]]
    for key in ("data", "taxonomy", "output_dir"):
        value = raw.get(key)
        if isinstance(value, str) and "://" not in value and not Path(value).expanduser().is_absolute():
            raw[key] = str((path.parent / value).resolve())
    try:
        return Config.model_validate(raw, context={FROM_FILE: True})
    except ValidationError as err:
        raise ConfigError(f"{path}: {validation_problems(err)}") from None
