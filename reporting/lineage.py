"""`prodcat lineage`: from a served model back to the data it was trained and evaluated on.

Starts at the PushedModel artifact of a pushed version and follows ML Metadata's own lineage
queries (`get_lineage_subgraph`):

  pushed model <- Pusher <- model <- Trainer <- transform graph <- Transform <- examples <- ExampleGen
                         <- blessing <- Evaluator (-> evaluation; inputs: examples, model, baseline)

then downstream from the examples to the StatisticsGen / ExampleValidator outputs that checked
them against the schema the model was trained with. Executions TFX reused from its cache are
recorded as CACHED executions outputting the same artifacts; the chain names the execution that
actually made each artifact and the runs that reused it. The chain it returns, and its text form,
are in `lineage_chain.py`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from prodcat.config.data import REVIEW_LOGS_PROPERTY
from prodcat.reporting.artifacts import (
    anomalies_by_split, evaluation_metrics, is_blessed, split_counts, validation_failures,
)
from prodcat.reporting.lineage_chain import Lineage, Step, format_lineage, predicted_subtrees  # noqa: F401  (re-exported)
from prodcat.reporting.mlmd import INPUT_EVENTS, STATE_NAMES, LineageView, describe, lineage_subgraph, open_store
from prodcat.reporting.runs import anomaly_status, input_data, iso_time, prop, quote

# pushed model <- Pusher <- model <- Trainer <- transform graph <- Transform <- examples <- ExampleGen,
# plus two hops per component that re-exports the model between Trainer and Pusher
MAX_REEXPORTS = 2
UPSTREAM_HOPS = 7 + 2 * MAX_REEXPORTS
# examples -> StatisticsGen -> statistics -> ExampleValidator -> anomalies
VALIDATION_HOPS = 4


# ----------------------------------------------------------------------------- finding the pushed model
def find_pushed_model(store: metadata_store.MetadataStore, pushed: str, where: str) -> metadata_store_pb2.Artifact:
    """The PushedModel artifact of a pushed version number or of a pushed model directory."""
    def query(condition: str) -> list[metadata_store_pb2.Artifact]:
        return store.get_artifacts(list_options=metadata_store.ListOptions(
            filter_query=f"type = 'PushedModel' AND {condition}"))

    pushed = str(pushed).strip()
    candidates: list[metadata_store_pb2.Artifact] = []
    if pushed.isdigit():
        candidates = query(f"custom_properties.pushed_version.string_value = {quote(pushed)}")
    else:
        path = Path(pushed).expanduser().resolve()
        text = str(path).rstrip("/")
        candidates = (query(f"custom_properties.pushed_destination.string_value = {quote(text)}")
                      or query(f"uri = {quote(text)}"))
        if not candidates and path.name.isdigit():  # the store's paths differ (moved or mounted elsewhere)
            candidates = query(f"custom_properties.pushed_version.string_value = {quote(path.name)}")
    candidates = [a for a in candidates if prop(a, "pushed", 0)]
    if not candidates:
        known = sorted({prop(a, "pushed_version") for a in query("custom_properties.pushed.int_value = 1")
                        if prop(a, "pushed_version")})
        raise LookupError(f"no pushed model {pushed!r} recorded in {where}"
                          + (f"; pushed versions: {', '.join(known)}" if known else "; no model was ever pushed"))
    return max(candidates, key=lambda a: (a.create_time_since_epoch, a.id))


# ----------------------------------------------------------------------------- the chain
def trace_pushed_model(connection: metadata_store_pb2.ConnectionConfig, pushed: str,
                       with_metrics: bool = True) -> Lineage:
    store = open_store(connection)
    where = describe(connection)
    pushed_artifact = find_pushed_model(store, pushed, where)
    view = lineage_subgraph(store, artifacts=f"id = {pushed_artifact.id}", direction="UPSTREAM", max_hops=UPSTREAM_HOPS)
    lineage = Lineage(where, str(prop(pushed_artifact, "pushed_version", "")),
                      str(prop(pushed_artifact, "pushed_destination", "")), [])

    pusher, step = _step(view, "pushed model", pushed_artifact)
    step.details["archive_copy"] = pushed_artifact.uri
    lineage.steps.append(step)
    if pusher is None:
        return lineage

    model = _single(view.inputs(pusher.id, "model"))
    blessing = _single(view.inputs(pusher.id, "model_blessing"))
    trainer = transform = evaluator = examples = schema = None
    # A component between Trainer and Pusher that re-exports the model (e.g. one that tunes its
    # thresholds) takes it as input `model`: follow that back to the Trainer's own model.
    for _ in range(MAX_REEXPORTS):
        producer = next(iter(view.producers(model.id)), None) if model is not None else None
        inner = _single(view.inputs(producer.id, "model")) if producer is not None else None
        if inner is None or inner.type != "Model":
            break
        _, step = _step(view, "re-exported model", model)
        lineage.steps.append(step)
        model = inner
    if model is not None:
        trainer, step = _step(view, "model", model)
        if trainer is not None:
            step.details.update(_trainer_details(trainer))
        lineage.steps.append(step)
    if trainer is not None:
        transform_graph = _single(view.inputs(trainer.id, "transform_graph"))
        schema = _single(view.inputs(trainer.id, "schema"))
        if transform_graph is not None:
            transform, step = _step(view, "transform graph", transform_graph)
            if transform is not None:
                config = _json(prop(transform, "custom_config"))
                step.details.update({"preprocessing_fn": prop(transform, "preprocessing_fn"),
                                     "code_fingerprint": config.get("code_fingerprint")})
            lineage.steps.append(step)
    if transform is not None:
        examples = _single(view.inputs(transform.id, "examples"))
    if blessing is not None:
        evaluator = next(iter(view.producers(blessing.id)), None)
    if examples is None and evaluator is not None:
        examples = _single(view.inputs(evaluator.id, "examples"))
    if examples is not None:
        example_gen, step = _step(view, "examples", examples)
        step.details.update({"data": input_data(example_gen), "span": prop(examples, "span"),
                             "version": prop(examples, "version"),
                             "input_fingerprint": prop(examples, "input_fingerprint"),
                             "splits": json.loads(prop(examples, "split_names") or "[]"),
                             "review_logs": json.loads(prop(examples, REVIEW_LOGS_PROPERTY) or "null")})
        lineage.steps.append(step)
    if schema is not None:
        schema_gen, step = _step(view, "schema", schema)
        if schema_gen is not None and prop(schema_gen, "schema_file"):
            step.details["schema_file"] = prop(schema_gen, "schema_file")
        lineage.steps.append(step)
    if examples is not None:
        lineage.steps += _validation_steps(store, examples, schema, transform, lineage.step("examples"))
    if evaluator is not None:
        lineage.steps += _evaluation_steps(store, view, evaluator, blessing, examples, model, with_metrics)
    return lineage


def _validation_steps(store: metadata_store.MetadataStore, examples: metadata_store_pb2.Artifact,
                      schema: metadata_store_pb2.Artifact | None, transform: metadata_store_pb2.Execution | None,
                      examples_step: Step | None) -> list[Step]:
    """Statistics of the examples and the anomalies found in them against the training schema."""
    view = lineage_subgraph(store, artifacts=f"id = {examples.id}", direction="DOWNSTREAM", max_hops=VALIDATION_HOPS)
    same_run = view.run_id(transform.id) if transform is not None and transform.id in view.executions else None

    def pick(artifacts: list[metadata_store_pb2.Artifact]) -> metadata_store_pb2.Artifact | None:
        # Prefer the artifact made in the run that trained the model; else the newest.
        def key(a: metadata_store_pb2.Artifact) -> tuple:
            producer = next(iter(view.producers(a.id)), None)
            return (producer is not None and view.run_id(producer.id) == same_run, a.create_time_since_epoch, a.id)
        unique = {a.id: a for a in artifacts}.values()
        return max(unique, key=key) if unique else None

    steps: list[Step] = []
    statistics = pick([a for e in view.consumers(examples.id) for a in view.outputs(e.id, "statistics")
                       if a.type == "ExampleStatistics"])
    if statistics is None:
        return steps
    _, step = _step(view, "statistics", statistics)
    counts = split_counts(statistics)
    step.details["split_counts"] = counts
    if examples_step is not None:
        examples_step.details["split_counts"] = counts
    steps.append(step)
    validators = view.consumers(statistics.id)
    if schema is not None:  # the one that checked them against the schema the model was trained with
        # (the schema is upstream of the validator, outside this downstream subgraph: read its input events)
        checked = {e.execution_id for e in store.get_events_by_execution_ids([v.id for v in validators])
                   if e.artifact_id == schema.id and e.type in INPUT_EVENTS}
        validators = [v for v in validators if v.id in checked]
    found = pick([a for e in validators for a in view.outputs(e.id, "anomalies") if a.type == "ExampleAnomalies"])
    if found is not None:
        _, step = _step(view, "anomalies", found)
        per_split = anomalies_by_split(found)
        step.details.update({"anomalies": per_split, "status": anomaly_status(per_split),
                             "checked_against_training_schema": schema is not None})
        steps.append(step)
    return steps


def _evaluation_steps(store: metadata_store.MetadataStore, upstream: LineageView, evaluator: metadata_store_pb2.Execution,
                      blessing: metadata_store_pb2.Artifact, examples: metadata_store_pb2.Artifact | None,
                      model: metadata_store_pb2.Artifact | None, with_metrics: bool) -> list[Step]:
    outputs = lineage_subgraph(store, executions=f"id = {evaluator.id}", direction="DOWNSTREAM", max_hops=1)
    evaluated = _single(upstream.inputs(evaluator.id, "examples"))
    baseline = _single(upstream.inputs(evaluator.id, "baseline_model"))
    steps: list[Step] = []
    _, step = _step(upstream, "blessing", blessing, producer=evaluator)
    step.details["blessed"] = is_blessed(blessing)
    steps.append(step)
    evaluation = _single(outputs.outputs(evaluator.id, "evaluation"))
    if evaluation is not None:
        _, step = _step(upstream, "evaluation", evaluation, producer=evaluator)
        step.details.update({
            "examples_uri": evaluated.uri if evaluated is not None else None,
            "same_examples_as_training": evaluated is not None and examples is not None and evaluated.id == examples.id,
            "candidate_model_uri": model.uri if model is not None else None,
            "baseline_model_uri": baseline.uri if baseline is not None else None,
        })
        if baseline is not None:
            baseline_trainer = next(iter(upstream.producers(baseline.id)), None)
            step.details["baseline_model_run"] = upstream.run_id(baseline_trainer.id) if baseline_trainer else None
        if with_metrics:
            try:
                step.details["metrics"] = evaluation_metrics(evaluation.uri)
                step.details["gate_failures"] = validation_failures(evaluation.uri)
            except (OSError, ValueError, IndexError) as err:
                step.details["metrics_error"] = str(err)
        steps.append(step)
    return steps


def _step(view: LineageView, role: str, artifact: metadata_store_pb2.Artifact,
          producer: metadata_store_pb2.Execution | None = None) -> tuple[metadata_store_pb2.Execution | None, Step]:
    producers = view.producers(artifact.id)
    producer = producer or next(iter(producers), None)
    step = Step(role, artifact.id, artifact.type, artifact.uri)
    if producer is not None:
        step.execution = _execution_info(view, producer)
        step.reused_by_runs = sorted({run for e in producers if e.id != producer.id
                                      and e.last_known_state == metadata_store_pb2.Execution.CACHED
                                      and (run := view.run_id(e.id))})
    return producer, step


def _execution_info(view: LineageView, execution: metadata_store_pb2.Execution) -> dict[str, Any]:
    return {
        "id": execution.id,
        "node": view.node_id(execution.id),
        "state": STATE_NAMES.get(execution.last_known_state, str(execution.last_known_state)),
        "run": view.run_id(execution.id),
        "started": iso_time(execution.create_time_since_epoch),
        "seconds": round((execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000.0, 1),
    }


def _trainer_details(trainer: metadata_store_pb2.Execution) -> dict[str, Any]:
    config = _json(prop(trainer, "custom_config"))
    run_config = config.get("config", {})
    return {
        "run_fn": prop(trainer, "run_fn") or prop(trainer, "module_path") or prop(trainer, "module_file"),
        "code_fingerprint": config.get("code_fingerprint"),
        "hyperparameters": run_config.get("model", {}),
        "training": run_config.get("training", {}),
        "train_args": _json(prop(trainer, "train_args")),
        "eval_args": _json(prop(trainer, "eval_args")),
    }


def _json(text: Any) -> dict[str, Any]:
    if not isinstance(text, str) or not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _single(artifacts: list[metadata_store_pb2.Artifact]) -> metadata_store_pb2.Artifact | None:
    return artifacts[0] if artifacts else None
