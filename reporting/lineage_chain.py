"""The result of `prodcat lineage` and its two forms: the chain of `Step`s from a served model back
to its data (`Lineage`, as `--json` prints it) and that chain as text (`format_lineage`). Kept apart
from `lineage.py`, which walks ML Metadata to build it, so the output can change without the queries.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from prodcat.reporting.runs import json_number


@dataclasses.dataclass
class Step:
    """An artifact in the chain and the execution that produced it."""

    role: str
    artifact_id: int
    artifact_type: str
    uri: str
    execution: dict[str, Any] | None = None      # id, node, state, run, started, seconds
    reused_by_runs: list[str] = dataclasses.field(default_factory=list)  # runs whose cached execution re-output it
    details: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Lineage:
    store: str
    pushed_version: str
    pushed_destination: str
    steps: list[Step]

    def step(self, role: str) -> Step | None:
        return next((s for s in self.steps if s.role == role), None)

    def to_json(self) -> dict[str, Any]:
        return _clean_json(dataclasses.asdict(self))


def _clean_json(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _clean_json(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_clean_json(v) for v in data]
    return json_number(data)


# ----------------------------------------------------------------------------- text
def predicted_subtrees(metrics: dict[str, float]) -> dict[str, tuple[float, float, float]]:
    """Sensitive subtree -> (served predictions in it, their precision, hierarchical precision)."""
    prefix, suffix = "sensitive_predicted_", "_count"
    names = [k[len(prefix):-len(suffix)] for k in metrics if k.startswith(prefix) and k.endswith(suffix)]
    return {n: (metrics[f"{prefix}{n}{suffix}"], metrics.get(f"{prefix}{n}_precision", math.nan),
                metrics.get(f"{prefix}{n}_hierarchical_precision", math.nan)) for n in sorted(names)}


def _fmt(x: Any) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def _execution_line(step: Step) -> str:
    e = step.execution
    if not e:
        return "      (no producing execution recorded)"
    line = f"      by {e['node']} execution {e['id']} ({e['state']}, {e['seconds']} s) in run {e['run']}"
    if step.reused_by_runs:
        line += f"; reused from cache by run(s) {', '.join(step.reused_by_runs)}"
    return line


# Artifacts beside the chain rather than on it: checks of the examples, the Evaluator's metrics.
_BESIDE = {"statistics": "statistics of these examples", "anomalies": "anomalies (these statistics vs. that schema)",
           "evaluation": "evaluation (same Evaluator execution)"}


def format_lineage(lineage: Lineage) -> str:
    """The chain as text: `<-` steps lead upstream from the served model, `--` ones sit beside them."""
    lines = [f"pushed model version {lineage.pushed_version}: {lineage.pushed_destination}",
             f"  (ML Metadata: {lineage.store})"]
    for step in lineage.steps:
        d = step.details
        if step.role == "pushed model":
            lines.append(f"  <- Pusher: archive copy {d.get('archive_copy')}  [PushedModel #{step.artifact_id}]")
            lines.append(_execution_line(step))
            continue
        label = f"  -- {_BESIDE[step.role]}" if step.role in _BESIDE else f"  <- {step.role}"
        lines.append(f"{label}: {step.uri}  [{step.artifact_type} #{step.artifact_id}]")
        lines.append(_execution_line(step))
        if step.role == "model":
            lines.append(f"      run_fn {d.get('run_fn')}, code fingerprint {d.get('code_fingerprint')}")
            hp = d.get("hyperparameters") or {}
            if hp:
                lines.append("      hyperparameters: " + ", ".join(f"{k} {v}" for k, v in hp.items() if v is not None))
        elif step.role == "transform graph":
            lines.append(f"      preprocessing_fn {d.get('preprocessing_fn')}, code fingerprint {d.get('code_fingerprint')}")
        elif step.role == "examples":
            lines.append(f"      data read: {d.get('data')}")
            lines.append(f"      span {d.get('span')}, fingerprint {d.get('input_fingerprint')}")
            counts = d.get("split_counts") or {}
            if counts:
                lines.append("      splits: " + "  ".join(f"{k} {v}" for k, v in counts.items()))
            reviews = d.get("review_logs")
            if reviews:
                lines.append(f"      reviewed labels: {reviews['labels']} ({reviews['overridden']} relabelled, "
                             f"{reviews['added']} added) from " + ", ".join(
                                 f"{log['path']} (sha256 {log['sha256'][:12]})" for log in reviews["logs"]))
        elif step.role == "schema" and d.get("schema_file"):
            lines.append(f"      imported from {d['schema_file']}")
        elif step.role == "statistics":
            counts = d.get("split_counts") or {}
            lines.append("      examples per split: " + ("  ".join(f"{k} {v}" for k, v in counts.items()) or "n/a"))
        elif step.role == "anomalies":
            lines.append(f"      {d.get('status')}")
        elif step.role == "evaluation":
            same = "the same Examples artifact" if d.get("same_examples_as_training") else d.get("examples_uri")
            baseline = d.get("baseline_model_uri")
            if baseline and d.get("baseline_model_run"):
                baseline += f" (trained in run {d['baseline_model_run']})"
            lines.append(f"      on {same} (eval split); baseline: {baseline or 'none (first blessed model)'}")
            m = d.get("metrics") or {}
            if m:
                lines.append(f"      products {int(m.get('example_count', 0))}  hierarchical P/R/F1 "
                             f"{_fmt(m.get('hierarchical_precision'))}/{_fmt(m.get('hierarchical_recall'))}/"
                             f"{_fmt(m.get('hierarchical_f1'))}  coverage {_fmt(m.get('coverage'))}  "
                             f"leaf accuracy {_fmt(m.get('leaf_accuracy'))}")
                lines.append(f"      sensitive: {int(m.get('sensitive_products', 0))} products (true or served), "
                             f"hierarchical precision {_fmt(m.get('sensitive_hierarchical_precision'))}; "
                             f"{int(m.get('sensitive_predictions', 0))} sensitive predictions, precision "
                             f"{_fmt(m.get('sensitive_predicted_precision'))}")
                predicted = predicted_subtrees(m)
                if predicted:
                    lines.append("      predicted subtree: " + "; ".join(
                        f"{name} {int(n)} (precision {_fmt(p)}, hierarchical {_fmt(hp)})"
                        for name, (n, p, hp) in predicted.items() if n))
                for failure in d.get("gate_failures") or []:
                    lines.append(f"      gate failed: {failure}")
        elif step.role == "blessing":
            lines.append(f"      {'BLESSED' if d.get('blessed') else 'NOT blessed'}")
    return "\n".join(lines)
