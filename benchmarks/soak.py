"""Reliability of `prodcat serve` under sustained load, with abusive requests mixed in.

    python -m benchmarks.soak --model-base-path DIR [--requests 20000] [--concurrency 32]
        [--abuse-every 100] [--max-request-bytes 1048576] [--products FILE] [--json OUT]

Starts `prodcat serve` as a separate process (with `--max_request_bytes`, default 1 MiB, so the
oversized request stays cheap to send) and, from a separate load generator process (see
benchmarks/serving/), sends `--requests` valid single-product requests at `--concurrency`, with
one abusive request after every `--abuse-every` valid ones, cycling through:

    oversized          a request larger than --max_request_bytes        -> RESOURCE_EXHAUSTED
    wrong_dtype        a serving_raw string input sent as DT_INT64      -> INVALID_ARGUMENT
    unknown_signature  model_spec.signature_name nobody exported        -> NOT_FOUND
    malformed_tensor   a [1] string tensor carrying 3 values            -> INVALID_ARGUMENT
    huge_shape         a [2^40] tensor with one value (expansion bomb)  -> INVALID_ARGUMENT
    ragged_batch       inputs with different batch sizes                -> INVALID_ARGUMENT
    garbage_bytes      bytes that are not a PredictRequest              -> INTERNAL (gRPC's own)

Reports failed valid requests (target 0), p50/p99, each abusive kind's status codes (clean: the
expected code, every time, within the deadline), the server's RSS after a warm-up and at the end
(growth target < 10%; also sampled every second during the soak), and that the server is still up
and serving afterwards. Exit status 1 when a target is missed.

Modules, one job each: `soak_requests` (the abusive requests and their expected codes),
`soak_results` (the figures, targets and report); this module runs the soak and holds the
command line.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


from .serving import (  # noqa: E402
    LoadGenerator,
    LoadSpec,
    MachineInfo,
    ServerProcess,
    check_response,
    load_products,
    percentile,
    serialized_requests,
)
# Re-exported: tests/ import them from here.
from .soak_requests import EXPECTED_CODES, abusive_requests
from .soak_results import TARGET_RSS_GROWTH, AbuseSummary, SoakResult, format_report  # noqa: F401


def run_soak(
    model_base_path: str | os.PathLike,
    products_path: str | os.PathLike | None = None,
    *,
    requests: int = 20000,
    concurrency: int = 32,
    abuse_every: int = 100,
    max_request_bytes: int = 1 << 20,
    n_products: int = 2000,
    warmup_requests: int = 1000,
    timeout_s: float = 60.0,
    server_args: Sequence[str] = (),
    log: Any = None,
) -> SoakResult:
    """Runs the soak (see the module docstring); `log(str)` reports progress."""
    log = log or (lambda message: None)
    machine = MachineInfo.now()
    from prodcat.serving.predict import resolve_model_dir

    resolve_model_dir(model_base_path)  # fails early, with prodcat's message, if there is no model
    products, source = load_products(n_products, products_path, model_base_path)
    args = [f"--max_request_bytes={max_request_bytes}", *server_args]
    with ServerProcess(model_base_path, args) as server, LoadGenerator() as loadgen:
        log(f"server pid {server.pid} on {server.target} ready in {server.startup_s:.1f} s (log {server.log_path})")
        rss_idle = server.rss_mib()
        valid = serialized_requests(server.target, products, 1)
        abusive = abusive_requests(valid[0], max_request_bytes)
        loadgen.run(LoadSpec(server.target, valid, warmup_requests, concurrency, timeout_s))
        rss_warm = server.rss_mib()
        log(f"after {warmup_requests} warm-up requests: RSS {rss_warm:.0f} MiB")

        samples: list[tuple[float, float]] = []
        stop = threading.Event()
        started = time.monotonic()

        def sample() -> None:
            while not stop.wait(1.0):
                samples.append((time.monotonic() - started, server.rss_mib()))

        sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
        sampler.start()
        metrics0, cpu0 = server.metrics(), server.cpu_seconds()
        try:
            result = loadgen.run(LoadSpec(server.target, valid, requests, concurrency, timeout_s, abusive, abuse_every))
        finally:
            stop.set()
            sampler.join()
        cpu, metrics1 = server.cpu_seconds() - cpu0, server.metrics()
        rss_end = server.rss_mib()
        alive, available = server.alive(), server.available()
        valid_after = "server not running"
        if alive:
            after = loadgen.run(LoadSpec(server.target, valid[:1], 1, 1, timeout_s))
            valid_after = check_response(after.first_response, 1) if not after.errors else f"failed: {after.error_samples}"
        by_code = {k[len("requests_"):]: metrics1.get(k, 0.0) - metrics0.get(k, 0.0) for k in metrics1 if k.startswith("requests_")}
        version = server.version
    grouped: dict[str, list] = collections.defaultdict(list)
    for outcome in result.abuse:
        grouped[outcome.kind].append(outcome)
    abuse = []
    for kind, expected in EXPECTED_CODES.items():
        outcomes = grouped.get(kind, [])
        codes = dict(collections.Counter(o.code for o in outcomes))
        example = next((f"{o.code}: {o.details}" for o in outcomes), "")
        abuse.append(AbuseSummary(kind, expected, len(outcomes), codes,
                                  max((o.latency_s for o in outcomes), default=float("nan")) * 1e3, example[:160]))
    lat = result.latencies_s
    rss_values = [v for _, v in samples] + [rss_warm, rss_end]
    return SoakResult(
        machine.finish(), str(model_base_path), version, source, requests, concurrency, max_request_bytes, result.wall_s,
        result.n_ok, result.errors, result.error_samples, percentile(lat, 50) * 1e3, percentile(lat, 99) * 1e3,
        (max(lat) if lat else float("nan")) * 1e3, result.n_ok / result.wall_s, cpu, result.client_cpu_s,
        rss_idle, rss_warm, rss_end, min(rss_values), max(rss_values), samples, abuse, alive, available, valid_after, by_code,
    )


def build_arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="prodcat bench soak", description=__doc__.splitlines()[0])
    p.add_argument("--model-base-path", required=True, help="model base path (numbered versions)")
    p.add_argument("--products", help="products file (default: the demo data next to the model, else prodcat.synth)")
    p.add_argument("--requests", type=int, default=20000, help="valid requests (default: %(default)s)")
    p.add_argument("--concurrency", type=int, default=32, help="concurrent requests (default: %(default)s)")
    p.add_argument("--abuse-every", type=int, default=100,
                   help="one abusive request after every N valid ones (default: %(default)s; 0: none)")
    p.add_argument("--max-request-bytes", type=int, default=1 << 20,
                   help="the server's --max_request_bytes; the oversized request is twice this (default: %(default)s)")
    p.add_argument("--n-products", type=int, default=2000, help="distinct products cycled through (default: %(default)s)")
    p.add_argument("--warmup-requests", type=int, default=1000, help="requests before the warm RSS reading (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=60.0, help="per-request deadline, seconds (default: %(default)s)")
    p.add_argument("--server-arg", action="append", default=[], metavar="FLAG", help="extra flag for prodcat serve, repeatable")
    p.add_argument("--json", help="also write the results as JSON here")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_arg_parser().parse_args(argv)
    if min(args.requests, args.concurrency, args.n_products) < 1 or args.abuse_every < 0 or args.warmup_requests < 0:
        print("prodcat bench soak: sizes must be positive", file=sys.stderr)
        return 2
    from prodcat.serving.predict import ModelNotFoundError

    try:
        result = run_soak(
            args.model_base_path, args.products, requests=args.requests, concurrency=args.concurrency,
            abuse_every=args.abuse_every, max_request_bytes=args.max_request_bytes, n_products=args.n_products,
            warmup_requests=args.warmup_requests, timeout_s=args.timeout, server_args=args.server_arg,
            log=lambda m: print(f"  {m}", file=sys.stderr, flush=True),
        )
    except (ModelNotFoundError, FileNotFoundError) as err:
        print(f"prodcat bench soak: {err}", file=sys.stderr)
        return 2
    print(format_report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result.to_json(), indent=2, default=str) + "\n", encoding="utf-8")
    return 0 if all(ok for _, _, ok in result.targets()) else 1


if __name__ == "__main__":
    from benchmarks.soak import main as _main  # the importable module, so the load generator can unpickle its types

    sys.exit(_main())
