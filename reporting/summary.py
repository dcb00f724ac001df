"""What a finished pipeline run did, read back from ML Metadata (the run's own record).

Component times, cache hits, artifact locations, the records ExampleGen rejected, the anomalies
ExampleValidator found, the Evaluator's headline metrics, blessing and the pushed version all come
from MLMD and the artifacts it points to, so the summary describes what actually ran, not what the
runner thinks it asked for.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

from ml_metadata.metadata_store import metadata_store

from prodcat.components import nodes
from prodcat.components.hierarchical_metrics import METRIC_NAME
from prodcat.reporting.mlmd import OUTPUT_EVENTS, STATE_NAMES, open_store, sqlite_connection_config


# The artifact worth pointing a user at, per component (first match wins).
_MAIN_OUTPUTS = ("examples", "statistics", "schema", "anomalies", "transform_graph", "model", "evaluation", "pushed_model")


@dataclasses.dataclass
class ComponentRun:
    node_id: str
    state: str
    seconds: float
    outputs: dict[str, list[str]]


@dataclasses.dataclass(frozen=True)
class DataAnomaly:
    """One finding of ExampleValidator: where, how serious, and what it means."""

    split: str
    feature: str  # "" for a finding about the whole split
    severity: str  # ERROR, WARNING or UNKNOWN (tensorflow_metadata's AnomalyInfo.Severity)
    short_description: str
    description: str

    def line(self) -> str:
        where = f"{self.split}, feature '{self.feature}'" if self.feature else f"{self.split}, whole split"
        short, meaning = self.short_description.strip(), self.description.strip()
        if not meaning or meaning == short:
            text = short
        elif meaning.startswith(short):  # e.g. "New column (column in data but not in schema)"
            text = meaning
        else:
            text = f"{short}: {meaning}"
        return f"[{self.severity}] {where}: {text}"


@dataclasses.dataclass
class RunSummary:
    run_id: str
    components: list[ComponentRun]
    metrics: dict[str, float]
    blessed: bool | None
    pushed_version_dir: str | None
    rejects: int = 0
    gate_failures: list[str] = dataclasses.field(default_factory=list)
    rejects_dir: str | None = None  # the Rejects/ folder of ExampleGen's output
    dropped_images: int = 0  # products kept without their image (ingest.on_bad_image: drop_image)
    anomalies: list[DataAnomaly] | None = None  # None: no ExampleValidator output in this run
    report: str | None = None  # the run's HTML report (reporting/report.py), when one was written for it

    def component(self, node_id: str) -> ComponentRun | None:
        return next((c for c in self.components if c.node_id == node_id), None)


def latest_run_summary(metadata_path: str | Path, run_id: str | None = None) -> RunSummary:
    """Summary of `run_id`, or of the newest pipeline run in the store."""
    store = open_store(sqlite_connection_config(metadata_path))
    runs = store.get_contexts_by_type("pipeline_run")
    if not runs:
        raise LookupError(f"no pipeline runs recorded in {metadata_path}")
    run = next((r for r in runs if r.name == run_id), None) if run_id else max(runs, key=lambda r: r.create_time_since_epoch)
    if run is None:
        raise LookupError(f"run {run_id!r} not found in {metadata_path}")
    executions = sorted(store.get_executions_by_context(run.id), key=lambda e: e.create_time_since_epoch)
    components: list[ComponentRun] = []
    for execution in executions:
        node = next((c.name.split(".", 1)[-1] for c in store.get_contexts_by_execution(execution.id)
                     if c.type == "node"), execution.type)
        components.append(ComponentRun(
            node_id=node,
            state=STATE_NAMES.get(execution.last_known_state, str(execution.last_known_state)),
            seconds=(execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000.0,
            outputs=_outputs(store, execution.id),
        ))
    summary = RunSummary(run.name, components, {}, None, None)
    evaluator = summary.component(nodes.EVALUATOR)
    if evaluator and evaluator.outputs.get("evaluation"):
        summary.metrics = evaluation_metrics(evaluator.outputs["evaluation"][0])
    if evaluator and evaluator.outputs.get("blessing"):
        summary.blessed = Path(evaluator.outputs["blessing"][0], "BLESSED").exists()
    if evaluator and evaluator.outputs.get("evaluation"):
        summary.gate_failures = validation_failures(evaluator.outputs["evaluation"][0])
    pusher = summary.component(nodes.PUSHER)
    if pusher and pusher.outputs.get("pushed_model"):
        artifact = _artifact_by_uri(store, pusher.outputs["pushed_model"][0])
        if artifact is not None and artifact.custom_properties["pushed"].int_value:
            summary.pushed_version_dir = artifact.custom_properties["pushed_destination"].string_value
    example_gen = summary.component(nodes.EXAMPLE_GEN)
    if example_gen and example_gen.outputs.get("examples"):
        from prodcat.components.product_example_gen import DROPPED_IMAGES_DIR, REJECTS_DIR

        examples_uri = example_gen.outputs["examples"][0]
        summary.rejects = count_rejects(examples_uri)
        summary.rejects_dir = os.path.join(examples_uri, REJECTS_DIR)
        summary.dropped_images = count_rejects(examples_uri, DROPPED_IMAGES_DIR)
    validator = next((c for c in summary.components if c.outputs.get("anomalies")), None)
    if validator is not None:
        summary.anomalies = read_anomalies(validator.outputs["anomalies"][0])
    from prodcat.reporting.report import report_for_summary

    summary.report = report_for_summary(metadata_path, run.name)
    return summary


def _outputs(store: metadata_store.MetadataStore, execution_id: int) -> dict[str, list[str]]:
    events = [e for e in store.get_events_by_execution_ids([execution_id])
              if e.type in OUTPUT_EVENTS]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    out: dict[str, list[str]] = {}
    for event in events:
        key = event.path.steps[0].key if event.path.steps else "output"
        out.setdefault(key, []).append(artifacts[event.artifact_id].uri)
    return out


def _artifact_by_uri(store: metadata_store.MetadataStore, uri: str) -> Any:
    matches = store.get_artifacts_by_uri(uri)
    return matches[-1] if matches else None


def evaluation_metrics(evaluation_uri: str, model_name: str = "candidate") -> dict[str, float]:
    """Overall-slice metric values of the candidate model from a TFMA evaluation artifact."""
    import tensorflow_model_analysis as tfma

    values: dict[str, float] = {}
    for metrics_for_slice in tfma.load_metrics(evaluation_uri):
        if metrics_for_slice.slice_key.single_slice_keys:
            continue
        for item in metrics_for_slice.metric_keys_and_values:
            key = item.key
            if key.is_diff or (key.model_name and key.model_name != model_name):
                continue
            if item.value.HasField("double_value"):
                values[key.name] = item.value.double_value.value
    return values


def validation_failures(evaluation_uri: str) -> list[str]:
    """Why the Evaluator did not bless a model, one line per failed gate (empty when blessed)."""
    import tensorflow_model_analysis as tfma

    try:
        result = tfma.load_validation_result(evaluation_uri)
    except (OSError, ValueError, IndexError):
        return []
    lines = []
    for per_slice in result.metric_validations_per_slice:
        where = "overall" if not per_slice.slice_key.single_slice_keys else " & ".join(
            f"{k.column}={k.bytes_value.decode() or k.int64_value or k.float_value}" for k in per_slice.slice_key.single_slice_keys)
        for failure in per_slice.failures:
            name = failure.metric_key.name + (" (change vs blessed baseline)" if failure.metric_key.is_diff else "")
            value = failure.metric_value.double_value.value if failure.HasField("metric_value") else float("nan")
            threshold = failure.metric_threshold
            bound = (threshold.value_threshold.lower_bound.value if threshold.HasField("value_threshold")
                     else threshold.change_threshold.absolute.value)
            lines.append(f"{where}: {name} = {value:.4f}, required >= {bound:.4f}" + (
                f" ({failure.message})" if failure.message else ""))
    lines += [f"missing slice: {spec}" for spec in result.missing_slices]
    return lines


def count_rejects(examples_uri: str, folder: str | None = None) -> int:
    """Lines in ExampleGen's rejects files (or, with `folder`, another of its JSONL report folders)."""
    from prodcat.components.product_example_gen import REJECTS_DIR

    rejects = Path(examples_uri, folder or REJECTS_DIR)
    if not rejects.is_dir():
        return 0
    return sum(1 for f in rejects.glob("*.jsonl") for line in f.open(encoding="utf-8") if line.strip())


