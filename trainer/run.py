"""TFX Trainer entry point (`run_fn`): trains the hierarchical model and exports the serving model.

TFX names this module's `run_fn` by import path (pipeline.py's `RUN_FN`), so it stays here, thin:
it only decides where training runs (local worker processes, each checked to end with the same
weights, or this process). The work itself, one job per module:
  - input_data.py: the transformed examples as datasets;
  - training.py: `train`, the network and the margin head;
  - training_job.py: `train_job`, train then export (what each local worker runs too);
  - job_outputs.py: assets, warm-up requests, weight digests.
A local worker imports `train_job` from here (local_cluster.py), so this module imports no TFX at
run time: `tfx` is for type checking only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prodcat.module_config import ModuleConfig
from prodcat.trainer import distribution
from prodcat.trainer.local_cluster import TrainingJob, run_local_cluster
from prodcat.trainer.training_job import train_job

# Re-exported: the names benchmarks, tests and tools import from here (`run.train`, `run.input_dataset`, ...).
from prodcat.trainer.input_data import input_dataset, tfrecord_dataset_factory, training_datasets  # noqa: F401
from prodcat.trainer.job_outputs import weights_digest  # noqa: F401
from prodcat.trainer.training import NOVELTY_SAMPLE_SIZE, NetworkBuilder, per_level_network, train  # noqa: F401
from prodcat.trainer.training_job import _label_vectors  # noqa: F401

if TYPE_CHECKING:  # a training worker need not import TFX's components (minutes of a restart on a busy host)
    from tfx import v1 as tfx


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """Called by the TFX Trainer: train on the transformed examples, export with signatures.

    With `training.workers` > 1 and no cluster in TF_CONFIG, training runs in that many local
    worker processes (data-parallel); otherwise in this process under the environment's strategy.
    """
    job = TrainingJob(
        train_files=list(fn_args.train_files), eval_files=list(fn_args.eval_files),
        transform_output=fn_args.transform_output, serving_model_dir=fn_args.serving_model_dir,
        model_run_dir=fn_args.model_run_dir, custom_config=dict(fn_args.custom_config or {}),
    )
    training = ModuleConfig.from_custom_config(job.custom_config).config.training
    workers = training.workers
    if workers > 1 and distribution.cluster_workers() == 1:
        digests = run_local_cluster(job, workers, max_restarts=training.max_restarts)
        if len({d["digest"] for d in digests}) != 1:
            raise RuntimeError(f"training workers disagree on the final weights: {digests}")
        return
    train_job(job, dataset_factory=fn_args.data_accessor.tf_dataset_factory)
