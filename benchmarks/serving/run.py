"""The benchmark end to end: start (or reach) the server, warm it up, run every phase, time batch around it.

The batch references are measured once before and once after the serving phases, while the
server is idle, so a drift of the shared machine during the run shows as a gap between them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .batch_references import prodcat_predict_timer, time_predictor
from .external_server import ExternalServer
from .load_generator import LoadGenerator, LoadSpec, serialized_requests
from .machine import MachineInfo
from .phases import measure_phase
from .products import load_products
from .results import ServingBenchmarkResult
from .server_process import MODEL_NAME, REPLAY_MODULE, SERVER_MODULE, ServerProcess


def run_serving_benchmark(
    model_base_path: str | os.PathLike,
    products_path: str | os.PathLike | None = None,
    *,
    n_products: int = 2000,
    requests: int = 1000,
    batch_requests: int = 200,
    concurrency: Sequence[int] = (1, 8, 32),
    batch_size: int = 64,
    predict_batch_size: int = 256,
    warmup_requests: int = 200,
    timeout_s: float = 60.0,
    server_args: Sequence[str] = (),
    replay_model: bool = False,
    target: str | None = None,
    server_pid: int | None = None,
    model_name: str = MODEL_NAME,
    log: Any = None,
) -> ServingBenchmarkResult:
    """Runs the whole benchmark (see the package docstring); `log(str)` reports progress.

    `target`: drive a server already running there (`ExternalServer`, e.g. tensorflow_model_server
    serving `model_base_path` as `model_name`) instead of starting `prodcat serve`."""
    if target and (replay_model or server_args):
        raise ValueError("--target drives a running server: --replay-model and --server-arg start one")
    log = log or (lambda message: None)
    machine = MachineInfo.now()
    from prodcat.serving.predict import resolve_model_dir

    model_dir = resolve_model_dir(model_base_path)  # fails early, with prodcat's message, if there is no model
    products, source = load_products(max(n_products, batch_size), products_path, model_base_path)
    with prodcat_predict_timer(model_dir, products, predict_batch_size) as predict_file:
        result = _run_with_server(model_base_path, products, source, machine, predict_file, requests=requests,
                                  batch_requests=batch_requests, concurrency=concurrency, batch_size=batch_size,
                                  predict_batch_size=predict_batch_size, warmup_requests=warmup_requests,
                                  timeout_s=timeout_s, server_args=server_args, replay_model=replay_model,
                                  target=target, server_pid=server_pid, model_name=model_name, log=log)
        if target and str(result.model_version) != Path(model_dir).name:
            log(f"WARNING: the server at {target} serves version {result.model_version}, `prodcat predict` ran "
                f"{model_dir}: the ratios compare different models")
        return result


def _run_with_server(
    model_base_path: str | os.PathLike, products: list, source: str, machine: MachineInfo, predict_file: Callable[[], Any], *,
    requests: int, batch_requests: int, concurrency: Sequence[int], batch_size: int, predict_batch_size: int,
    warmup_requests: int, timeout_s: float, server_args: Sequence[str], replay_model: bool, target: str | None,
    server_pid: int | None, model_name: str, log: Callable[[str], None],
) -> ServingBenchmarkResult:
    """The part with a server up: its RSS, the phases, and the in-process references before and after them."""
    from prodcat.serving.predict import Predictor
    from prodcat.serving.tf_threads import available_cpus

    module = REPLAY_MODULE if replay_model else SERVER_MODULE
    server_cm: ServerProcess | ExternalServer = (
        ExternalServer(target, model_name, server_pid) if target
        else ServerProcess(model_base_path, server_args, module=module, model_name=model_name))
    with server_cm as server, LoadGenerator() as loadgen:
        log(f"server pid {server.pid} on {server.target} ready in {server.startup_s:.1f} s"
            + (f" (log {server.log_path})" if isinstance(server, ServerProcess) else ""))
        rss_idle = server.rss_mib()
        singles = serialized_requests(server.target, products, 1, model_name)
        batches = serialized_requests(server.target, products, batch_size, model_name) if batch_requests > 0 else []

        started = time.perf_counter()
        predictor = Predictor(model_base_path, available_cpus())  # as `prodcat predict` runs it
        predictor_load_s = time.perf_counter() - started
        predict_before = time_predictor(predictor, products, predict_batch_size)
        log(f"batch predict (before): {predict_before.products_per_s:.1f} products/s")
        file_before = predict_file()
        log(f"prodcat predict (before): steady {file_before.steady_products_per_s:.1f} products/s")

        # global warm-up: both request sizes, some concurrency
        loadgen.run(LoadSpec(server.target, singles, warmup_requests, min(8, max(concurrency)), timeout_s))
        if batches:
            loadgen.run(LoadSpec(server.target, batches, max(2, warmup_requests // batch_size), 2, timeout_s))
        rss_warm = server.rss_mib()
        phases = [measure_phase(server, loadgen, singles, 1, c, requests, timeout_s, log) for c in concurrency]
        if batches:
            phases += [measure_phase(server, loadgen, batches, batch_size, c, batch_requests, timeout_s, log)
                       for c in concurrency]
        rss_end, rss_peak = server.rss_mib(), server.peak_rss_mib()
        predict_after = time_predictor(predictor, products, predict_batch_size)
        log(f"batch predict (after): {predict_after.products_per_s:.1f} products/s")
        file_after = predict_file()
        log(f"prodcat predict (after): steady {file_after.steady_products_per_s:.1f} products/s")
        command = server.command
        version, startup_s = server.version, server.startup_s
        workers = server.workers if isinstance(server, ServerProcess) else 1
    return ServingBenchmarkResult(
        machine.finish(), str(model_base_path), version, source, len(products), command, startup_s,
        rss_idle, rss_warm, rss_end, rss_peak, phases, predictor_load_s, predict_before, predict_after, file_before, file_after,
        workers,
    )
