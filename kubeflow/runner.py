"""Compiles the prodcat pipeline for Kubeflow Pipelines (KFP v2) and Vertex AI Pipelines.

The DAG is the one `prodcat.pipeline.pipeline.create_pipeline` builds for the local runner, from
the same config; this module adds orchestration details only, and compiles with TFX's own
`KubeflowV2DagRunner` into a KFP v2 `PipelineSpec` (kfp-pipeline-spec protos, schema 2.1.0).

How each cluster setting reaches the spec, and why:

* **Image and entrypoint** — `KubeflowV2DagRunnerConfig(default_image=config.cluster.image)`. TFX
  writes the container `command` itself (`python -m
  tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor`; ExampleGen's driver runs as
  a `preCacheCheck` hook), so the image's ENTRYPOINT is not used by KFP (the Dockerfile keeps
  Beam's `/opt/apache/beam/boot` there, for Dataflow/Flink/Spark workers).
* **Schema 2.1** (`use_pipeline_spec_2_1=True`): typed `parameterType` inputs and `constant`
  values, which KFP 2.x backends read; Vertex reads both schemas.
* **CPU / memory / GPU** — TFX's API for per-component resources is `with_platform_config(
  ResourceSpec)`, which the V2 StepBuilder copies into the executor's `container.resources`.
  It does so for every component except `FileBasedExampleGen` (prodcat's ProductExampleGen):
  `StepBuilder._build_file_based_example_gen_spec` ignores `platform_config`. So the runner
  attaches the ResourceSpec to every component and then fills in, in the compiled PipelineSpec,
  the executors TFX left without one, and finally checks that every container executor carries
  exactly the resources the config asks for (a TFX upgrade that changes this fails loudly).
  Requests and limits are both set to the configured value (Guaranteed QoS). The accelerator
  type means different things to the two backends: KFP's driver uses it verbatim as the
  Kubernetes resource name of the limit (`nvidia.com/gpu`), Vertex reads it as a machine
  accelerator enum (`NVIDIA_TESLA_T4`). `Resources.gpu_type` is written the GKE way
  (`nvidia-tesla-t4`) and mapped per platform (see `accelerator()`).
* **Node selectors** — `ResourceSpec` has no field for them. KFP keeps Kubernetes-only settings
  in the `PlatformSpec` (`platforms.kubernetes.deploymentSpec.executors[<executor>].nodeSelector.
  labels`, exactly what `kfp-kubernetes`' `add_node_selector` writes), which a KFP package
  carries as a second YAML document. Vertex has no node selectors (it picks machines from the
  resources), so none are written for it.
* **Multi-worker training** — KFP 2.5 has no distributed-training primitive and TFX 1.16 has no
  TFJob launcher. The one multi-node launcher TFX ships that runs from a KFP v2 spec is the Vertex
  AI Training extension, so with `vertex=VertexTraining(...)` the Trainer runs as a Vertex
  CustomJob with `worker_pool_specs` = one chief + (`training.workers` - 1) workers, on the
  configured machine type and GPUs; Vertex writes TF_CONFIG and `trainer/distribution.py` picks
  MultiWorkerMirroredStrategy. On KFP standalone the Trainer is one pod (trainer_resources);
  `training.workers` > 1 runs that many MultiWorkerMirroredStrategy processes inside it (the same
  code path as locally) and several GPUs in the pod give MirroredStrategy.
* **Beam** — the data components' Beam args come from `config.cluster.beam_runner` and
  `beam_args` (the local `beam.extra_args` are not used on a cluster): the factory is called with
  a copy of the config whose `beam` section says so, so `create_pipeline` stays the one place
  the args are set.
* **Caching** — `config.enable_cache` becomes each task's `cachingOptions`; `submit` can
  override it per run.
* **Runtime parameters** (RuntimeParameter where the components accept one):
  `data_root` -> ExampleGen's `input_base`; `trainer_config` -> the Trainer's `custom_config`
  (JSON holding the prodcat config the Trainer trains with, so `model.epochs` and the
  `thresholds` confidence floors, which the Trainer bakes into the exported serving graph, can
  change per run; `submit` patches them from `model.epochs=...`-style keys). Not parameterizable
  in TFX 1.16 without recompiling: the Evaluator's blessing gates (`eval_config` takes no
  RuntimeParameter), the file pattern and split (ExampleGen's protos are built by the factory),
  the taxonomy (its path is in several components' configs), resources, image and worker counts
  (deployment config, constants in kfp-pipeline-spec 0.2.2).
* **Files the cluster must read** — the curated schema is a file in this checkout, and the
  taxonomy a local file; both are staged content-addressed under
  `<cluster.pipeline_root>/inputs/`, so every pod can read them and a changed file changes the
  cache key.

`create_pipeline` has no hooks for these, so three are set on the built pipeline before compiling
(never its nodes or edges): ImportSchemaGen's `schema_file` (the staged copy), the Trainer's
`custom_config` (the run parameter) and, for Vertex, the Trainer's executor (the extension's; the
same TrainerSpec, which is all `tfx.extensions.google_cloud_ai_platform.Trainer` changes).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prodcat.components.nodes import SCHEMA_GEN, TRAINER
from prodcat.config import BeamConfig, Config, Resources, load_config

_LOG = logging.getLogger(__name__)

DATA_ROOT_PARAM = "data_root"
TRAINER_CONFIG_PARAM = "trainer_config"
KFP_GPU_RESOURCE = "nvidia.com/gpu"
GKE_ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
KUBERNETES_PLATFORM = "kubernetes"
VERTEX_TRAINER_EXECUTOR = "tfx.extensions.google_cloud_ai_platform.trainer.executor.GenericExecutor"
_PIPELINE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")  # what TFX's V2 PipelineBuilder accepts
_MEMORY_UNITS = {"": 1e-9, "K": 1e3 / 1e9, "M": 1e6 / 1e9, "G": 1.0, "T": 1e12 / 1e9, "P": 1e15 / 1e9, "E": 1e18 / 1e9,
                 "Ki": 2**10 / 1e9, "Mi": 2**20 / 1e9, "Gi": 2**30 / 1e9, "Ti": 2**40 / 1e9, "Pi": 2**50 / 1e9,
                 "Ei": 2**60 / 1e9}


@dataclasses.dataclass(frozen=True)
class VertexTraining:
    """Compile for Vertex AI Pipelines, training through TFX's Vertex AI Training extension.

    The chief and every worker run on `machine_type` with `cluster.trainer_resources`' GPUs
    (`gpu_type` mapped to Vertex's enum); the image is `cluster.image`.
    """

    project: str
    region: str
    machine_type: str = "n1-standard-8"


# ------------------------------------------------------------------ resource conversion
def cpu_value(cpu: str) -> float:
    """Kubernetes CPU quantity ("2", "500m") in cores, as KFP's ResourceSpec wants it."""
    if not re.fullmatch(r"([0-9]*[.])?[0-9]+m?", cpu):
        raise ValueError(f"invalid CPU quantity {cpu!r}: use a number of cores or millicores like '500m'")
    return float(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)


def memory_value(memory: str) -> float:
    """Kubernetes memory quantity ("4G", "16Gi", "512Mi") in GB (10^9 bytes), as KFP's SDK does."""
    match = re.fullmatch(r"([0-9]+)(E|Ei|P|Pi|T|Ti|G|Gi|M|Mi|K|Ki)?", memory)
    if not match:
        raise ValueError(f"invalid memory quantity {memory!r}: use e.g. '4G', '16Gi', '512Mi'")
    return float(match.group(1)) * _MEMORY_UNITS[match.group(2) or ""]


def accelerator(resources: Resources, vertex: bool) -> tuple[str, int] | None:
    """(type, count) of the GPUs `resources` asks for, in the platform's vocabulary.

    KFP: the Kubernetes resource name of the limit (`gpu_type` verbatim if it has a '/', such as
    `amd.com/gpu`, else `nvidia.com/gpu`). Vertex: the accelerator enum (`nvidia-tesla-t4` ->
    `NVIDIA_TESLA_T4`).
    """
    if resources.gpus == 0:
        return None
    if vertex:
        if not resources.gpu_type or "/" in resources.gpu_type:
            raise ValueError(f"Vertex needs a GPU model in gpu_type (e.g. nvidia-tesla-t4), got {resources.gpu_type!r}")
        return resources.gpu_type.upper().replace("-", "_"), resources.gpus
    return (resources.gpu_type if "/" in resources.gpu_type else KFP_GPU_RESOURCE), resources.gpus


def node_selector(resources: Resources) -> dict[str, str]:
    """Node labels a KFP pod needs: the configured ones, plus GKE's accelerator label for a GPU model."""
    labels = dict(resources.node_selector)
    if resources.gpus and resources.gpu_type and "/" not in resources.gpu_type:
        labels.setdefault(GKE_ACCELERATOR_LABEL, resources.gpu_type)
    return labels


def resources_for(config: Config, component_id: str) -> Resources:
    """component_resources[id], else trainer_resources for the Trainer, else default_resources."""
    cluster = config.cluster
    if component_id in cluster.component_resources:
        return cluster.component_resources[component_id]
    if component_id == TRAINER:
        return cluster.trainer_resources
    return cluster.default_resources


def resource_spec(resources: Resources, vertex: bool):  # noqa: ANN201 (kfp proto)
    """KFP's ResourceSpec for `resources`: requests = limits on KFP, limits only on Vertex."""
    from kfp.pipeline_spec import pipeline_spec_pb2

    spec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec(
        cpu_limit=cpu_value(resources.cpu), memory_limit=memory_value(resources.memory))
    if not vertex:
        spec.cpu_request = spec.cpu_limit
        spec.memory_request = spec.memory_limit
    gpu = accelerator(resources, vertex)
    if gpu:
        spec.accelerator.type, spec.accelerator.count = gpu
    return spec


# ------------------------------------------------------------------ cluster config pieces
def cluster_beam(config: Config) -> BeamConfig:
    """The Beam section the data components run with on the cluster."""
    cluster = config.cluster
    if cluster.beam_runner != "DirectRunner":
        # The DirectRunner flags BeamConfig always emits are inert for other runners.
        return BeamConfig(extra_args=(f"--runner={cluster.beam_runner}", *cluster.beam_args))
    extra = ["--runner=DirectRunner"]
    if config.beam.direct_num_workers == 0:
        # BeamConfig.args() turns 0 into this machine's core count; 0 tells Beam to use the pod's.
        extra.append("--direct_num_workers=0")
    return BeamConfig(direct_running_mode=config.beam.direct_running_mode,
                      direct_num_workers=config.beam.direct_num_workers, extra_args=(*extra, *cluster.beam_args))


def cluster_roots(config: Config) -> tuple[str, str]:
    """(pipeline_root, serving_base) on the cluster; the local ones when not configured."""
    return (config.cluster.pipeline_root or str(config.pipeline_root),
            config.cluster.serving_base or str(config.serving_base))


def worker_pool_specs(config: Config, vertex: VertexTraining) -> list[dict[str, Any]]:
    """Vertex CustomJob pools: pool 0 is the chief (1 replica), pool 1 the other workers."""
    machine: dict[str, Any] = {"machine_type": vertex.machine_type}
    gpu = accelerator(resources_for(config, TRAINER), vertex=True)
    if gpu:
        machine["accelerator_type"], machine["accelerator_count"] = gpu
    pool = {"machine_spec": machine, "container_spec": {"image_uri": config.cluster.image}}
    pools = [{**pool, "replica_count": 1}]
    if config.training.workers > 1:
        pools.append({**copy.deepcopy(pool), "replica_count": config.training.workers - 1})
    return pools


def stage_file(content: bytes, root: str, kind: str, name: str) -> str:
    """Writes `content` to `<root>/inputs/<kind>/<sha>/<name>` (once) and returns that URI."""
    from tfx.dsl.io import fileio

    digest = hashlib.sha256(content).hexdigest()[:16]
    folder = f"{root.rstrip('/')}/inputs/{kind}/{digest}"
    path = f"{folder}/{name}"
    if not fileio.exists(path):
        fileio.makedirs(folder)
        with fileio.open(path, "wb") as handle:
            handle.write(content)
    return path


# ------------------------------------------------------------------ compile
def compile_pipeline(
    config: Config, output: Path, data_root: str, taxonomy_path: str, *,
    data_pattern: str = "*", vertex: VertexTraining | None = None,
) -> Path:
    """Compiles prodcat's pipeline into a KFP v2 package at `output`; returns `output`.

    `data_root`: a directory of product files the cluster can read (the default of the
    `data_root` run parameter); `taxonomy_path`: a staged taxonomy file the cluster can read (see
    `compile_command`). `vertex`: compile for Vertex AI Pipelines (Vertex training), else for KFP.

    `output` ending in `.json`: the PipelineJob JSON TFX writes (`pipelineSpec`, `runtimeConfig`),
    plus KFP's `platformSpec` when there are node selectors; Vertex reads it as is and `submit`
    converts it for KFP. Ending in `.yaml`/`.yml`: KFP's package format (PipelineSpec document,
    then the PlatformSpec document), for the KFP UI's "Upload pipeline".
    """
    from tfx.orchestration import data_types
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

    from prodcat.pipeline.pipeline import PipelineInputs, PipelineTarget, create_pipeline

    output = Path(output)
    if output.suffix not in (".json", ".yaml", ".yml"):
        raise ValueError(f"{output}: the compiled pipeline is written as .json or .yaml")
    if not _PIPELINE_NAME.fullmatch(config.pipeline_name):
        raise ValueError(f"pipeline_name {config.pipeline_name!r}: Kubeflow needs lower-case letters, digits and '-'")
    on_vertex = vertex is not None
    pipeline_root, serving_base = cluster_roots(config)
    cluster_config = config.model_copy(update={"beam": cluster_beam(config)})
    data_param = data_types.RuntimeParameter(
        name=DATA_ROOT_PARAM, ptype=str, default=data_root,
        description="directory of product files ExampleGen reads")
    pipeline = create_pipeline(
        cluster_config, PipelineInputs(data_param, data_pattern, taxonomy_path),  # type: ignore[arg-type]
        PipelineTarget(pipeline_root=pipeline_root, serving_base=serving_base, metadata=None),
    )
    nodes = {node.id: node for node in pipeline.components}
    unknown = set(config.cluster.component_resources) - set(nodes)
    if unknown:
        raise ValueError(f"cluster.component_resources names no component: {sorted(unknown)} (components: {sorted(nodes)})")

    _stage_schema(nodes, pipeline_root)
    trainer_param = _parameterize_trainer(nodes[TRAINER], config, vertex)
    expected = _attach_resources(nodes, config, on_vertex)

    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(default_image=config.cluster.image, use_pipeline_spec_2_1=True))
    defaults = {DATA_ROOT_PARAM: data_root, TRAINER_CONFIG_PARAM: trainer_param.default}
    job = runner.run(pipeline, parameter_values=defaults, write_out=False)
    job["pipelineSpec"], labels = _finish_spec(job["pipelineSpec"], config, expected, on_vertex, pipeline_root, {
        DATA_ROOT_PARAM: data_param, TRAINER_CONFIG_PARAM: trainer_param})
    platform = None if on_vertex else _platform_spec(expected, labels)
    if platform:
        job["platformSpec"] = platform
    write_package(job, output)
    return output


