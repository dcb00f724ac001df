"""Online serving latency and throughput of `prodcat serve`, against batch prediction, in one run.

    python -m benchmarks.serving --model-base-path DIR [--products FILE] [--requests 1000]
        [--batch-requests 200] [--concurrency 1,8,32] [--batch-size 64] [--workers 1,2] [--json OUT]

`--workers 1,2` runs the whole benchmark for `prodcat serve --workers 1`, then `--workers 2`, and
prints them side by side.

Starts `prodcat serve` (`python -m prodcat.serving.server`) as a separate process on a free port
and drives it from a second separate process, the load generator: one thread and one gRPC
connection per concurrent client, sending pre-serialized PredictRequests (`serving_raw`, built here with
`PredictionClient.build_request`, so exactly what the client sends) through a raw-bytes stub. The
generator imports neither TensorFlow nor protobuf messages, so its own CPU use stays small; the
table shows it next to the server's (CPU seconds per wall second, i.e. cores busy).

Phases: single-product requests at each concurrency, then `--batch-size`-product requests at each
concurrency; each phase after its own short warm-up (one request per worker, not counted). For
each: p50/p95/p99 latency, requests/s, products/s, errors by gRPC code and how the server's batcher
merged requests (from its Prometheus metrics). Server RSS (VmRSS of /proc/<pid>/status) is read
with the model loaded and idle, after a global warm-up, and after the run.

On the same products, while the server is idle, once before and once after the serving phases:
`prodcat predict` (`predict_file` on the products written as JSONL; its steady-state rate after the
first batch, as `prodcat bench batch` measures it) and, in this (the benchmark's) process,
`Predictor.predict` with the model already loaded, in batches of `--predict-batch-size`, one call
per core at once as `prodcat predict` runs them (so this process's TensorFlow has `prodcat
predict`'s thread settings). The target
ratio is "serving products/s at the top concurrency / `prodcat predict` products/s" (the mean of
before and after); the ratio to Predictor.predict (no file I/O) is printed beside it. The machine
is shared: only ratios measured here, side by side, are comparable across runs; absolute figures
come with the machine and its load average.

`--target HOST:PORT` drives a TF Serving-compatible server that is already running instead (e.g.
`tensorflow_model_server --model_base_path=DIR`, where the binary is installed), so the C++
server's figures sit beside `prodcat predict` on the same machine; `--server-pid` lets the
benchmark read that server's RSS and CPU.

Products: `--products FILE`, else the demo data next to the model (`<output>/demo_data/*/
products.jsonl` of `prodcat run --output <output>`), else generated with prodcat.synth over
$PRODCAT_TAXONOMY.

Modules, one job each: machine (what it ran on), process_figures (RSS and CPU from /proc),
products (what is sent), server_process / external_server (the server under test),
load_generator (the process that sends the requests), batch_references (`prodcat predict` and
Predictor.predict on the same products), phases (one load phase and its figures), results (the
whole run, its ratios and targets), run (the benchmark end to end), report (the printed tables),
cli (`prodcat bench serving`). The server process, load generator, machine info and product
loading are shared with benchmarks/soak.py and benchmarks/batch.py, which import them from here.

Nothing this package imports at load time pulls in TensorFlow, grpc or prodcat: the load
generator process imports it and must stay light. Heavy imports happen inside the functions
that need them.
"""

from __future__ import annotations

# What callers import from here: prodcat.cli (`main`), benchmarks/soak.py, benchmarks/batch.py, tests/.
from .cli import main
from .external_server import ExternalServer
from .load_generator import LoadGenerator, LoadSpec, check_response, run_load, serialized_requests
from .machine import MachineInfo
from .phases import percentile
from .products import load_products
from .report import format_report
from .run import run_serving_benchmark
from .server_process import REPLAY_MODULE, ServerProcess, free_port

__all__ = [
    "REPLAY_MODULE", "ExternalServer", "LoadGenerator", "LoadSpec", "MachineInfo", "ServerProcess",
    "check_response", "format_report", "free_port", "load_products", "main", "percentile", "run_load",
    "run_serving_benchmark", "serialized_requests",
]
