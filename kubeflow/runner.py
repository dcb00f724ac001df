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

The code, one job a module: `compiler` (`compile_pipeline`: build, edit, compile), `resources`
(CPU, memory, GPUs, node selectors in KFP's and Vertex's vocabulary), `cluster` (roots, Beam args,
staged files), `vertex` (the Trainer as a Vertex CustomJob), `postprocess` (finishing and checking
the compiled spec, the PlatformSpec), `package` (the package file, written and read) and `command`
(`prodcat compile kubeflow`). This module is the entry point and re-exports what callers use.
"""

from __future__ import annotations

from prodcat.kubeflow.cluster import cluster_beam, cluster_roots, stage_file, stage_taxonomy
from prodcat.kubeflow.command import compile_command, split_data_uri
from prodcat.kubeflow.compiler import DATA_ROOT_PARAM, TRAINER_CONFIG_PARAM, compile_pipeline
from prodcat.kubeflow.package import CompiledPipeline, load_package, write_package
from prodcat.kubeflow.postprocess import KUBERNETES_PLATFORM
from prodcat.kubeflow.resources import (
    GKE_ACCELERATOR_LABEL,
    KFP_GPU_RESOURCE,
    accelerator,
    cpu_value,
    memory_value,
    node_selector,
    resource_spec,
    resources_for,
)
from prodcat.kubeflow.vertex import VERTEX_TRAINER_EXECUTOR, VertexTraining, worker_pool_specs

# Every public name runner.py had before it was split, importable from here as before.
__all__ = [
    "DATA_ROOT_PARAM",
    "GKE_ACCELERATOR_LABEL",
    "KFP_GPU_RESOURCE",
    "KUBERNETES_PLATFORM",
    "TRAINER_CONFIG_PARAM",
    "VERTEX_TRAINER_EXECUTOR",
    "CompiledPipeline",
    "VertexTraining",
    "accelerator",
    "cluster_beam",
    "cluster_roots",
    "compile_command",
    "compile_pipeline",
    "cpu_value",
    "load_package",
    "memory_value",
    "node_selector",
    "resource_spec",
    "resources_for",
    "split_data_uri",
    "stage_file",
    "stage_taxonomy",
    "worker_pool_specs",
    "write_package",
]
