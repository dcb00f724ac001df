"""A component's CPU, memory, GPUs and node selectors, in the vocabulary of KFP or of Vertex.

The config writes resources the Kubernetes way ("500m", "16Gi", `nvidia-tesla-t4`); KFP's
ResourceSpec wants cores and GB, and the two backends read the accelerator type differently (see
`accelerator`), so the conversion lives in one place that the compiler and the spec check share.
"""

from __future__ import annotations

import re

from prodcat.components.nodes import TRAINER
from prodcat.config import Config, Resources

KFP_GPU_RESOURCE = "nvidia.com/gpu"
GKE_ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
_MEMORY_UNITS = {"": 1e-9, "K": 1e3 / 1e9, "M": 1e6 / 1e9, "G": 1.0, "T": 1e12 / 1e9, "P": 1e15 / 1e9, "E": 1e18 / 1e9,
                 "Ki": 2**10 / 1e9, "Mi": 2**20 / 1e9, "Gi": 2**30 / 1e9, "Ti": 2**40 / 1e9, "Pi": 2**50 / 1e9,
                 "Ei": 2**60 / 1e9}


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
