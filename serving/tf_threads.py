"""How TensorFlow spreads a model call over the CPU cores, for batch prediction and the server.

Why it matters. TensorFlow's default runs one call at a time and splits each op over every core
(intra-op threads); every split op waits for its slowest thread. On a machine whose cores are
shared with other work (the usual case for a batch job on a shared node) one busy core then
stalls every op. `prodcat predict` instead runs one call per core, each op on one thread: equal
throughput on an idle 2-core machine, about 1.3x with one of the two cores busy elsewhere
(BENCHMARKS.md, "Batch prediction with parallel calls"). `prodcat serve` keeps
tensorflow_model_server's defaults (0: TensorFlow's choice) and offers its two flags.

TensorFlow fixes its thread pools when its runtime starts (the first op or model load), so these
settings must come before that; a process that already started TensorFlow keeps its pools, and
`configure_tensorflow_threads` says so in the log instead of failing.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def available_cpus() -> int:
    """Cores this process may run on (the container's CPU set, not the host's core count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - platforms without sched_getaffinity
        return max(1, os.cpu_count() or 1)


def configure_tensorflow_threads(intra_op: int, inter_op: int) -> bool:
    """Sets TensorFlow's intra-/inter-op pool sizes (0: TensorFlow's own choice, as in TF Serving).

    Returns whether they are in effect: False (and a warning) when the runtime already started
    with other sizes, e.g. a second server started inside one test process.
    """
    if intra_op < 0 or inter_op < 0:
        raise ValueError(f"thread counts must be >= 0 (0: TensorFlow's default), got intra-op {intra_op}, inter-op {inter_op}")
    import tensorflow as tf

    threading = tf.config.threading
    wanted = {"intra-op": (intra_op, threading.get_intra_op_parallelism_threads, threading.set_intra_op_parallelism_threads),
              "inter-op": (inter_op, threading.get_inter_op_parallelism_threads, threading.set_inter_op_parallelism_threads)}
    in_effect = True
    for name, (value, get, set_) in wanted.items():
        if get() == value:
            continue
        try:
            set_(value)
        except RuntimeError:  # "... cannot be modified after initialization"
            log.warning("TensorFlow already started in this process with %s parallelism %d; %d asked for stays unapplied",
                        name, get(), value)
            in_effect = False
    return in_effect
