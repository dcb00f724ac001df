"""Where and how each compiled step runs: resources, GPUs, node selectors, Beam/Dataflow args, caching, Vertex worker pools."""

from __future__ import annotations

from pathlib import Path

import pytest
from compile_fixtures import BEAM_COMPONENTS, IMAGE, Compiled, cluster_config, compile_to
from compile_fixtures import config, kfp, tmp, vertex  # noqa: F401 (fixtures)

from prodcat.config import BeamConfig, Config, Resources, TrainingConfig
from prodcat.kubeflow import runner


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