def _parameterize_trainer(trainer: Any, config: Config, vertex: VertexTraining | None) -> Any:
    """Makes the Trainer's custom_config the `trainer_config` run parameter (Vertex keys added)."""
    from tfx.orchestration import data_types

    custom_config = json.loads(trainer.exec_properties["custom_config"])
    if vertex is not None:
        custom_config.update(_vertex_trainer(trainer, config, vertex))
    param = data_types.RuntimeParameter(
        name=TRAINER_CONFIG_PARAM, ptype=str, default=json.dumps(custom_config, sort_keys=True),
        description="the Trainer's custom_config: prodcat's config (model.epochs, thresholds) and taxonomy path")
    trainer.exec_properties["custom_config"] = param
    return param


def _attach_resources(nodes: Mapping[str, Any], config: Config, on_vertex: bool) -> dict[str, Resources]:
    """with_platform_config(ResourceSpec) on every component; returns what each one should get.

    On Vertex the Trainer step only launches the CustomJob, so it gets default_resources; the
    Trainer's own resources shape the worker pools.
    """
    from tfx.dsl.components.base import base_component

    expected = {}
    for node_id, node in nodes.items():
        if not isinstance(node, base_component.BaseComponent):  # resolvers run no container
            continue
        wanted = resources_for(config, node_id)
        if on_vertex and wanted.node_selector:
            _LOG.warning("%s: Vertex has no node selectors; %s is not used", node_id, dict(wanted.node_selector))
        if on_vertex and node_id == TRAINER:
            wanted = config.cluster.default_resources
        expected[node_id] = wanted
        node.with_platform_config(resource_spec(wanted, on_vertex))
    return expected


