"""What a finished pipeline run did, read back from ML Metadata (the run's own record).

Component times, cache hits, artifact locations, the records ExampleGen rejected, the anomalies
ExampleValidator found, the Evaluator's headline metrics, blessing and the pushed version all come
from MLMD and the artifacts it points to, so the summary describes what actually ran, not what the
runner thinks it asked for.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

from ml_metadata.proto import metadata_store_pb2

from prodcat.components import nodes
from prodcat.components.hierarchical_metrics import METRIC_NAME
from prodcat.config.data import SPLIT_PROPERTY
from prodcat.reporting.artifacts import (
    DataAnomaly, count_rejects, data_anomalies, evaluation_metrics, is_blessed, validation_failures,
)
from prodcat.reporting.mlmd import STATE_NAMES, execution_artifacts, open_store, sqlite_connection_config
from prodcat.reporting.runs import prop


# The artifact worth pointing a user at, per component (first match wins).
_MAIN_OUTPUTS = ("examples", "statistics", "schema", "anomalies", "transform_graph", "model", "evaluation", "pushed_model")


@dataclasses.dataclass
class ComponentRun:
    node_id: str
    state: str
    seconds: float
    outputs: dict[str, list[str]]


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
    split: dict | None = None  # how ExampleGen split train and eval (components/shop_split.py's decision)

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
    outputs: dict[str, dict[str, list[metadata_store_pb2.Artifact]]] = {}  # node id -> its output artifacts by key
    for execution in executions:
        node = next((c.name.split(".", 1)[-1] for c in store.get_contexts_by_execution(execution.id)
                     if c.type == "node"), execution.type)
        found_by_key = execution_artifacts(store, execution.id, output=True)
        outputs[node] = {key or "output": found for key, found in found_by_key.items()}
        components.append(ComponentRun(
            node_id=node,
            state=STATE_NAMES.get(execution.last_known_state, str(execution.last_known_state)),
            seconds=(execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000.0,
            outputs={key: [a.uri for a in found] for key, found in outputs[node].items()},
        ))
    summary = RunSummary(run.name, components, {}, None, None)
    evaluator = outputs.get(nodes.EVALUATOR, {})
    if evaluator.get("evaluation"):
        summary.metrics = evaluation_metrics(evaluator["evaluation"][0].uri)
        summary.gate_failures = validation_failures(evaluator["evaluation"][0].uri)
    if evaluator.get("blessing"):
        summary.blessed = is_blessed(evaluator["blessing"][0])
    pushed = outputs.get(nodes.PUSHER, {}).get("pushed_model")
    if pushed and pushed[0].custom_properties["pushed"].int_value:
        summary.pushed_version_dir = pushed[0].custom_properties["pushed_destination"].string_value
    example_gen = summary.component(nodes.EXAMPLE_GEN)
    if example_gen and example_gen.outputs.get("examples"):
        from prodcat.components.product_example_gen import DROPPED_IMAGES_DIR, REJECTS_DIR

        examples_uri = example_gen.outputs["examples"][0]
        recorded = prop(outputs[nodes.EXAMPLE_GEN]["examples"][0], SPLIT_PROPERTY)
        summary.split = json.loads(recorded) if recorded else None
        summary.rejects = count_rejects(examples_uri)
        summary.rejects_dir = os.path.join(examples_uri, REJECTS_DIR)
        summary.dropped_images = count_rejects(examples_uri, DROPPED_IMAGES_DIR)
    validated = next((found["anomalies"] for found in outputs.values() if found.get("anomalies")), None)
    if validated is not None:
        summary.anomalies = data_anomalies(validated[0])
    from prodcat.reporting.report import report_for_summary

    summary.report = report_for_summary(metadata_path, run.name)
    return summary


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
        if summary.split:
            lines.append(f"    {describe_split(summary.split)}")
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


def describe_split(split: dict) -> str:
    """One line on whose products the eval split holds, so a figure is read for what it is."""
    if split.get("by") == "shop":
        held_out = split.get("shops_per_split", {}).get("eval", 0)
        return f"eval split by shop: {held_out} of {split.get('shops', 0)} shops, none of them in training"
    if split.get("by") == "files":
        return "eval split: the eval files as given (split.method: files)"
    shops = split.get("shops", 0)
    if shops:
        return (f"eval split by product: {shops} shop{'s' if shops != 1 else ''}, fewer than split.min_shops "
                f"({split['min_shops']}), so the eval products' shops are in training too")
    return "eval split by product"


__all__ = ["RunSummary", "latest_run_summary", "format_summary", "METRIC_NAME"]
