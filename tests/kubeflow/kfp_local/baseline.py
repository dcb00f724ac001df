"""The resolver nodes (latest blessed model -> the Evaluator's baseline) for KFP's local orchestrator.

TFX compiles `LatestBlessedModelStrategy` into two tasks whose executors are `resolver` specs:
ML Metadata queries that a KFP / Vertex backend answers (`schema_title="tfx.ModelBlessing" AND
metadata.blessed.number_value=1`, then the `tfx.Model` that blessing names). kfp.local has no
metadata store and runs only `container` and `importer` executors (any other spec is a
`ValueError` in kfp/local/orchestrator/task_executor.py), so the compiled spec is changed in one
documented way before it is run, chosen per run:

* `without_baseline`: the resolver tasks are removed, and with them the consumers' inputs they fed
  (the Evaluator's `baseline_model`). This is what a cluster does on the first run, when the
  query finds nothing: TFX's Evaluator validates against absolute thresholds only.
* `with_baseline`: the resolver task that fed the Evaluator becomes an `importer` task of the same
  name, importing the model the query would return; the query itself (`latest_blessed_model`) is
  answered from the `executor_output.json` files of earlier local runs instead of ML Metadata.

Everything downstream (the Evaluator loading two models, comparing, blessing, the Pusher) then
runs unchanged.
"""

from __future__ import annotations

import copy
import glob
import json
import os
from typing import Any, Dict, Optional, Set

MODEL_SCHEMA = "title: tfx.Model\ntype: object\n"


def resolver_tasks(spec: Dict[str, Any]) -> Set[str]:
    """Names of the root DAG's tasks whose executor is a `resolver` spec."""
    executors = spec["deploymentSpec"]["executors"]
    return {name for name, task in spec["root"]["dag"]["tasks"].items()
            if "resolver" in executors[spec["components"][task["componentRef"]["name"]]["executorLabel"]]}


def _fed_by(spec: Dict[str, Any], producers: Set[str]) -> Dict[str, Set[str]]:
    """Consumer task (not a resolver) -> its input artifact keys that come from `producers`."""
    fed: Dict[str, Set[str]] = {}
    for name, task in spec["root"]["dag"]["tasks"].items():
        if name in producers:
            continue
        for key, source in task.get("inputs", {}).get("artifacts", {}).items():
            if source.get("taskOutputArtifact", {}).get("producerTask") in producers:
                fed.setdefault(name, set()).add(key)
    return fed


def _drop_tasks(spec: Dict[str, Any], names: Set[str]) -> None:
    tasks = spec["root"]["dag"]["tasks"]
    for name in names:
        component = tasks.pop(name)["componentRef"]["name"]
        label = spec["components"].pop(component)["executorLabel"]
        spec["deploymentSpec"]["executors"].pop(label)
    for task in tasks.values():
        if "dependentTasks" in task:
            task["dependentTasks"] = [t for t in task["dependentTasks"] if t not in names]


def without_baseline(spec: Dict[str, Any]) -> Dict[str, Any]:
    """The spec of a run whose resolver finds no blessed model (a first run)."""
    spec = copy.deepcopy(spec)
    resolvers = resolver_tasks(spec)
    for name, keys in _fed_by(spec, resolvers).items():
        task = spec["root"]["dag"]["tasks"][name]
        component = spec["components"][task["componentRef"]["name"]]
        for key in keys:
            del task["inputs"]["artifacts"][key]
            del component["inputDefinitions"]["artifacts"][key]
    _drop_tasks(spec, resolvers)
    return spec


def with_baseline(spec: Dict[str, Any], model_uri: str, metadata: Dict[str, Any]) -> Dict[str, Any]:
    """The spec of a run whose resolver returns the model at `model_uri`, as an importer task."""
    spec = copy.deepcopy(spec)
    resolvers = resolver_tasks(spec)
    fed = _fed_by(spec, resolvers)
    tasks = spec["root"]["dag"]["tasks"]
    final = {tasks[name]["inputs"]["artifacts"][key]["taskOutputArtifact"]["producerTask"]
             for name, keys in fed.items() for key in keys}
    if len(final) != 1:
        raise ValueError(f"expected one resolver feeding the pipeline, found {sorted(final)}")
    (kept,) = final
    _drop_tasks(spec, resolvers - {kept})
    component = spec["components"][tasks[kept]["componentRef"]["name"]]
    (output,) = component["outputDefinitions"]["artifacts"]
    if component["outputDefinitions"]["artifacts"][output]["artifactType"] != {"instanceSchema": MODEL_SCHEMA}:
        raise ValueError(f"resolver {kept!r} does not return a tfx.Model")
    component.pop("inputDefinitions", None)
    component["outputDefinitions"]["artifacts"] = {"artifact": {"artifactType": {"instanceSchema": MODEL_SCHEMA}}}
    tasks[kept].pop("inputs", None)
    tasks[kept].pop("dependentTasks", None)
    spec["deploymentSpec"]["executors"][component["executorLabel"]] = {"importer": {
        "artifactUri": {"constant": model_uri}, "typeSchema": {"instanceSchema": MODEL_SCHEMA},
        "metadata": metadata}}
    for name, keys in fed.items():  # kfp.local's importer names its output `artifact`
        for key in keys:
            tasks[name]["inputs"]["artifacts"][key]["taskOutputArtifact"]["outputArtifactKey"] = "artifact"
    return spec


def _outputs(pipeline_root: str) -> list:
    """(mtime, artifact) for every output artifact written by a task under `pipeline_root`."""
    found = []
    for path in glob.glob(os.path.join(pipeline_root, "*", "*", "executor_output.json")):
        with open(path) as handle:
            artifacts = json.load(handle).get("artifacts", {})
        for artifact_list in artifacts.values():
            found += [(os.path.getmtime(path), a) for a in artifact_list.get("artifacts", [])]
    return found


def latest_blessed_model(pipeline_root: str) -> Optional[Dict[str, Any]]:
    """The resolver's query over earlier local runs: the model of the newest blessing with blessed=1.

    A blessing names its model by URI (`current_model`, set by TFX's Evaluator); returns that
    model's output artifact ({"uri", "metadata"}) or None when no run blessed a model.
    """
    outputs = _outputs(pipeline_root)
    blessings = sorted(((t, a) for t, a in outputs if a.get("metadata", {}).get("blessed") == 1
                        and "current_model" in a.get("metadata", {})), key=lambda found: found[0])
    if not blessings:
        return None
    uri = blessings[-1][1]["metadata"]["current_model"]
    models = [a for _, a in outputs if a.get("uri") == uri]
    if not models:
        raise ValueError(f"a blessing names model {uri}, which no run under {pipeline_root} wrote")
    return {"uri": uri, "metadata": models[0].get("metadata", {})}
