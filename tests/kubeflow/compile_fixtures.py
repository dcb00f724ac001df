"""Shared by the test_compile_*.py files: a cluster config, compiled into a KFP v2 package parsed with KFP's own protos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from prodcat.config import ClusterConfig, Config, ModelConfig, Resources, TrainingConfig
from prodcat.kubeflow import runner

IMAGE = "registry.example.com/prodcat:1.0"
DATA = "gs://bucket/products"
TAXONOMY = "gs://bucket/root/inputs/taxonomy/0123/taxonomy.txt"
KFP_CMD = ["python", "-m", "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"]
BEAM_COMPONENTS = ("ProductExampleGen", "StatisticsGen", "Transform", "Evaluator")


def cluster_config(tmp: Path, **changes: object) -> Config:
    cluster = dict(
        image=IMAGE, pipeline_root=str(tmp / "root"), serving_base=str(tmp / "serving"),
        default_resources=Resources(cpu="500m", memory="2Gi"),
        trainer_resources=Resources(cpu="8", memory="32G", gpus=1, gpu_type="nvidia-tesla-t4",
                                    node_selector={"pool": "training"}),
        component_resources={"Transform": Resources(cpu="2", memory="8G")},
    )
    cluster.update(changes.pop("cluster", {}))
    values = dict(output_dir=str(tmp / "local"), training=TrainingConfig(workers=2), model=ModelConfig(epochs=5),
                  cluster=ClusterConfig(**cluster))
    values.update(changes)
    return Config(**values)


class Compiled:
    """A compiled package, parsed with KFP's protos."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.doc = json.loads(path.read_text())
        job = {k: v for k, v in self.doc.items() if k != "platformSpec"}
        self.job = json_format.ParseDict(job, pipeline_spec_pb2.PipelineJob())
        self.spec = json_format.ParseDict(self.doc["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
        self.deployment = json_format.ParseDict(
            json_format.MessageToDict(self.spec.deployment_spec), pipeline_spec_pb2.PipelineDeploymentConfig())
        self.platform = json_format.ParseDict(self.doc.get("platformSpec", {}), pipeline_spec_pb2.PlatformSpec())

    @property
    def tasks(self):  # noqa: ANN201
        return self.spec.root.dag.tasks

    def executor(self, task: str):  # noqa: ANN201
        return self.deployment.executors[self.spec.components[self.tasks[task].component_ref.name].executor_label]

    def container(self, task: str):  # noqa: ANN201
        return self.executor(task).container

    def containers(self) -> dict:
        return {name: self.container(name) for name in self.tasks if self.executor(name).HasField("container")}

    def node_selectors(self) -> dict[str, dict]:
        executors = self.platform.platforms["kubernetes"].deployment_spec.executors
        return {label: dict(json_format.MessageToDict(cfg).get("nodeSelector", {}).get("labels", {}))
                for label, cfg in executors.items()}

    def trainer_config(self) -> dict:
        return json.loads(self.spec.root.input_definitions.parameters["trainer_config"].default_value.string_value)


def compile_to(config: Config, path: Path, **kwargs: object) -> Compiled:
    return Compiled(runner.compile_pipeline(config, path, DATA, TAXONOMY, **kwargs))


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kubeflow")


@pytest.fixture(scope="module")
def config(tmp: Path) -> Config:
    return cluster_config(tmp)


@pytest.fixture(scope="module")
def kfp(config: Config, tmp: Path) -> Compiled:
    return compile_to(config, tmp / "pipeline.json")


@pytest.fixture(scope="module")
def vertex(config: Config, tmp: Path) -> Compiled:
    return compile_to(config, tmp / "vertex.json", vertex=runner.VertexTraining("my-project", "europe-west4", "n1-standard-16"))