def _stage_schema(nodes: Mapping[str, Any], pipeline_root: str) -> None:
    """Points ImportSchemaGen at a staged copy of the curated schema (the checkout's path is local)."""
    node = nodes.get(SCHEMA_GEN)
    if node is None:
        return
    source = node.exec_properties["schema_file"]
    with open(source, "rb") as handle:
        node.exec_properties["schema_file"] = stage_file(handle.read(), pipeline_root, "schema", Path(source).name)


def _vertex_trainer(trainer: Any, config: Config, vertex: VertexTraining) -> dict[str, Any]:
    """Runs the Trainer through TFX's Vertex AI Training extension; returns its custom_config keys."""
    from tfx.dsl.components.base import executor_spec
    from tfx.extensions.google_cloud_ai_platform import constants
    from tfx.extensions.google_cloud_ai_platform.trainer import executor as vertex_executor

    # Same TrainerSpec, other executor: exactly what tfx.extensions.google_cloud_ai_platform.Trainer is.
    trainer.executor_spec = executor_spec.ExecutorClassSpec(vertex_executor.GenericExecutor)
    return {
        constants.ENABLE_VERTEX_KEY: True,
        constants.VERTEX_REGION_KEY: vertex.region,
        vertex_executor.TRAINING_ARGS_KEY: {
            "project": vertex.project,
            "job_spec": {"worker_pool_specs": worker_pool_specs(config, vertex)},
        },
    }


