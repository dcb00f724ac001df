"""The Kubeflow runner compiles the local DAG into a KFP v2 spec that carries the cluster config.

Everything is checked on the compiled file, parsed with KFP's own protos (kfp-pipeline-spec).
No cluster is involved; importing TFX dominates the run time.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from prodcat.components import nodes
from prodcat.config import BeamConfig, ClusterConfig, Config, ModelConfig, Resources, TrainingConfig
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


def test_spec_parses_with_kfp_protos(kfp: Compiled) -> None:
    assert kfp.spec.schema_version == "2.1.0"
    assert kfp.spec.pipeline_info.name == "prodcat-demo"
    assert kfp.spec.sdk_version.startswith("tfx-")
    assert kfp.job.pipeline_spec["pipelineInfo"]["name"] == "prodcat-demo"


def test_dag_is_the_local_pipeline(kfp: Compiled, config: Config) -> None:
    """Same components, same edges as create_pipeline gives the local runner."""
    from prodcat.pipeline.pipeline import PipelineInputs, create_pipeline

    local = create_pipeline(config, PipelineInputs(DATA, "*", TAXONOMY))
    local_nodes = {node.id for node in local.components}
    # Locally the baseline resolver also reads the candidate model, to leave it out (a cluster's
    # compiler only knows TFX's own strategy; see pipeline.baseline_model_resolver).
    local_edges = {(up.id, node.id) for node in local.components for up in node.upstream_nodes
                   if node.id != nodes.BASELINE_RESOLVER}
    assert {up.id for node in local.components if node.id == nodes.BASELINE_RESOLVER
            for up in node.upstream_nodes} == {nodes.TRAINER}

    def node_of(task: str) -> str:
        # TFX compiles the latest-blessed-model Resolver into two resolver tasks.
        return task.removesuffix("-model-resolver").removesuffix("-model-blessing-resolver")

    spec_nodes = {node_of(task) for task in kfp.tasks}
    spec_edges = {(node_of(up), node_of(task)) for task, spec in kfp.tasks.items() for up in spec.dependent_tasks}
    assert spec_nodes == local_nodes
    assert {e for e in spec_edges if e[0] != e[1]} == local_edges
    # and each artifact input comes from the producer the local DAG wires it to
    for node in local.components:
        if node.id not in kfp.tasks:  # the resolver: queries ML Metadata, no input edges
            continue
        for key, channel in node.inputs.items():
            producer = kfp.tasks[node.id].inputs.artifacts[key].task_output_artifact.producer_task
            assert node_of(producer) == channel.producer_component_id


def test_every_component_runs_the_image_with_tfx_entrypoint(kfp: Compiled) -> None:
    containers = kfp.containers()
    assert set(containers) == {"ProductExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
                               "Transform", "Trainer", "Evaluator", "Pusher"}
    for container in containers.values():
        assert container.image == IMAGE
        assert list(container.command) == KFP_CMD
    driver = containers["ProductExampleGen"].lifecycle.pre_cache_check
    assert list(driver.command)[-1] == "tfx.orchestration.kubeflow.v2.file_based_example_gen.driver"


def test_resources_per_component(kfp: Compiled) -> None:
    containers = kfp.containers()
    for name, container in containers.items():
        res = container.resources
        if name == "Transform":  # component_resources override
            assert (res.cpu_limit, res.memory_limit) == (2.0, 8.0)
        elif name == "Trainer":
            assert (res.cpu_limit, res.memory_limit) == (8.0, 32.0)
            assert (res.accelerator.type, res.accelerator.count) == ("nvidia.com/gpu", 1)
        else:  # default_resources, ProductExampleGen included (TFX drops its platform_config)
            assert (res.cpu_limit, res.memory_limit) == (0.5, pytest.approx(2 * 2**30 / 1e9))
        assert (res.cpu_request, res.memory_request) == (res.cpu_limit, res.memory_limit)
        if name != "Trainer":
            assert not res.HasField("accelerator")


def test_trainer_node_selector_in_platform_spec(kfp: Compiled) -> None:
    label = kfp.spec.components["Trainer"].executor_label
    assert kfp.node_selectors() == {label: {"pool": "training", "cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}}


def test_runtime_parameters(kfp: Compiled, config: Config) -> None:
    params = kfp.spec.root.input_definitions.parameters
    assert set(params) == {"data_root", "trainer_config"}
    assert params["data_root"].default_value.string_value == DATA
    assert all(p.is_optional and p.parameter_type == pipeline_spec_pb2.ParameterType.STRING for p in params.values())
    assert kfp.tasks["ProductExampleGen"].inputs.parameters["input_base"].component_input_parameter == "data_root"
    assert kfp.tasks["Trainer"].inputs.parameters["custom_config"].component_input_parameter == "trainer_config"
    trainer_config = kfp.trainer_config()
    assert trainer_config["taxonomy_path"] == TAXONOMY
    assert trainer_config["config"]["model"]["epochs"] == 5
    assert trainer_config["config"]["thresholds"]["per_level"] == list(config.thresholds.per_level)
    values = kfp.doc["runtimeConfig"]["parameterValues"]
    assert values == {"data_root": DATA, "trainer_config": params["trainer_config"].default_value.string_value}


def test_pipeline_root_and_staged_schema(kfp: Compiled, config: Config) -> None:
    from prodcat.pipeline.pipeline import CURATED_SCHEMA

    assert kfp.spec.default_pipeline_root == config.cluster.pipeline_root
    assert kfp.doc["runtimeConfig"]["gcsOutputDirectory"] == config.cluster.pipeline_root
    staged = kfp.tasks["ImportSchemaGen"].inputs.parameters["schema_file"].runtime_value.constant.string_value
    assert staged.startswith(config.cluster.pipeline_root + "/inputs/schema/")
    assert Path(staged).read_bytes() == CURATED_SCHEMA.read_bytes()
    assert str(Path(__file__).resolve().parents[2]) not in kfp.path.read_text()  # no path of this checkout
    pusher = json.loads(kfp.tasks["Pusher"].inputs.parameters["push_destination"].runtime_value.constant.string_value)
    assert pusher["filesystem"]["base_directory"] == config.cluster.serving_base


def test_beam_args_and_caching_on_the_direct_runner(kfp: Compiled) -> None:
    for name in BEAM_COMPONENTS:
        args = list(kfp.container(name).args)
        assert "--runner=DirectRunner" in args
    for name, task in kfp.tasks.items():
        if kfp.executor(name).HasField("container"):
            assert task.caching_options.enable_cache


def test_dataflow_args_and_no_cache(tmp: Path) -> None:
    config = cluster_config(
        tmp, enable_cache=False, beam=BeamConfig(extra_args=("--local_only_flag",)),
        cluster=dict(beam_runner="DataflowRunner", beam_args=("--project=p", "--region=europe-west4",
                                                               "--temp_location=gs://bucket/tmp")))
    compiled = compile_to(config, tmp / "dataflow.json")
    for name in BEAM_COMPONENTS:
        args = list(compiled.container(name).args)
        start = args.index("--runner=DataflowRunner")
        assert args[start:start + 4] == ["--runner=DataflowRunner", "--project=p", "--region=europe-west4",
                                         "--temp_location=gs://bucket/tmp"]
        assert "--local_only_flag" not in args
    assert not any(task.caching_options.enable_cache for task in compiled.tasks.values())


def test_vertex_trainer_worker_pools(vertex: Compiled, config: Config) -> None:
    trainer_args = list(vertex.container("Trainer").args)
    assert trainer_args[trainer_args.index("--executor_class_path") + 1] == \
        "tfx.extensions.google_cloud_ai_platform.trainer.executor.GenericExecutor"
    trainer_config = vertex.trainer_config()
    assert trainer_config["ai_platform_enable_vertex"] is True
    assert trainer_config["ai_platform_vertex_region"] == "europe-west4"
    job = trainer_config["ai_platform_training_args"]
    assert job["project"] == "my-project"
    machine = {"machine_type": "n1-standard-16", "accelerator_type": "NVIDIA_TESLA_T4", "accelerator_count": 1}
    assert job["job_spec"]["worker_pool_specs"] == [
        {"machine_spec": machine, "replica_count": 1, "container_spec": {"image_uri": IMAGE}},  # chief
        {"machine_spec": machine, "replica_count": 1, "container_spec": {"image_uri": IMAGE}},  # workers - 1
    ]
    assert trainer_config["config"]["training"]["workers"] == 2
    # The Trainer step only launches the CustomJob; Vertex picks machines by limits, no node selectors.
    launcher = vertex.container("Trainer").resources
    assert (launcher.cpu_limit, launcher.cpu_request, launcher.HasField("accelerator")) == (0.5, 0.0, False)
    assert "platformSpec" not in vertex.doc


def test_changed_config_changes_the_spec(tmp: Path, vertex: Compiled, kfp: Compiled) -> None:
    changed = cluster_config(
        tmp, training=TrainingConfig(workers=4),
        cluster=dict(image="registry.example.com/prodcat:2.0",
                     trainer_resources=Resources(cpu="8", memory="32G", gpus=2, gpu_type="nvidia-l4")))
    vertex4 = compile_to(changed, tmp / "vertex4.json", vertex=runner.VertexTraining("my-project", "europe-west4", "g2-standard-24"))
    pools = vertex4.trainer_config()["ai_platform_training_args"]["job_spec"]["worker_pool_specs"]
    assert [p["replica_count"] for p in pools] == [1, 3]
    assert {(p["machine_spec"]["machine_type"], p["machine_spec"]["accelerator_type"], p["machine_spec"]["accelerator_count"],
             p["container_spec"]["image_uri"]) for p in pools} == {("g2-standard-24", "NVIDIA_L4", 2, "registry.example.com/prodcat:2.0")}
    assert {c.image for c in vertex4.containers().values()} == {"registry.example.com/prodcat:2.0"}

    kfp4 = compile_to(changed, tmp / "kfp4.json")
    assert kfp4.container("Trainer").resources.accelerator.count == 2
    assert kfp4.trainer_config()["config"]["training"]["workers"] == 4
    assert kfp4.node_selectors() == {"Trainer_executor": {"cloud.google.com/gke-accelerator": "nvidia-l4"}}

    no_gpu = compile_to(cluster_config(tmp, cluster=dict(trainer_resources=Resources(cpu="4", memory="16G"))),
                        tmp / "nogpu.json")
    assert not no_gpu.container("Trainer").resources.HasField("accelerator")
    assert "platformSpec" not in no_gpu.doc
    assert kfp.container("Trainer").resources.accelerator.count == 1  # the fixture's spec, for contrast


def test_yaml_package_is_kfp_format(tmp: Path, config: Config, kfp: Compiled) -> None:
    path = runner.compile_pipeline(config, tmp / "pipeline.yaml", DATA, TAXONOMY)
    docs = list(yaml.safe_load_all(path.read_text()))
    assert len(docs) == 2
    spec = json_format.ParseDict(docs[0], pipeline_spec_pb2.PipelineSpec())
    platform = json_format.ParseDict(docs[1], pipeline_spec_pb2.PlatformSpec())
    assert spec == kfp.spec
    assert platform == kfp.platform
    package = runner.load_package(path)
    assert package.parameter_defaults()["data_root"] == DATA


@pytest.mark.parametrize("change, message", [
    (dict(cluster=dict(component_resources={"Trainr": Resources()})), "names no component"),
    (dict(pipeline_name="Prodcat_Demo"), "lower-case"),
    (dict(cluster=dict(default_resources=Resources(memory="4 GB"))), "memory"),
    (dict(cluster=dict(trainer_resources=Resources(gpus=1, gpu_type="amd.com/gpu"))), "Vertex needs a GPU model"),
])
def test_config_errors(tmp: Path, change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        runner.compile_pipeline(cluster_config(tmp, **change), tmp / "bad.json", DATA, TAXONOMY,
                                vertex=runner.VertexTraining("p", "r"))


def test_compile_command_stages_the_taxonomy(tmp: Path, tiny_google) -> None:  # noqa: ANN001
    taxonomy = tiny_google.save(tmp / "cmd" / "taxonomy.txt")
    data = tmp / "cmd" / "products"
    data.mkdir()
    (data / "products.jsonl").write_text("{}\n")
    config_file = tmp / "cmd" / "cluster.yaml"
    config_file.write_text(yaml.safe_dump({"pipeline_name": "prodcat-cmd", "output_dir": "out", "cluster": {
        "image": IMAGE, "pipeline_root": str(tmp / "cmd" / "root")}}))
    path = runner.compile_command(config_file, tmp / "cmd" / "p.json", str(data), str(taxonomy))
    compiled = Compiled(path)
    staged = compiled.trainer_config()["taxonomy_path"]
    digest = hashlib.sha256(tiny_google.to_google_text().encode()).hexdigest()[:16]
    assert staged == f"{tmp / 'cmd' / 'root'}/inputs/taxonomy/{digest}/taxonomy.txt"
    assert Path(staged).read_text() == tiny_google.to_google_text()
    assert compiled.spec.root.input_definitions.parameters["data_root"].default_value.string_value == str(data)

    config_file.write_text(yaml.safe_dump({"cluster": {"pipeline_root": "gs://bucket/root"}}))
    with pytest.raises(ValueError, match="local path"):
        runner.compile_command(config_file, tmp / "cmd" / "q.json", str(data), str(taxonomy))
