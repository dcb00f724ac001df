"""`prodcat tune-thresholds` over a finished run: its model and eval split from ML Metadata, the
tuned thresholds written into a config file and, optionally, a new serving version.

Which model: the one the run's latest push published (that is what serves), else the newest
model trained. Its Transform graph is the one its Trainer read, its eval split the one its
Evaluator scored (else the split its Transform read), all found through MLMD's lineage.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from tfx.utils import path_utils

from prodcat.components import nodes
from prodcat.config import Config, ThresholdConfig, load_config
from prodcat.reporting.mlmd import (
    consumers_of,
    execution_artifacts,
    node_executions,
    open_store,
    producer_of,
    split_files,
    sqlite_connection_config,
)
from prodcat.thresholds.search import ThresholdTuningError
from prodcat.thresholds.tuning import tune

if TYPE_CHECKING:  # the trainer's TensorFlow loads only when a model is tuned
    from prodcat.trainer import retune

EVAL_SPLIT = "eval"


class RunError(LookupError):
    """A run directory without what tuning needs; the message says what is missing."""


@dataclasses.dataclass(frozen=True)
class RunArtifacts:
    output_dir: Path
    model_dir: str                 # the exported SavedModel (…/Format-Serving)
    pushed_version_dir: str | None  # where that model serves, if it was pushed
    transform_graph_dir: str
    eval_files: list[str]
    producer: str                  # node that produced the model (Trainer, ThresholdTuner)

    @property
    def serving_base(self) -> str | None:
        return str(Path(self.pushed_version_dir).parent) if self.pushed_version_dir else None


def find_run_artifacts(output_dir: str | os.PathLike) -> RunArtifacts:
    """The model to tune, its Transform graph and its eval split, for a finished run's output dir."""
    output = Path(output_dir).expanduser().resolve()
    if not output.is_dir():
        raise RunError(f"{output}: no such run directory")
    metadata = output / "metadata.sqlite"
    if not metadata.exists():
        raise RunError(f"{output}: no metadata.sqlite here; pass the --output directory of a `prodcat run`")
    store = open_store(sqlite_connection_config(metadata))  # read-only; one-line error on a broken store

    model, pushed_dir = None, None
    for execution in node_executions(store, nodes.PUSHER):
        outputs = execution_artifacts(store, execution.id, output=True)
        pushed = (outputs.get("pushed_model") or [None])[0]
        if pushed is not None and pushed.custom_properties["pushed"].int_value:
            model = (execution_artifacts(store, execution.id, output=False).get("model") or [None])[0]
            pushed_dir = pushed.custom_properties["pushed_destination"].string_value or None
            if model is not None:
                break
    if model is None:
        for node, key in ((nodes.THRESHOLD_TUNER, "tuned_model"), (nodes.TRAINER, "model")):
            for execution in node_executions(store, node):
                model = (execution_artifacts(store, execution.id, output=True).get(key) or [None])[0]
                if model is not None:
                    break
            if model is not None:
                break
    if model is None:
        raise RunError(f"{output}: the run has no trained model (did its Trainer finish?)")
    model_dir = path_utils.serving_model_path(model.uri)
    if not Path(model_dir, "saved_model.pb").exists():
        raise RunError(f"{output}: the run's model {model_dir} is missing (artifacts deleted?)")

    producer, node = producer_of(store, model.id)
    inputs = execution_artifacts(store, producer.id, output=False) if producer is not None else {}
    transform = (inputs.get("transform_graph") or [None])[0]
    if transform is None and "model" in inputs:  # a tuned model: its Trainer read the Transform graph
        trainer, _ = producer_of(store, inputs["model"][0].id)
        transform = (execution_artifacts(store, trainer.id, output=False).get("transform_graph") or [None])[0] if trainer else None
    if transform is None:
        raise RunError(f"{output}: cannot find the Transform graph the model {model_dir} was trained with")

    examples = None
    for consumer in sorted(consumers_of(store, model.id), key=lambda e: e.id, reverse=True):
        consumer_inputs = execution_artifacts(store, consumer.id, output=False)
        if consumer_inputs.get("examples") and (consumer_inputs.get("model") or [None])[0] is not None \
                and consumer_inputs["model"][0].id == model.id:
            examples = consumer_inputs["examples"][0]
            break
    if examples is None:
        transform_run, _ = producer_of(store, transform.id)
        if transform_run is not None:
            examples = (execution_artifacts(store, transform_run.id, output=False).get("examples") or [None])[0]
    if examples is None:
        raise RunError(f"{output}: cannot find the examples the model {model_dir} was evaluated on")
    files = split_files(store, examples, EVAL_SPLIT)
    if not files:
        raise RunError(f"{output}: the eval split of {examples.uri} has no files")
    return RunArtifacts(output, model_dir, pushed_dir, transform.uri, files, node or nodes.TRAINER)


