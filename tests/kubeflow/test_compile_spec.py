"""The compiled KFP v2 spec is the local DAG: its tasks, image, run parameters, staged files, YAML form and the compile command."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from compile_fixtures import DATA, IMAGE, KFP_CMD, TAXONOMY, Compiled, cluster_config
from compile_fixtures import config, kfp, tmp  # noqa: F401 (fixtures)
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from prodcat.components import nodes
from prodcat.config import Config, Resources
from prodcat.kubeflow import runner


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
