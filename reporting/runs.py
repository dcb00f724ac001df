"""`prodcat runs`: the pipeline runs ML Metadata recorded, a few lines each.

Each run is a `pipeline_run` context; its executions (one per component, CACHED when TFX reused
an earlier one) and their input/output events name the artifacts the run read and wrote. What
a run says about its data, validation, model, evaluation and push is read from those artifacts'
MLMD properties and the few small files they point to (statistics, anomalies, TFMA metrics).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
from pathlib import Path
from typing import Any

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from prodcat.components import nodes
from prodcat.reporting.artifacts import anomalies_by_split, evaluation_metrics, is_blessed, split_counts
from prodcat.reporting.mlmd import STATE_NAMES, describe, lineage_subgraph, open_store

RUN_CONTEXT = "pipeline_run"
HEADLINE_METRICS = ("example_count", "hierarchical_f1", "hierarchical_precision", "hierarchical_recall", "coverage",
                    "leaf_accuracy", "sensitive_predicted_precision", "sensitive_predictions")


# ----------------------------------------------------------------------------- MLMD values
def value(item: metadata_store_pb2.Value) -> Any:
    """A property value as plain Python (struct/proto values as JSON-like data)."""
    kind = item.WhichOneof("value")
    if kind == "struct_value":
        from google.protobuf import json_format

        return json_format.MessageToDict(item.struct_value)
    if kind == "proto_value":
        return str(item.proto_value)
    return getattr(item, kind) if kind else None


def prop(node: Any, name: str, default: Any = None) -> Any:
    """A property or custom property of an artifact / execution / context."""
    for properties in (node.properties, node.custom_properties):
        if name in properties:
            return value(properties[name])
    return default


def iso_time(millis: int) -> str:
    return datetime.datetime.fromtimestamp(millis / 1000.0).isoformat(timespec="seconds") if millis else ""


# ----------------------------------------------------------------------------- artifact contents
def headline_metrics(evaluation_uri: str) -> dict[str, float]:
    try:
        values = evaluation_metrics(evaluation_uri)
    except (OSError, ValueError, IndexError):
        return {}
    return {k: values[k] for k in HEADLINE_METRICS if k in values}


def json_number(x: Any) -> Any:
    """NaN (an undefined precision) as null, so `--json` output is strict JSON."""
    return None if isinstance(x, float) and math.isnan(x) else x


# ----------------------------------------------------------------------------- runs
@dataclasses.dataclass
class RunRecord:
    run_id: str
    pipeline: str
    started: str
    components: dict[str, str]                   # node id -> complete / cached / failed / ...
    data: str | None = None                      # what ExampleGen read: <input_base>/<pattern>
    examples: str | None = None                  # Examples artifact URI
    examples_fingerprint: str | None = None
    span: int | None = None
    split_counts: dict[str, int] = dataclasses.field(default_factory=dict)
    schema: str | None = None
    anomalies: dict[str, list[str]] | None = None  # split -> anomalies; None: not validated
    transform_graph: str | None = None
    model: str | None = None
    evaluation: str | None = None
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    blessed: bool | None = None
    pushed: bool | None = None
    pushed_version: str | None = None
    pushed_destination: str | None = None

    @property
    def state(self) -> str:
        states = set(self.components.values())
        for bad in ("failed", "running", "canceled", "new"):
            if bad in states:
                return bad
        return "complete" if states else "empty"

    @property
    def cached(self) -> list[str]:
        return [node for node, state in self.components.items() if state == "cached"]

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["state"] = self.state
        out["metrics"] = {k: json_number(v) for k, v in self.metrics.items()}
        return out


def list_runs(connection: metadata_store_pb2.ConnectionConfig, limit: int | None = None,
              with_metrics: bool = True) -> list[RunRecord]:
    """Every pipeline run in the store, oldest first (`limit`: only the newest `limit`)."""
    store = open_store(connection)
    contexts = sorted(store.get_contexts_by_type(RUN_CONTEXT), key=lambda c: (c.create_time_since_epoch, c.id))
    if limit:
        contexts = contexts[-limit:]
    if not contexts:
        raise LookupError(f"no pipeline runs recorded in {describe(connection)}")
    return [run_record(store, context, with_metrics) for context in contexts]


def run_record(store: metadata_store.MetadataStore, run: metadata_store_pb2.Context,
               with_metrics: bool = True) -> RunRecord:
    """What one run read, checked, trained, evaluated and pushed: its executions and their
    neighbouring artifacts, in one lineage query (one hop from every execution of the run)."""
    view = lineage_subgraph(store, executions=f"contexts_a.type = '{RUN_CONTEXT}' AND contexts_a.name = {quote(run.name)}",
                            direction="BIDIRECTIONAL", max_hops=1)
    executions = sorted(view.executions.values(), key=lambda e: (e.create_time_since_epoch, e.id))
    pipeline = next((c.name for e in executions if (c := view.context_of(e.id, "pipeline")) is not None), "")
    record = RunRecord(run.name, pipeline, iso_time(run.create_time_since_epoch), {})
    for execution in executions:
        record.components[view.node_id(execution.id)] = STATE_NAMES.get(
            execution.last_known_state, str(execution.last_known_state))

    def output_of_type(type_name: str, key: str) -> tuple[metadata_store_pb2.Execution | None, Any]:
        for execution in executions:
            found = [a for a in view.outputs(execution.id, key) if a.type == type_name]
            if found:
                return execution, found[-1]
        return None, None

    example_gen, examples = output_of_type("Examples", "examples")
    if examples is not None:
        record.examples = examples.uri
        record.examples_fingerprint = prop(examples, "input_fingerprint")
        record.span = prop(examples, "span")
        record.data = input_data(example_gen)
    _, statistics = output_of_type("ExampleStatistics", "statistics")
    if statistics is not None:
        record.split_counts = split_counts(statistics)
    _, schema = output_of_type("Schema", "schema")
    record.schema = schema.uri if schema is not None else None
    _, anomalies_artifact = output_of_type("ExampleAnomalies", "anomalies")
    if anomalies_artifact is not None:
        record.anomalies = anomalies_by_split(anomalies_artifact)
    _, transform_graph = output_of_type("TransformGraph", "transform_graph")
    record.transform_graph = transform_graph.uri if transform_graph is not None else None
    _, model = output_of_type("Model", "model")
    record.model = model.uri if model is not None else None
    _, evaluation = output_of_type("ModelEvaluation", "evaluation")
    if evaluation is not None:
        record.evaluation = evaluation.uri
        if with_metrics:
            record.metrics = headline_metrics(evaluation.uri)
    _, blessing = output_of_type("ModelBlessing", "blessing")
    if blessing is not None:
        record.blessed = is_blessed(blessing)
    _, pushed = output_of_type("PushedModel", "pushed_model")
    if pushed is not None:
        record.pushed = bool(prop(pushed, "pushed", 0))
        if record.pushed:
            record.pushed_version = prop(pushed, "pushed_version")
            record.pushed_destination = prop(pushed, "pushed_destination")
    return record


def quote(text: str) -> str:
    """A string literal for an ML Metadata filter query."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def input_data(example_gen: metadata_store_pb2.Execution | None) -> str | None:
    """`<input_base>/<pattern>` (one per input split) an ExampleGen execution read."""
    if example_gen is None:
        return None
    base = prop(example_gen, "input_base")
    try:
        splits = json.loads(prop(example_gen, "input_config") or "{}").get("splits", [])
    except ValueError:
        splits = []
    patterns = [s.get("pattern", "") for s in splits]
    if not base:
        return None
    return ", ".join(str(Path(base, p)) for p in patterns) if patterns else base


