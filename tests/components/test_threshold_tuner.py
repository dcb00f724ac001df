"""The ThresholdTuner in the DAG: off by default; when on, between Trainer and Evaluator, and the
model it exports is the one the Evaluator gates and the Pusher pushes (locally and compiled)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prodcat.config import ClusterConfig, Config, ThresholdConfig, ThresholdTuningConfig
from prodcat.pipeline.pipeline import PipelineInputs, create_pipeline

TAXONOMY = "/staged/taxonomy/0123/taxonomy.txt"
TUNED = ThresholdConfig(tune=ThresholdTuningConfig(enabled=True, target_precision=0.95, calibrate=True))


def nodes(config: Config, tmp_path: Path) -> dict:
    pipeline = create_pipeline(config, PipelineInputs(str(tmp_path / "data"), "*", TAXONOMY))
    return {node.id: node for node in pipeline.components}


def test_tuning_is_off_by_default_and_the_dag_is_unchanged(tmp_path: Path) -> None:
    dag = nodes(Config(output_dir=str(tmp_path)), tmp_path)
    assert "ThresholdTuner" not in dag
    assert dag["Evaluator"].inputs["model"].producer_component_id == "Trainer"
    assert dag["Pusher"].inputs["model"].producer_component_id == "Trainer"


def test_tuner_sits_between_trainer_and_evaluator_and_its_model_is_pushed(tmp_path: Path) -> None:
    dag = nodes(Config(output_dir=str(tmp_path), thresholds=TUNED), tmp_path)
    tuner = dag["ThresholdTuner"]
    assert {k: c.producer_component_id for k, c in tuner.inputs.items()} == {
        "model": "Trainer", "examples": "ProductExampleGen", "transform_graph": "Transform"}
    for consumer in ("Evaluator", "Pusher"):
        channel = dag[consumer].inputs["model"]
        assert (channel.producer_component_id, channel.output_key) == ("ThresholdTuner", "tuned_model"), consumer
    settings = json.loads(tuner.exec_properties["custom_config"])["config"]["thresholds"]["tune"]
    assert settings["target_precision"] == 0.95 and settings["calibrate"] is True


def test_compiled_kubeflow_pipeline_carries_the_tuner_like_the_local_dag(tmp_path: Path) -> None:
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    from prodcat.kubeflow import runner

    config = Config(output_dir=str(tmp_path / "local"), thresholds=TUNED, cluster=ClusterConfig(
        image="registry.example.com/prodcat:1.0", pipeline_root=str(tmp_path / "root"),
        serving_base=str(tmp_path / "serving")))
    path = runner.compile_pipeline(config, tmp_path / "pipeline.json", "gs://bucket/products", TAXONOMY)
    spec = json_format.ParseDict(json.loads(path.read_text())["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
    tasks = spec.root.dag.tasks

    def producer(task: str, key: str) -> str:
        return tasks[task].inputs.artifacts[key].task_output_artifact.producer_task

    assert producer("ThresholdTuner", "model") == "Trainer"
    assert producer("Evaluator", "model") == "ThresholdTuner"
    assert producer("Pusher", "model") == "ThresholdTuner"
    assert tasks["Pusher"].inputs.artifacts["model"].task_output_artifact.output_artifact_key == "tuned_model"
    executor = spec.deployment_spec["executors"][spec.components[tasks["ThresholdTuner"].component_ref.name].executor_label]
    assert executor["container"]["image"] == "registry.example.com/prodcat:1.0"
    local = create_pipeline(config, PipelineInputs("gs://bucket/products", "*", TAXONOMY))
    spec_nodes = {t.removesuffix("-model-resolver").removesuffix("-model-blessing-resolver") for t in tasks}
    assert spec_nodes == {node.id for node in local.components}


@pytest.mark.parametrize("changes", [dict(target_precision=0.0), dict(sensitive_precision=1.5), dict(max_products=0)])
def test_tuning_settings_are_validated(changes: dict) -> None:
    with pytest.raises(ValueError):
        ThresholdTuningConfig(**changes)
