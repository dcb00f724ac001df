"""Picks the tf.distribute strategy from the environment, so one training code path serves all.

Several workers in TF_CONFIG -> MultiWorkerMirroredStrategy (data-parallel across hosts);
several GPUs on one host -> MirroredStrategy; otherwise the default strategy.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf


def cluster_workers() -> int:
    """Number of workers (chief included) that TF_CONFIG names; 1 when unset."""
    spec = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
    return len(spec.get("worker", [])) + len(spec.get("chief", [])) or 1


def strategy_from_environment(collective_timeout_s: float = 0.0) -> tf.distribute.Strategy:
    """The strategy for this process; call it before any other TensorFlow operation.

    A dead worker does not leave the others waiting forever: MultiWorkerMirroredStrategy starts
    TensorFlow's coordination service (which replaces the strategy's own `check_health` thread),
    and its missed heartbeats (default timeout 10 s) abort the collectives of every survivor, which
    then fails with UnavailableError, whichever worker died, the service's leader (worker 0)
    included. `collective_timeout_s` > 0 also bounds each single exchange
    (CommunicationOptions.timeout_seconds), which catches a peer that is alive but stuck; TensorFlow
    holds one sleeping thread per exchange for that long, hence off by default.
    """
    if cluster_workers() > 1:
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=collective_timeout_s or None)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief() -> bool:
    """The worker that writes the exported model (task 0 of 'worker' when there is no chief)."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task", {})
    if not task:
        return True
    if "chief" in config.get("cluster", {}):
        return task.get("type") == "chief"
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0
