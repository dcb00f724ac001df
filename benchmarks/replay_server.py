"""`prodcat serve` with the model call replaced by a replay: what the server costs without the model.

`python -m prodcat.benchmarks.replay_server FLAGS` takes `prodcat serve`'s flags. Each signature's first
call runs the real model on one row; every later call returns that row's outputs repeated once
per input row, without running TensorFlow. Everything else (gRPC, request decoding and checks,
batching, response encoding, metrics) is the real server's code, so a load test against it
measures the server's own cost per request, and its throughput is the ceiling any model, however
fast, could reach through this server on this machine. Answers are well-formed and wrong: for
benchmarks only (`prodcat bench serving --replay-model`).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np


def replay_model_calls() -> None:
    """Patches `Servable.run` (process-wide) to replay each signature's first answer."""
    from prodcat.serving import server

    real_run = server.Servable.run
    answers: dict[tuple[int, str], dict[str, np.ndarray]] = {}
    lock = threading.Lock()

    def replay(self: Any, signature: Any, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        key = (self.version, signature.name)
        with lock:
            first = answers.get(key)
        if first is None:
            first = real_run(self, signature, {name: array[:1] for name, array in arrays.items()})
            with lock:
                answers.setdefault(key, first)
        rows = len(next(iter(arrays.values())))
        return {name: np.repeat(value[:1], rows, axis=0) for name, value in first.items()}

    server.Servable.run = replay


def main(argv: Sequence[str] | None = None) -> int:
    replay_model_calls()
    from prodcat.serving.server import main as serve_main

    return serve_main(argv)


if __name__ == "__main__":
    sys.exit(main())
