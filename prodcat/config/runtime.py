"""Where and how the pipeline runs: Beam, serving name, distributed training, the cluster."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from prodcat.config.base import Section


class BeamConfig(Section):
    """Beam options for the data components (ExampleGen, StatisticsGen, Transform, Evaluator) of a local run."""

    runner: Literal["direct", "portable"] = Field(
        "direct", description="direct: Beam's DirectRunner inside the run's process; portable: Beam's PortableRunner "
        "against a local job service with SDK workers in separate processes (what Dataflow, Flink and Spark speak), "
        "started and stopped by the run")
    direct_running_mode: Literal["in_memory", "multi_threading", "multi_processing"] = Field(
        "in_memory", description="how the local DirectRunner runs the data components' work")
    direct_num_workers: int = Field(1, ge=0, description="0 means one per CPU core of the machine running it")
    extra_args: tuple[str, ...] = Field((), description="more Beam pipeline options, e.g. --direct_running_mode=...")

    def args(self) -> list[str]:
        """The Beam pipeline options. The portable runner's lack the addresses of the job service and the worker
        pool, which exist only while a run has them started: prodcat.pipeline.portable_beam adds them."""
        if self.runner == "portable":
            return [
                "--runner=PortableRunner",
                "--environment_type=EXTERNAL",
                # Beam would log the submitting venv's `pip freeze`; uv's venvs have no pip.
                "--experiments=disable_logging_submission_environment",
                *self.extra_args,
            ]
        return [
            f"--direct_running_mode={self.direct_running_mode}",
            f"--direct_num_workers={self.direct_num_workers}",
            *self.extra_args,
        ]


class ServingConfig(Section):
    """What the pushed model is served as."""

    model_name: str = Field("prodcat", description="the model's name in TF Serving's layout and requests")


class Resources(Section):
    """Kubernetes resource requests for one component's pod."""

    cpu: str = Field("1", description="CPU request, in Kubernetes units")
    memory: str = Field("4G", description="memory request, in Kubernetes units")
    gpus: int = Field(0, ge=0, description="GPUs requested")
    gpu_type: str = Field("", description="accelerator type, e.g. nvidia-tesla-t4 (empty: none)")
    node_selector: dict[str, str] = Field(default_factory=dict, description="node labels the pod must run on")


class TrainingConfig(Section):
    """How training is distributed and how it survives a lost worker.

    `workers` > 1 trains data-parallel with MultiWorkerMirroredStrategy: locally, the Trainer
    starts that many worker processes on 127.0.0.1; on a cluster, the runner asks the platform
    for that many replicas.

    The training state (weights, optimizer, epoch) is backed up to the run's `backup` folder
    (Keras BackupAndRestore) every `checkpoint_every`; a restarted training resumes from the last
    backup instead of from scratch. Under MultiWorkerMirroredStrategy a lost worker makes its peers
    fail too (TensorFlow's coordination service misses its heartbeats and aborts their collectives),
    so recovery means restarting every worker: the local cluster does that itself, up to
    `max_restarts` times; on a managed cluster the platform's restart policy does.
    """

    workers: int = Field(1, ge=1, description="training processes (data-parallel); 1: one process")
    checkpoint_every: Literal["epoch"] | Annotated[int, Field(ge=1)] = Field(
        "epoch", description="'epoch': back up the training state after each epoch; N: every N training "
        "steps (an epoch resumed mid-way runs its remaining steps on a fresh pass over the data)",
    )
    max_restarts: int = Field(
        2, ge=0, description="local multi-worker training: how often the whole cluster is restarted "
        "(resuming from the last backup) after a worker dies, before the Trainer fails",
    )
    collective_timeout_s: float = Field(
        0.0, ge=0.0, description="multi-worker: longest wait of one gradient exchange for a stuck (alive) peer; "
        "0: no limit; must exceed the longest lag between workers",
    )


class ClusterConfig(Section):
    """What a Kubeflow / Vertex run needs beyond the local run (same DAG, other paths)."""

    image: str = Field("prodcat:latest", description="the container image every component runs in")
    pipeline_root: str = Field("", description="gs:// or s3:// root for artifacts; empty: the local one")
    serving_base: str = Field("", description="model base path the Pusher writes on the cluster")
    beam_runner: Literal["DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner"] = Field(
        "DirectRunner", description="the Beam runner of the data components on the cluster")
    beam_args: tuple[str, ...] = Field((), description="Beam pipeline options on the cluster (beam.extra_args are not used)")
    default_resources: Resources = Field(Resources(), description="a component's pod resources unless named below")
    trainer_resources: Resources = Field(Resources(cpu="4", memory="16G"), description="the Trainer's pod resources")
    component_resources: dict[str, Resources] = Field(
        default_factory=dict, description="pod resources by component id, e.g. Transform")

