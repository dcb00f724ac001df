"""How the local pipeline's wall time grows with the catalogue, per component.

    python -m benchmarks.scaling [--sizes 10000,50000,200000] [--workers 1,2,portable] [--multi-worker-sizes 50000]
        [--epochs 2] [--work DIR]

For each size, generated products (`prodcat.synth`, the demo's generator: multilingual titles,
shops, Google taxonomy categories) go through the whole pipeline (`prodcat run`, cache off), once
per Beam setting: `--workers 1` is the DirectRunner in memory, `--workers N` (N > 1) the
DirectRunner in `multi_processing` mode with N worker processes (at every size, or only at the
`--multi-worker-sizes`, so the largest catalogue need not run twice); `--workers portable` is Beam's
PortableRunner against a local job service with one SDK worker process (`beam.runner: portable`, at
every size). Each component's wall time is read
back from ML Metadata (the run summary). Training runs a fixed number of epochs (no early stop),
so its time measures the data, not when a model happens to converge.

Printed: a table of seconds per component and size, and each component's growth exponent between
consecutive sizes (log time ratio / log size ratio: 1.0 is linear, above 1.1 super-linear).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

from prodcat.components import nodes

from .quality import REPO, SHARED, git_state, machine, versions

COMPONENTS = tuple(n for n in nodes.PIPELINE_ORDER if n != nodes.THRESHOLD_TUNER)


def run_once(size: int, workers: int | str, epochs: int, taxonomy: str, work: Path) -> dict:
    """One pipeline run on `size` generated products; seconds per component and in total."""
    from prodcat.config import Config
    from prodcat.pipeline import local_runner
    from prodcat.reporting.summary import latest_run_summary

    out = work / f"n{size}-w{workers}"
    if out.exists():
        shutil.rmtree(out)
    if workers == "portable":
        beam = {"runner": "portable"}
    else:
        beam = ({"direct_running_mode": "in_memory", "direct_num_workers": 1} if workers <= 1
                else {"direct_running_mode": "multi_processing", "direct_num_workers": workers})
    config = Config.model_validate({
        "pipeline_name": f"scaling-{size}-{workers}", "taxonomy": taxonomy, "output_dir": str(out),
        "enable_cache": False,
        "demo": {"n_products": size, "n_categories": 200, "n_shops": max(12, size // 500), "images": False, "seed": 0},
        "model": {"epochs": epochs, "early_stopping_patience": epochs},
        "evaluation": {"min_hierarchical_f1": 0.0, "min_coverage": 0.0, "max_f1_regression": 1.0},
        "beam": beam,
    })
    started = time.time()
    local_runner.run(local_runner.prepare(config))
    wall = time.time() - started
    summary = latest_run_summary(config.metadata_path)
    seconds = {c.node_id: c.seconds for c in summary.components}
    return {"size": size, "workers": workers, "wall_seconds": wall, "components": seconds}


def planned_runs(sizes: list[int], workers: list[int | str], multi_worker_sizes: set[int]) -> list[tuple[int, int | str]]:
    """(size, Beam setting) in run order: every size in memory and portable, multi-worker settings only where asked."""
    return [(size, w) for size in sizes for w in workers if w == "portable" or w <= 1 or size in multi_worker_sizes]


def growth(rows: list[dict], workers: int) -> dict[str, list[float]]:
    """Per component, the exponent b of time ~ size^b between consecutive sizes."""
    runs = sorted((r for r in rows if r["workers"] == workers), key=lambda r: r["size"])
    out: dict[str, list[float]] = {}
    for name in (*COMPONENTS, "total"):
        exponents = []
        for a, b in zip(runs, runs[1:]):
            ta = a["wall_seconds"] if name == "total" else a["components"].get(name)
            tb = b["wall_seconds"] if name == "total" else b["components"].get(name)
            if ta and tb and ta > 0 and tb > 0:
                exponents.append(math.log(tb / ta) / math.log(b["size"] / a["size"]))
        out[name] = exponents
    return out


def format_table(rows: list[dict]) -> str:
    keys = sorted(dict.fromkeys((r["size"], r["workers"]) for r in rows), key=lambda key: key[0])  # run order per size
    head = f"{'component':<20}" + "".join(f"{f'{s:,} w{w}':>16}" for s, w in keys)
    lines = [head, "-" * len(head)]
    by_key = {(r["size"], r["workers"]): r for r in rows}
    for name in (*COMPONENTS, "total"):
        cells = []
        for key in keys:
            r = by_key[key]
            value = r["wall_seconds"] if name == "total" else r["components"].get(name)
            cells.append(f"{value:>15.1f}s" if value is not None else f"{'-':>16}")
        lines.append(f"{name:<20}" + "".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,50000,200000")
    parser.add_argument("--workers", default="1,2", help="Beam settings: 1 = in memory; N > 1 = multi_processing with N "
                        "workers; portable = the PortableRunner (local job service, SDK worker processes)")
    parser.add_argument("--multi-worker-sizes", default="",
                        help="sizes at which the multi-worker settings also run (default: every size)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--taxonomy", default=os.environ.get("PRODCAT_TAXONOMY") or str(SHARED / "taxonomy/google_product_taxonomy.en-US.txt"))
    parser.add_argument("--work", help="work directory (default: outputs/bench_scaling)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    workers = [w.strip() if w.strip() == "portable" else int(w) for w in args.workers.split(",") if w.strip()]
    multi_sizes = {int(s) for s in args.multi_worker_sizes.split(",") if s.strip()} or set(sizes)
    work = Path(args.work or REPO / "outputs" / "bench_scaling").resolve()
    work.mkdir(parents=True, exist_ok=True)
    started_at, machine_start = datetime.datetime.now(), machine()
    rows = []
    for size, w in planned_runs(sizes, workers, multi_sizes):
        rows.append(run_once(size, w, args.epochs, args.taxonomy, work))
        print(f"{size:,} products, Beam workers {w}: {rows[-1]['wall_seconds']:.0f} s", flush=True)
    table = format_table(rows)
    print(f"\nPipeline wall time per component (seconds), generated products, {args.epochs} training epochs\n\n{table}")
    exponents = {w: growth(rows, w) for w in workers}
    if len(sizes) > 1:
        print("\nGrowth exponent between consecutive sizes (1.0 = linear)")
        for w, per in exponents.items():
            print(f"  Beam workers {w}: " + ", ".join(
                f"{name} {'/'.join(f'{e:.2f}' for e in values)}" for name, values in per.items() if values))
    if len(workers) > 1:
        print("\nTransform speed-up over 1 worker: " + ", ".join(
            f"{r['size']:,} products, {r['workers']} workers: "
            f"{next(b for b in rows if b['size'] == r['size'] and b['workers'] == workers[0])['components'].get('Transform', 0) / max(r['components'].get('Transform', 1e-9), 1e-9):.2f}x"
            for r in rows if r["workers"] != workers[0]))
    finished_at = datetime.datetime.now()
    out = work.parent / f"{work.name}.json"
    out.write_text(json.dumps({
        "command": "python -m benchmarks.scaling " + " ".join(argv if argv is not None else sys.argv[1:]),
        "started": started_at.isoformat(timespec="seconds"), "finished": finished_at.isoformat(timespec="seconds"),
        "machine_at_start": machine_start, "load_average_at_end": machine()["load_average_1_5_15"],
        "versions": versions(), "git": git_state(), "rows": rows, "growth_exponents": exponents, "table": table,
    }, indent=2))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
