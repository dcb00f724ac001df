"""`prodcat bench serving` (and `python -m prodcat.benchmarks.serving`): flags, runs, report, exit status.

Each `--workers` count is a whole run of the benchmark against its own server, so counts compare
side by side; `--check` makes a missed target fail the command (for CI or a release check).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __doc__ as PACKAGE_DOC  # what the benchmark measures: its first line is --help's description
from .report import format_report, format_workers_comparison
from .run import run_serving_benchmark
from .server_process import MODEL_NAME


def _ints(text: str) -> list[int]:
    """`--concurrency` and `--workers`: comma-separated positive integers."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def build_arg_parser() -> argparse.ArgumentParser:
    """The flags of `prodcat bench serving`."""
    p = argparse.ArgumentParser(prog="prodcat bench serving", description=PACKAGE_DOC.splitlines()[0])
    p.add_argument("--model-base-path", required=True, help="model base path (numbered versions), e.g. OUTPUT/serving/prodcat")
    p.add_argument("--products", help="products file (default: the demo data next to the model, else prodcat.synth)")
    p.add_argument("--n-products", type=int, default=2000, help="distinct products used (default: %(default)s)")
    p.add_argument("--requests", type=int, default=1000, help="single-product requests per concurrency (default: %(default)s)")
    p.add_argument("--batch-requests", type=int, default=200,
                   help="batch requests per concurrency (default: %(default)s; 0: no batch phases)")
    p.add_argument("--batch-size", type=int, default=64, help="products per batch request (default: %(default)s)")
    p.add_argument("--concurrency", type=_ints, default=[1, 8, 32], help="comma-separated (default: 1,8,32)")
    p.add_argument("--predict-batch-size", type=int, default=256, help="Predictor.predict batch size (default: %(default)s)")
    p.add_argument("--warmup-requests", type=int, default=200, help="global warm-up requests (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=60.0, help="per-request deadline, seconds (default: %(default)s)")
    p.add_argument("--workers", type=_ints, default=[1], metavar="N[,N...]",
                   help="prodcat serve --workers: each count in turn, compared side by side (default: 1), e.g. 1,2")
    p.add_argument("--server-arg", action="append", default=[], metavar="FLAG",
                   help="extra flag for prodcat serve, repeatable, e.g. --server-arg=--max_batch_size=64")
    p.add_argument("--replay-model", action="store_true",
                   help="serve with benchmarks.replay_server (model calls replayed, no TensorFlow): the server's own "
                        "cost per request and the throughput ceiling it leaves any model")
    p.add_argument("--target", metavar="HOST:PORT",
                   help="drive a TF Serving-compatible server already running there (e.g. tensorflow_model_server "
                        "serving --model-base-path) instead of starting prodcat serve")
    p.add_argument("--server-pid", type=int, help="with --target: the server's process id on this machine, for its RSS and CPU")
    p.add_argument("--model-name", default=MODEL_NAME, help="model name the server serves (default: %(default)s)")
    p.add_argument("--json", help="also write the results as JSON here")
    p.add_argument("--check", action="store_true", help="exit with status 1 if a target is missed")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark once per `--workers` count; 0, 1 (a missed target with `--check`) or 2 (a usage or run error)."""
    args = build_arg_parser().parse_args(argv)
    if min(args.n_products, args.requests, args.batch_size, args.predict_batch_size) < 1 or args.batch_requests < 0:
        print("prodcat bench serving: sizes must be positive", file=sys.stderr)
        return 2
    from prodcat.serving.predict import ModelNotFoundError

    if (args.target or args.replay_model) and args.workers != [1]:
        print("prodcat bench serving: --workers starts prodcat serve's workers: not with --target (a running server) "
              "or --replay-model (one process)", file=sys.stderr)
        return 2
    results = []
    try:
        for workers in args.workers:
            results.append(run_serving_benchmark(
                args.model_base_path, args.products, n_products=args.n_products, requests=args.requests,
                batch_requests=args.batch_requests, concurrency=args.concurrency, batch_size=args.batch_size,
                predict_batch_size=args.predict_batch_size, warmup_requests=args.warmup_requests, timeout_s=args.timeout,
                server_args=[*args.server_arg, *([f"--workers={workers}"] if workers != 1 else [])],
                replay_model=args.replay_model, target=args.target, server_pid=args.server_pid,
                model_name=args.model_name, log=lambda m: print(f"  {m}", file=sys.stderr, flush=True),
            ))
    except (ModelNotFoundError, FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"prodcat bench serving: {err}", file=sys.stderr)
        return 2
    print("\n\n".join(format_report(result) for result in results))
    if len(results) > 1:
        print("\n" + format_workers_comparison(results))
    if args.json:
        payload = [r.to_json() for r in results] if len(results) > 1 else results[0].to_json()
        Path(args.json).write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    return 1 if args.check and any(ok is False for r in results for _, _, ok in r.targets()) else 0