# ----------------------------------------------------------------------------- config file
def write_config(path: str | os.PathLike, thresholds: ThresholdConfig, base: Config) -> Path:
    """Writes the tuned thresholds into a config file (atomically).

    An existing file keeps everything but `thresholds.per_level`, `overrides` and
    `temperatures`; a new file gets the run's whole config with the tuned thresholds. YAML or
    JSON by the file's suffix (JSON is YAML, so `prodcat run --config` reads either). Comments of
    an existing YAML file are not kept.
    """
    path = Path(path).expanduser()
    tuned = thresholds.model_dump(mode="json")
    if path.exists():
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected a mapping at the top level")
        section = dict(raw.get("thresholds") or {})
        for key in ("per_level", "overrides", "temperatures"):
            if tuned[key] or key in section:
                section[key] = tuned[key]
        raw["thresholds"] = section
    else:
        raw = base.model_copy(update={"thresholds": thresholds}).model_dump(mode="json")
    text = json.dumps(raw, indent=2) + "\n" if path.suffix == ".json" else yaml.safe_dump(raw, sort_keys=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    try:
        load_config(tmp)  # never leave a config prodcat cannot read
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


# ----------------------------------------------------------------------------- the command
@dataclasses.dataclass(frozen=True)
class TuneRunOutcome:
    artifacts: RunArtifacts
    result: object  # TuningResult
    written: Path | None
    exported: str | None


def tune_run(output_dir: str | os.PathLike, target_precision: float | None = None,
             sensitive_precision: float | None = None, calibrate: bool | None = None,
             write: str | os.PathLike | None = None, export: bool = False, max_products: int | None = None,
             report: str | os.PathLike | None = None, serving_base: str | os.PathLike | None = None) -> TuneRunOutcome:
    """Tunes the thresholds of a finished run's model; unset options come from the model's config
    (`thresholds.tune`). Nothing is written when the overall target is not reachable.

    `export`: the model re-exported with the tuned thresholds as a new version under
    `serving_base` (default: the model base path the run pushed it to)."""
    from prodcat.trainer import retune

    for name, value in (("target precision", target_precision), ("sensitive precision", sensitive_precision)):
        if value is not None and not 0.0 < value <= 1.0:
            raise ValueError(f"{name} must be in (0, 1], got {value}")
    artifacts = find_run_artifacts(output_dir)
    if export and artifacts.pushed_version_dir is None:
        raise ThresholdTuningError(f"{artifacts.output_dir}: the run pushed no model; nothing to re-export "
                                   "(a model the Evaluator did not bless is not published by hand)")
    config, _ = retune.read_model_config(artifacts.model_dir)
    settings = config.thresholds.tune
    target = settings.target_precision if target_precision is None else target_precision
    sensitive = settings.sensitive_precision if sensitive_precision is None else sensitive_precision
    calibrate = settings.calibrate if calibrate is None else calibrate
    model = retune.load_model(artifacts.model_dir, artifacts.transform_graph_dir)
    predictions = retune.eval_predictions(model, artifacts.eval_files, max_products or settings.max_products,
                                            with_probs=calibrate)
    result = tune(model.taxonomy, predictions, model.thresholds, target, sensitive, calibrate,
                  retune.decoder_for(model, predictions) if calibrate else None)
    details = result.as_dict() | {"model": artifacts.model_dir, "eval_files": artifacts.eval_files}
    if report:
        Path(report).write_text(json.dumps(details, indent=2) + "\n", encoding="utf-8")
    if not result.reached:
        return TuneRunOutcome(artifacts, result, None, None)
    # A new config file retrains this run: its output directory, wherever the model's config said.
    run_config = config.model_copy(update={"output_dir": str(artifacts.output_dir)})
    written = write_config(write, result.thresholds, run_config) if write else None
    exported = None
    if export:
        if artifacts.pushed_version_dir is None:
            raise ThresholdTuningError(f"{artifacts.output_dir}: the run pushed no model; nothing to re-export "
                                       "(a model the Evaluator did not bless is not published by hand)")
        exported = publish_new_version(model, result.thresholds, str(serving_base or artifacts.serving_base),
                                                details)
    return TuneRunOutcome(artifacts, result, written, exported)


def publish_new_version(model: retune.TrainedModel, thresholds: ThresholdConfig, serving_base: str,
                        report: dict | None = None) -> str:
    """Exports into a new numbered version under `serving_base`, atomically: written into a hidden
    staging directory (ignored by model servers, as the Pusher's) and renamed into place."""
    from tfx.dsl.io import fileio

    from prodcat.components.atomic_pusher import staging_dir
    from prodcat.trainer.retune import export_model

    fileio.makedirs(serving_base)
    existing = [int(name.rstrip("/")) for name in fileio.listdir(serving_base) if name.rstrip("/").isdigit()]
    version = str(max([int(time.time()), *(v + 1 for v in existing)]))
    staging = staging_dir(serving_base, version)
    if fileio.exists(staging):
        fileio.rmtree(staging)
    try:
        export_model(model, thresholds, staging, report)
        final = os.path.join(serving_base, version)
        fileio.rename(staging, final)
    finally:
        if fileio.exists(staging):
            fileio.rmtree(staging)
    return final