def _finish_spec(spec_dict: dict, config: Config, expected: Mapping[str, Resources], on_vertex: bool,
                 pipeline_root: str, params: Mapping[str, Any]) -> tuple[dict, dict[str, str]]:
    """Fills in what TFX's compiler leaves out and checks every component's image and resources.

    Returns the PipelineSpec dict and each component's executor label.
    """
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    spec = json_format.ParseDict(spec_dict, pipeline_spec_pb2.PipelineSpec())
    spec.default_pipeline_root = pipeline_root
    for name, param in params.items():
        definition = spec.root.input_definitions.parameters[name]
        definition.default_value.string_value = param.default
        definition.is_optional = True
        definition.description = param.description
    # deployment_spec is a Struct; edit it as the typed message it holds.
    deployment = json_format.ParseDict(json_format.MessageToDict(spec.deployment_spec),
                                       pipeline_spec_pb2.PipelineDeploymentConfig())
    labels = {}
    for node_id, resources in expected.items():
        labels[node_id] = spec.components[spec.root.dag.tasks[node_id].component_ref.name].executor_label
        container = deployment.executors[labels[node_id]].container
        wanted = resource_spec(resources, on_vertex)
        if not container.HasField("resources"):  # FileBasedExampleGen: TFX drops its platform_config
            container.resources.CopyFrom(wanted)
        if container.resources != wanted or container.image != config.cluster.image:
            raise RuntimeError(f"the compiled executor of {node_id} lacks its image or resources; did TFX's compiler change?")
    spec.deployment_spec.Clear()
    spec.deployment_spec.update(json_format.MessageToDict(deployment))
    return json_format.MessageToDict(spec), labels