def read_anomalies(anomalies_uri: str) -> list[DataAnomaly]:
    """ExampleValidator's findings, per split, from its artifact (one `SchemaDiff.pb` per split).

    A feature can fail several checks at once; each reason is listed with its own description.
    """
    from tensorflow_metadata.proto.v0 import anomalies_pb2
    from tfx.dsl.io import fileio
    from tfx.utils import io_utils

    def severity(info: anomalies_pb2.AnomalyInfo) -> str:
        return anomalies_pb2.AnomalyInfo.Severity.Name(info.severity)

    found: list[DataAnomaly] = []
    for path in sorted(fileio.glob(os.path.join(anomalies_uri, "*", "SchemaDiff.pb"))):
        split = os.path.basename(os.path.dirname(path)).removeprefix("Split-")
        anomalies = anomalies_pb2.Anomalies.FromString(io_utils.read_bytes_file(path))
        infos = sorted(anomalies.anomaly_info.items())
        if anomalies.HasField("dataset_anomaly_info"):
            infos.append(("", anomalies.dataset_anomaly_info))
        for feature, info in infos:
            reasons = [(r.short_description, r.description) for r in info.reason] or [
                (info.short_description, info.description)]
            found += [DataAnomaly(split, feature, severity(info), short or "anomaly", long) for short, long in reasons]
        if anomalies.data_missing:
            found.append(DataAnomaly(split, "", "ERROR", "No data", "the split has no examples to validate"))
    return found


