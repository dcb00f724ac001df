"""Compiles prodcat's pipeline into a KFP v2 package with TFX's own `KubeflowV2DagRunner`.

The DAG is the one `create_pipeline` builds for the local runner. On the built pipeline only what
`create_pipeline` has no hooks for is set (the staged schema, the Trainer's run parameter and, for
Vertex, its executor, every component's ResourceSpec), never its nodes or edges, so the cluster
runs the same DAG; `prodcat.kubeflow.runner`'s docstring says how each cluster setting gets in.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prodcat.components.nodes import SCHEMA_GEN, TRAINER
from prodcat.config import Config, Resources
from prodcat.kubeflow.cluster import cluster_beam, cluster_roots, stage_file
from prodcat.kubeflow.package import write_package
from prodcat.kubeflow.postprocess import finish_spec, platform_spec
from prodcat.kubeflow.resources import resource_spec, resources_for
from prodcat.kubeflow.vertex import VertexTraining, vertex_trainer

_LOG = logging.getLogger(__name__)

DATA_ROOT_PARAM = "data_root"
TRAINER_CONFIG_PARAM = "trainer_config"
_PIPELINE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")  # what TFX's V2 PipelineBuilder accepts


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
    job["pipelineSpec"], labels = finish_spec(job["pipelineSpec"], config, expected, on_vertex, pipeline_root, {
        DATA_ROOT_PARAM: data_param, TRAINER_CONFIG_PARAM: trainer_param})
    platform = None if on_vertex else platform_spec(expected, labels)
    if platform:
        job["platformSpec"] = platform
    write_package(job, output)
    return output


def _parameterize_trainer(trainer: Any, config: Config, vertex: VertexTraining | None) -> Any:
    """Makes the Trainer's custom_config the `trainer_config` run parameter (Vertex keys added)."""
    from tfx.orchestration import data_types

    custom_config = json.loads(trainer.exec_properties["custom_config"])
    if vertex is not None:
        custom_config.update(vertex_trainer(trainer, config, vertex))
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
