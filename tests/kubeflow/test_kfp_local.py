"""The compiled Kubeflow spec, executed: every task runs in KFP's local orchestrator (kfp.local).

`prodcat compile kubeflow` writes the spec; `kfp_local/run_spec.py`, in the KFP venv (`make
kfp-local`; `make test` creates it), loads it into kfp.local, which orders the DAG, builds each
task's ExecutorInput and command line from the container spec and passes artifacts between tasks;
each task runs as a host process with this venv's python (kfp_local/host_tasks.py). Two runs on
the same pipeline root: the first without a baseline, the second with the first run's blessed
model resolved as the Evaluator's baseline (kfp_local/baseline.py). Run parameters are set the way
`prodcat submit` sets them, and differ from the compiled defaults, so they must reach the tasks.
About 8 minutes on 2 cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from prodcat.contract.signatures import ASSETS_EXTRA, CONFIG_ASSET, TRAINING_SUMMARY_ASSET
from prodcat.kubeflow.runner import load_package
from prodcat.kubeflow.submit import resolve_parameters

REPO = Path(__file__).resolve().parents[2]
KFP_PYTHON = REPO / ".venv-kfp" / "bin" / "python"
RUN_SPEC = Path(__file__).resolve().parent / "kfp_local" / "run_spec.py"
ENTRYPOINT = "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"
DRIVER = "tfx.orchestration.kubeflow.v2.file_based_example_gen.driver"
PARAMETERS = {"model.epochs": 1, "thresholds.per_level": [0.35, 0.6]}  # compiled: 3 epochs, [0.3, 0.7, 0.9]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not KFP_PYTHON.exists(),
                       reason=f"{KFP_PYTHON} is missing: `make kfp-local` creates KFP's venv (`make test` does)"),
]


def _outputs(task: dict) -> dict:
    """A task's output artifacts as TFX wrote them to its executor_output.json (key -> artifact)."""
    written = json.loads(Path(task["output_file"]).read_text())["artifacts"]
    return {key: value["artifacts"][0] for key, value in written.items()}


class Run:
    """One local run: its summary (kfp_local/run_spec.py) and each task's outputs by executor class."""

    def __init__(self, summary: Path) -> None:
        self.summary = json.loads(summary.read_text())
        self.tasks = {task["executor_class"]: task for task in self.summary["tasks"]}

    def outputs(self, executor_suffix: str) -> dict:
        (task,) = [t for name, t in self.tasks.items() if name.endswith(executor_suffix)]
        return _outputs(task)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, google_taxonomy_path: Path, google_taxonomy) -> dict:  # noqa: ANN001
    from prodcat.synth import SynthConfig, write_demo_dataset

    tmp = tmp_path_factory.mktemp("kfp_local")
    products = write_demo_dataset(google_taxonomy, tmp / "products", SynthConfig(n_products=300, n_categories=8))
    config = {"pipeline_name": "prodcat-kfp-local", "output_dir": str(tmp / "out"), "model": {"epochs": 3},
              "evaluation": {"min_hierarchical_f1": 0.0, "min_coverage": 0.0, "max_f1_regression": 1.0},
              "cluster": {"image": "prodcat:kfp-local-test"}}
    (tmp / "config.yaml").write_text(yaml.safe_dump(config))
    spec = tmp / "pipeline.json"
    # The compiled data_root names a directory that does not exist: only the run parameter finds data.
    subprocess.run([str(Path(sys.executable).parent / "prodcat"), "compile", "kubeflow", "--config",
                    str(tmp / "config.yaml"), "--data", f"{tmp / 'compiled-default'}/", "--taxonomy", str(google_taxonomy_path),
                    "--output", str(spec)], check=True, timeout=300)
    values = resolve_parameters(load_package(spec), {"data_root": str(products.parent), **PARAMETERS})
    (tmp / "params.json").write_text(json.dumps(values))
    found = {"spec": json.loads(spec.read_text())["pipelineSpec"], "products": products, "tmp": tmp}
    for baseline in ("none", "latest"):
        summary = tmp / f"summary-{baseline}.json"
        subprocess.run([str(KFP_PYTHON), str(RUN_SPEC), str(spec), "--python", sys.executable, "--pipeline-root",
                        str(tmp / "kfp-root"), "--baseline", baseline, "--params", str(tmp / "params.json"),
                        "--summary", str(summary)], check=True, timeout=1800)
        found[baseline] = Run(summary)
    return found