def _platform_spec(expected: Mapping[str, Resources], labels: Mapping[str, str]) -> dict | None:
    """KFP's PlatformSpec holding the node selectors, keyed by executor label."""
    executors = {labels[node_id]: {"nodeSelector": {"labels": selector}}
                 for node_id, resources in sorted(expected.items()) if (selector := node_selector(resources))}
    if not executors:
        return None
    return {"platforms": {KUBERNETES_PLATFORM: {"deploymentSpec": {"executors": executors}}}}


# ------------------------------------------------------------------ package files
@dataclasses.dataclass(frozen=True)
class CompiledPipeline:
    """A compiled package: KFP PipelineSpec, optional PlatformSpec, and TFX's runtime config."""

    pipeline_spec: dict
    platform_spec: dict | None = None
    runtime_config: dict = dataclasses.field(default_factory=dict)
    display_name: str = ""

    @property
    def name(self) -> str:
        return self.pipeline_spec["pipelineInfo"]["name"]

    @property
    def platform(self) -> str:
        """"vertex" when the Trainer runs through the Vertex training extension, else "kubeflow"."""
        executors = self.pipeline_spec.get("deploymentSpec", {}).get("executors", {})
        for executor in executors.values():
            if VERTEX_TRAINER_EXECUTOR in executor.get("container", {}).get("args", []):
                return "vertex"
        return "kubeflow"

    def parameter_defaults(self) -> dict[str, Any]:
        """Run parameters and their compiled defaults."""
        params = self.pipeline_spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
        return {name: spec.get("defaultValue") for name, spec in params.items()}

    def kfp_documents(self) -> list[dict]:
        """The documents of KFP's YAML package format."""
        return [self.pipeline_spec, *([self.platform_spec] if self.platform_spec else [])]

    def write_kfp_yaml(self, path: Path) -> Path:
        import yaml

        with open(path, "w", encoding="utf-8") as handle:
            handle.write(f"# PIPELINE DEFINITION\n# Name: {self.name}\n# Compiled by prodcat with TFX's KubeflowV2DagRunner.\n")
            yaml.safe_dump_all(self.kfp_documents(), handle, sort_keys=True)
        return path