def format_summary(summary: RunSummary, wall_seconds: float | None, depth: int) -> str:
    """The short text `prodcat run` prints."""
    lines = [f"prodcat run {summary.run_id}"]
    if wall_seconds is not None:
        lines.append(f"  wall time: {wall_seconds:.1f} s")
    lines.append("  components:")
    for c in summary.components:
        key = next((k for k in _MAIN_OUTPUTS if k in c.outputs), next(iter(c.outputs), None))
        main = c.outputs[key][0] if key else ""
        lines.append(f"    {c.node_id:<32} {c.state:<9} {c.seconds:7.1f} s  {main}")
    m = summary.metrics
    if m:
        def fmt(name: str) -> str:
            value = m.get(name, float("nan"))
            return "  n/a" if math.isnan(value) else f"{value:.3f}"

        lines.append("  evaluation (eval split, served predictions):")
        lines.append(f"    products {int(m.get('example_count', 0))}  coverage {fmt('coverage')}  "
                     f"hierarchical P/R/F1 {fmt('hierarchical_precision')}/{fmt('hierarchical_recall')}/{fmt('hierarchical_f1')}"
                     f"  leaf accuracy {fmt('leaf_accuracy')}")
        levels = [k for k in range(1, depth + 1) if not math.isnan(m.get(f"accuracy_level_{k}", float("nan")))]
        lines.append("    per-level accuracy: " + "  ".join(f"L{k} {fmt(f'accuracy_level_{k}')}" for k in levels))
        lines.append("    per-level coverage: " + "  ".join(f"L{k} {fmt(f'coverage_level_{k}')}" for k in levels))
        lines.append(f"    sensitive subtrees: {int(m.get('sensitive_products', 0))} products, hierarchical precision "
                     f"{fmt('sensitive_hierarchical_precision')}, precision of sensitive predictions "
                     f"{fmt('sensitive_predicted_precision')}")
    lines.append(f"  blessed: {summary.blessed}")
    lines += [f"    gate failed: {failure}" for failure in summary.gate_failures]
    if summary.anomalies is not None:
        lines.append(f"  data validation (ExampleValidator vs the schema): {len(summary.anomalies) or 'no'} "
                     f"anomal{'y' if len(summary.anomalies) == 1 else 'ies'}")
        lines += [f"    {anomaly.line()}" for anomaly in summary.anomalies]
    where = f" (listed in {summary.rejects_dir})" if summary.rejects and summary.rejects_dir else ""
    lines.append(f"  rejected records: {summary.rejects}{where}")
    if summary.dropped_images:
        lines.append(f"  products kept without their unusable image: {summary.dropped_images}")
    lines.append(f"  pushed model: {summary.pushed_version_dir or 'not pushed'}")
    if summary.report:
        lines.append(f"  report: {summary.report}")
    return "\n".join(lines)


__all__ = ["DataAnomaly", "RunSummary", "latest_run_summary", "format_summary", "evaluation_metrics", "read_anomalies",
           "METRIC_NAME"]