def _fmt(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def anomaly_status(found: dict[str, list[str]] | None) -> str:
    if found is None:
        return "not validated"
    bad = {split: lines for split, lines in found.items() if lines}
    if not bad:
        return f"no anomalies ({', '.join(found) or 'no splits'})"
    return "ANOMALIES " + "; ".join(f"{split}: {', '.join(lines)}" for split, lines in bad.items())


def format_runs(runs: list[RunRecord]) -> str:
    lines = []
    for run in runs:
        cached = run.cached
        reuse = (f", {len(cached)}/{len(run.components)} components from cache" if cached else "")
        lines.append(f"run {run.run_id}  ({run.pipeline}, started {run.started}, {run.state}{reuse})")
        if run.data:
            counts = "  ".join(f"{k} {v}" for k, v in run.split_counts.items())
            lines.append(f"  data:       {run.data}" + (f"  [{counts}]" if counts else ""))
        lines.append(f"  examples:   {run.examples or '-'}" + (f"  (span {run.span})" if run.span is not None else ""))
        lines.append(f"  validation: schema {run.schema or '-'}; {anomaly_status(run.anomalies)}")
        lines.append(f"  model:      {run.model or '-'}")
        m = run.metrics
        if m:
            lines.append(f"  metrics:    products {int(m.get('example_count', 0))}  hierarchical F1 {_fmt(m.get('hierarchical_f1'))}"
                         f"  coverage {_fmt(m.get('coverage'))}  leaf accuracy {_fmt(m.get('leaf_accuracy'))}"
                         f"  sensitive predictions {int(m.get('sensitive_predictions', 0))}"
                         f" (precision {_fmt(m.get('sensitive_predicted_precision'))})")
        blessed = {True: "yes", False: "NO", None: "-"}[run.blessed]
        pushed = (f"version {run.pushed_version} -> {run.pushed_destination}" if run.pushed
                  else "not pushed" if run.pushed is False else "-")
        if run.pushed and run.components.get(nodes.PUSHER) == "cached":
            pushed += " (pushed by an earlier run; reused from cache)"
        lines.append(f"  blessed:    {blessed}    pushed: {pushed}")
    return "\n".join(lines)