def write_package(job: Mapping[str, Any], output: Path) -> None:
    """Writes TFX's PipelineJob dict (+ platformSpec) as JSON, or as KFP's YAML package."""
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix == ".json":
        output.write_text(json.dumps(job, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return
    CompiledPipeline(job["pipelineSpec"], job.get("platformSpec")).write_kfp_yaml(output)


def load_package(path: str | os.PathLike) -> CompiledPipeline:
    """Reads a package written by `compile_pipeline` (JSON or YAML) or by KFP's compiler (YAML)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        job = json.loads(text)
        if "pipelineSpec" not in job:  # a bare PipelineSpec
            return CompiledPipeline(job)
        return CompiledPipeline(job["pipelineSpec"], job.get("platformSpec"), job.get("runtimeConfig", {}),
                                job.get("displayName", ""))
    import yaml

    docs = [doc for doc in yaml.safe_load_all(text) if doc]
    if not docs:
        raise ValueError(f"{path}: no pipeline in the file")
    platform: dict = {}
    for doc in docs[1:]:
        platform.update(doc)
    return CompiledPipeline(docs[0], platform or None)


# ------------------------------------------------------------------ CLI entry
def split_data_uri(data: str) -> tuple[str, str]:
    """(directory, file pattern) for a directory or a single file, local or gs:// / s3://."""
    from tfx.dsl.io import fileio

    if data.endswith("/") or fileio.isdir(data):
        return data.rstrip("/") or "/", "*"
    head, _, tail = data.rpartition("/")
    return (head or "."), tail


def stage_taxonomy(source: str | None, pipeline_root: str) -> str:
    """Loads the taxonomy (path, URL, gs://, or prodcat's default) and stages it for the cluster."""
    from prodcat.taxonomy import Taxonomy, load_taxonomy

    if source and "://" in source and not source.startswith(("http://", "https://")):
        from tfx.dsl.io import fileio

        with fileio.open(source, "r") as handle:
            text = handle.read()
        taxonomy = Taxonomy.from_google_text(text.decode("utf-8") if isinstance(text, bytes) else text, source=source)
    else:
        taxonomy = load_taxonomy(source)
    return stage_file(taxonomy.to_google_text().encode("utf-8"), pipeline_root, "taxonomy", "taxonomy.txt")


def compile_command(
    config_path: str | os.PathLike | None, output: str | os.PathLike, data: str | None = None,
    taxonomy: str | None = None, *, vertex_project: str | None = None, vertex_region: str | None = None,
    vertex_machine_type: str | None = None,
) -> Path:
    """`prodcat compile kubeflow`: loads the config, stages the taxonomy, compiles; returns the file.

    `data` (default: the config's `data`) is a directory or file the cluster can read;
    `taxonomy` (default: the config's) is read here and staged under `cluster.pipeline_root`.
    With `vertex_project` and `vertex_region`, compiles for Vertex AI Pipelines.
    """
    config = load_config(config_path)
    data = data or config.data
    if not data:
        raise ValueError("no product data: pass --data gs://... or set `data:` in the config (demo data is local only)")
    pipeline_root, _ = cluster_roots(config)
    if "://" in pipeline_root and "://" not in data:
        raise ValueError(f"data {data!r} is a local path, but the pipeline runs on a cluster ({pipeline_root}); "
                         "upload it and pass its gs:// or s3:// URI")
    if bool(vertex_project) != bool(vertex_region):
        raise ValueError("Vertex needs both a project and a region")
    vertex = None
    if vertex_project:
        vertex = VertexTraining(vertex_project, vertex_region or "", **(
            {"machine_type": vertex_machine_type} if vertex_machine_type else {}))
    data_root, pattern = split_data_uri(data)
    taxonomy_path = stage_taxonomy(taxonomy or config.taxonomy, pipeline_root)
    return compile_pipeline(config, Path(output), data_root, taxonomy_path, data_pattern=pattern, vertex=vertex)
