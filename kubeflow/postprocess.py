"""Finishes TFX's compiled PipelineSpec and builds KFP's PlatformSpec for the node selectors.

TFX's compiler leaves out the pipeline root, the run parameters' defaults and descriptions and
FileBasedExampleGen's resources, and has no place for node selectors, so they are written into
the compiled spec here. Every executor's image and resources are then checked against the config,
so a TFX upgrade that changes what the compiler writes fails loudly instead of mis-sizing pods.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prodcat.config import Config, Resources
from prodcat.kubeflow.resources import node_selector, resource_spec

KUBERNETES_PLATFORM = "kubernetes"


def finish_spec(spec_dict: dict, config: Config, expected: Mapping[str, Resources], on_vertex: bool,
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


def platform_spec(expected: Mapping[str, Resources], labels: Mapping[str, str]) -> dict | None:
    """KFP's PlatformSpec holding the node selectors, keyed by executor label."""
    executors = {labels[node_id]: {"nodeSelector": {"labels": selector}}
                 for node_id, resources in sorted(expected.items()) if (selector := node_selector(resources))}
    if not executors:
        return None
    return {"platforms": {KUBERNETES_PLATFORM: {"deploymentSpec": {"executors": executors}}}}
