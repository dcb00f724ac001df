"""Vertex AI: the Trainer runs as a multi-worker CustomJob through TFX's Vertex AI Training extension.

KFP 2.5 has no distributed-training primitive and TFX 1.16 no TFJob launcher; this extension is
the one multi-node launcher TFX ships that runs from a KFP v2 spec. The Trainer step then only
launches the CustomJob, whose worker pools carry the Trainer's machine and GPUs.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from prodcat.components.nodes import TRAINER
from prodcat.config import Config
from prodcat.kubeflow.resources import accelerator, resources_for

VERTEX_TRAINER_EXECUTOR = "tfx.extensions.google_cloud_ai_platform.trainer.executor.GenericExecutor"


@dataclasses.dataclass(frozen=True)
class VertexTraining:
    """Compile for Vertex AI Pipelines, training through TFX's Vertex AI Training extension.

    The chief and every worker run on `machine_type` with `cluster.trainer_resources`' GPUs
    (`gpu_type` mapped to Vertex's enum); the image is `cluster.image`.
    """

    project: str
    region: str
    machine_type: str = "n1-standard-8"


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


def vertex_trainer(trainer: Any, config: Config, vertex: VertexTraining) -> dict[str, Any]:
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
