"""What a run's report is made of, read back from the run's record in ML Metadata.

The report describes the model the run pushed (else the one its Evaluator judged: the
ThresholdTuner's output when one ran, else the Trainer's), decoded over the eval split the
Evaluator scored with the thresholds that model ships with, beside the Evaluator's own figures.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

from tfx.utils import path_utils

from prodcat import features as F
from prodcat.components import nodes
from prodcat.reporting.mlmd import open_store, split_files, sqlite_connection_config
from prodcat.reporting.report_data import EvalRecord, NoEvaluationError, ReportData, audits, synthetic_data_note
from prodcat.reporting.report_evaluation import load_gates, load_slices
from prodcat.reporting.summary import RunSummary, latest_run_summary
from prodcat.reporting.tuning import EVAL_SPLIT
from prodcat.trainer import retune

# The raw fields a reader needs to recognise an eval product in the report.
RECORD_FIELDS = (F.TITLE, F.LANGUAGE, F.SHOP)


@dataclasses.dataclass(frozen=True)
class ReportInputs:
    """The artifacts of one run that its report reads."""

    run_id: str
    evaluation_uri: str
    model_dir: str              # a SavedModel directory (the pushed version, else Format-Serving)
    transform_graph_dir: str
    examples_uri: str
    eval_files: list[str]


def find_report_inputs(metadata_path: str | os.PathLike, summary: RunSummary) -> ReportInputs:
    """The evaluation, served model, Transform graph and eval split of a summarised run."""
    evaluator = summary.component(nodes.EVALUATOR)
    evaluation = _output(summary, nodes.EVALUATOR, "evaluation")
    if evaluator is None or evaluator.state not in ("complete", "cached") or not evaluation \
            or not Path(evaluation).is_dir() or not any(Path(evaluation).iterdir()):
        state = f" (Evaluator {evaluator.state})" if evaluator else ""
        raise NoEvaluationError(f"run {summary.run_id} in {metadata_path} has no evaluation{state}: nothing to report")
    model_dir = _served_model_dir(summary)
    if model_dir is None:
        raise NoEvaluationError(f"run {summary.run_id}: neither its pushed model nor the model its Evaluator "
                                "judged is on disk")
    transform_graph = _output(summary, nodes.TRANSFORM, "transform_graph")
    if transform_graph is None or not Path(transform_graph).is_dir():
        raise NoEvaluationError(f"run {summary.run_id}: its Transform graph is not on disk")
    examples = _output(summary, nodes.EXAMPLE_GEN, "examples")
    eval_files = _eval_files(metadata_path, examples) if examples else []
    if not eval_files:
        raise NoEvaluationError(f"run {summary.run_id}: the eval split of its Examples is not on disk")
    return ReportInputs(summary.run_id, evaluation, model_dir, transform_graph, examples, eval_files)


def _output(summary: RunSummary, node: str, key: str) -> str | None:
    component = summary.component(node)
    return (component.outputs.get(key) or [None])[0] if component else None


def _served_model_dir(summary: RunSummary) -> str | None:
    """The version the run pushed, else the model its Evaluator judged (what the Pusher would push)."""
    if summary.pushed_version_dir and Path(summary.pushed_version_dir, "saved_model.pb").is_file():
        return summary.pushed_version_dir
    for node, key in ((nodes.THRESHOLD_TUNER, "tuned_model"), (nodes.TRAINER, "model")):
        uri = _output(summary, node, key)
        if uri and Path(path_utils.serving_model_path(uri), "saved_model.pb").is_file():
            return path_utils.serving_model_path(uri)
    return None


def _eval_files(metadata_path: str | os.PathLike, examples_uri: str) -> list[str]:
    """The eval split's files where TFX put them (its helper needs the Examples artifact, not a URI)."""
    store = open_store(sqlite_connection_config(metadata_path))
    artifacts = store.get_artifacts_by_uri(examples_uri)
    return split_files(store, artifacts[-1], EVAL_SPLIT) if artifacts else []


def eval_records(model: retune.TrainedModel, eval_files: Sequence[str]) -> list[EvalRecord]:
    """The labelled eval products as the model serves them: its whole decoded path, and how deep
    its own thresholds let serving answer."""
    split = retune.eval_predictions(model, eval_files, fields=RECORD_FIELDS)
    titles, languages, shops = (split.fields[name] for name in RECORD_FIELDS)
    return [EvalRecord(
        product_id=split.product_ids[i], title=titles[i], true_path=tuple(model.taxonomy.ancestors(split.true_ids[i])),
        full_path=tuple(path),
        confidences=tuple(round(float(c), 6) for c in split.confidences[i, :len(path)]),  # as a served Prediction
        served_depth=int(split.served_depths[i]), language=languages[i], shop=shops[i],
    ) for i, path in enumerate(split.path_ids)]


def run_inputs(metadata_path: str | os.PathLike, run_id: str | None = None) -> tuple[RunSummary, ReportInputs]:
    """The newest run (or `run_id`) of a metadata store, summarised, and the artifacts its report reads."""
    metadata_path = Path(metadata_path)
    if not metadata_path.is_file():
        raise FileNotFoundError(f"no ML Metadata database at {metadata_path}: run the pipeline first (prodcat run)")
    summary = latest_run_summary(metadata_path, run_id)
    return summary, find_report_inputs(metadata_path, summary)


def collect(metadata_path: str | os.PathLike, run_id: str | None = None,
            found: tuple[RunSummary, ReportInputs] | None = None) -> ReportData:
    """Everything the report shows, for the newest run (or `run_id`) of a metadata store (`found`:
    that run's `run_inputs`, when the caller has them already)."""
    summary, inputs = found or run_inputs(metadata_path, run_id)
    slices, _ = load_slices(inputs.evaluation_uri)
    if not slices:
        raise NoEvaluationError(f"run {inputs.run_id}: the evaluation at {inputs.evaluation_uri} holds no metrics")
    gates, missing = load_gates(inputs.evaluation_uri, slices)
    model = retune.load_model(inputs.model_dir, inputs.transform_graph_dir)
    return ReportData(
        run_id=inputs.run_id, taxonomy=model.taxonomy, records=eval_records(model, inputs.eval_files), slices=slices,
        gates=gates, blessed=summary.blessed, evaluation_uri=inputs.evaluation_uri, model_dir=inputs.model_dir,
        examples_uri=inputs.examples_uri, missing_slices=missing,
        floors=tuple(model.thresholds.for_level(k) for k in range(1, model.taxonomy.depth + 1)),
        data_note=synthetic_data_note(model.config), audits=audits(model.config, model.taxonomy),
    )
