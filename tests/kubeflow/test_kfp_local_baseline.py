"""How the local runs treat the resolver nodes (tests/kubeflow/kfp_local/baseline.py), on a real compiled spec.

Plain JSON rewriting, so it runs here without the KFP venv; test_kfp_local.py executes the result.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from prodcat.config import ClusterConfig, Config
from prodcat.kubeflow import runner

BASELINE_PY = Path(__file__).resolve().parent / "kfp_local" / "baseline.py"
_spec = importlib.util.spec_from_file_location("kfp_local_baseline", BASELINE_PY)
baseline = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(baseline)

RESOLVERS = {"latest_blessed_model_resolver-model-blessing-resolver", "latest_blessed_model_resolver-model-resolver"}
MODEL_RESOLVER = "latest_blessed_model_resolver-model-resolver"


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("compiled")
    config = Config(output_dir=str(tmp / "local"), cluster=ClusterConfig(image="prodcat:test"))
    path = runner.compile_pipeline(config, tmp / "pipeline.json", "/data/products", "/data/taxonomy.txt")
    return json.loads(Path(path).read_text())["pipelineSpec"]


def _without(spec: dict, names: set[str]) -> dict:
    tasks = {k: v for k, v in spec["root"]["dag"]["tasks"].items() if k not in names}
    return {k: v for k, v in tasks.items() if k != "Evaluator"}


def test_the_compiled_spec_has_the_two_resolver_tasks(spec: dict) -> None:
    assert baseline.resolver_tasks(spec) == RESOLVERS
    source = spec["root"]["dag"]["tasks"]["Evaluator"]["inputs"]["artifacts"]["baseline_model"]
    assert source["taskOutputArtifact"] == {"outputArtifactKey": "model", "producerTask": MODEL_RESOLVER}


def test_without_baseline_drops_the_resolvers_and_the_evaluators_baseline_input(spec: dict) -> None:
    changed = baseline.without_baseline(spec)
    tasks = changed["root"]["dag"]["tasks"]
    assert not baseline.resolver_tasks(changed) and not RESOLVERS & set(tasks)
    evaluator = tasks["Evaluator"]
    assert "baseline_model" not in evaluator["inputs"]["artifacts"]
    assert "baseline_model" not in changed["components"]["Evaluator"]["inputDefinitions"]["artifacts"]
    assert not RESOLVERS & set(evaluator["dependentTasks"])
    assert set(evaluator["inputs"]["artifacts"]) == {"examples", "model"}
    assert _without(changed, RESOLVERS) == _without(spec, RESOLVERS)  # every other task as compiled
    assert not any("resolver" in e for e in changed["deploymentSpec"]["executors"].values())
    assert baseline.resolver_tasks(spec) == RESOLVERS  # the input is not changed


def test_with_baseline_imports_the_model_under_the_resolvers_name(spec: dict) -> None:
    changed = baseline.with_baseline(spec, "/runs/1/Trainer/model", {"tfx_version": "1.16.0"})
    tasks = changed["root"]["dag"]["tasks"]
    assert set(tasks) & RESOLVERS == {MODEL_RESOLVER}
    importer = changed["deploymentSpec"]["executors"][changed["components"][MODEL_RESOLVER]["executorLabel"]]
    assert importer == {"importer": {"artifactUri": {"constant": "/runs/1/Trainer/model"},
                                     "typeSchema": {"instanceSchema": baseline.MODEL_SCHEMA},
                                     "metadata": {"tfx_version": "1.16.0"}}}
    source = tasks["Evaluator"]["inputs"]["artifacts"]["baseline_model"]["taskOutputArtifact"]
    assert source == {"outputArtifactKey": "artifact", "producerTask": MODEL_RESOLVER}
    assert MODEL_RESOLVER in tasks["Evaluator"]["dependentTasks"]
    assert _without(changed, RESOLVERS) == _without(spec, RESOLVERS)


def _write_task(root: Path, run: str, task: str, artifacts: dict, mtime: float) -> None:
    import os

    path = root / run / task / "executor_output.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"artifacts": {k: {"artifacts": [v]} for k, v in artifacts.items()}}))
    os.utime(path, (mtime, mtime))


def test_the_query_finds_the_model_of_the_newest_blessing(tmp_path: Path) -> None:
    assert baseline.latest_blessed_model(str(tmp_path)) is None
    for run, blessed, mtime in (("run1", 1, 100.0), ("run2", 1, 200.0), ("run3", 0, 300.0)):
        model = f"/root/{run}/er/model"
        _write_task(tmp_path, run, "er", {"model": {"uri": model, "metadata": {"run": run}}}, mtime - 1)
        _write_task(tmp_path, run, "ator", {"blessing": {"uri": f"/root/{run}/ator/blessing", "metadata": {
            "blessed": blessed, "current_model": model}}}, mtime)
    assert baseline.latest_blessed_model(str(tmp_path)) == {"uri": "/root/run2/er/model", "metadata": {"run": "run2"}}
    (tmp_path / "run2" / "er" / "executor_output.json").unlink()
    with pytest.raises(ValueError, match="no run under"):
        baseline.latest_blessed_model(str(tmp_path))