def _container_executors(spec: dict) -> dict[str, bool]:
    """Executor class path -> whether the compiled container has a preCacheCheck hook."""
    containers = [e["container"] for e in spec["deploymentSpec"]["executors"].values() if "container" in e]
    return {c["args"][c["args"].index("--executor_class_path") + 1]: "preCacheCheck" in c.get("lifecycle", {})
            for c in containers}


@pytest.mark.parametrize("baseline", ["none", "latest"])
def test_every_compiled_task_ran_its_command_as_a_host_process(runs: dict, baseline: str) -> None:
    compiled = _container_executors(runs["spec"])
    assert [name for name, hook in compiled.items() if hook] == ["prodcat.components.product_example_gen.Executor"]
    run = runs[baseline]
    assert set(run.tasks) == set(compiled) and len(run.tasks) == 8
    for name, task in run.tasks.items():
        assert task["image"] == "prodcat:kfp-local-test"
        steps = [(s["step"], s["module"], s["exit_code"]) for s in task["steps"]]
        hook = [("preCacheCheck", DRIVER, 0)] if compiled[name] else []
        assert steps == [*hook, ("executor", ENTRYPOINT, 0)], name
        assert _outputs(task), f"{name} wrote no output artifacts"


def test_the_data_root_parameter_reached_example_gen(runs: dict) -> None:
    import tensorflow as tf

    examples = runs["none"].outputs("product_example_gen.Executor")["examples"]
    assert json.loads(examples["metadata"]["split_names"]) == ["train", "eval"]
    files = tf.io.gfile.glob(f"{examples['uri']}/Split-*/*")
    count = sum(1 for _ in tf.data.TFRecordDataset(files, compression_type="GZIP"))
    assert count == len(runs["products"].read_text().splitlines()) == 300


def test_the_trainer_config_parameters_reached_the_pushed_model(runs: dict) -> None:
    for baseline in ("none", "latest"):
        pushed = runs[baseline].outputs("atomic_pusher.Executor")["pushed_model"]["metadata"]
        assert pushed["pushed"] == 1 and pushed["pushed_destination"].startswith(str(runs["tmp"] / "out" / "serving"))
        assets = Path(pushed["pushed_destination"]) / ASSETS_EXTRA
        config = json.loads((assets / CONFIG_ASSET).read_text())
        assert config["model"]["epochs"] == 1 and config["thresholds"]["per_level"] == [0.35, 0.6]
        assert json.loads((assets / TRAINING_SUMMARY_ASSET).read_text())["epochs_run"] == 1


def test_the_first_run_validates_without_a_baseline(runs: dict) -> None:
    run = runs["none"]
    assert sorted(run.summary["resolvers"]) == ["latest_blessed_model_resolver-model-blessing-resolver",
                                                "latest_blessed_model_resolver-model-resolver"]
    assert run.summary["baseline"] is None and not set(run.summary["resolvers"]) & set(run.summary["spec_tasks"])
    blessing = run.outputs("evaluator.executor.Executor")["blessing"]["metadata"]
    assert blessing["blessed"] == 1 and "baseline_model" not in blessing
    assert blessing["current_model"] == run.outputs("trainer.executor.GenericExecutor")["model"]["uri"]


def test_the_second_run_evaluates_against_the_first_runs_blessed_model(runs: dict) -> None:
    first_model = runs["none"].outputs("trainer.executor.GenericExecutor")["model"]["uri"]
    run = runs["latest"]
    assert run.summary["baseline"]["uri"] == first_model
    assert "latest_blessed_model_resolver-model-resolver" in run.summary["spec_tasks"]  # now an importer
    blessing = run.outputs("evaluator.executor.Executor")["blessing"]["metadata"]
    assert blessing["baseline_model"] == first_model
    assert blessing["current_model"] == run.outputs("trainer.executor.GenericExecutor")["model"]["uri"] != first_model
    pushed = [runs[b].outputs("atomic_pusher.Executor")["pushed_model"]["metadata"]["pushed_version"]
              for b in ("none", "latest")]
    assert len(set(pushed)) == 2
