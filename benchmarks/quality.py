"""Categorization quality on real data, prodcat side by side with the systems users would pick instead.

    python -m benchmarks.quality --dataset mwpd|shopify|flipkart|myntra [--systems a,b,...] [--limit N]
        [--set section.key=value ...]

Trains every system on the training side of the dataset's split (`benchmarks/splits.py`), predicts
the evaluation side and prints one table, every figure measured in this one run:

- weighted F1 per level (each level a flat task over the products whose label reaches it, the
  MWPD convention; a missing level counts as wrong) and their mean;
- hierarchical precision / recall / F1 (Kiritchenko: the predicted and the true node each extended
  with their ancestors, micro-averaged over products);
- leaf accuracy (the predicted category is exactly the labelled one) and macro F1 over the
  labelled categories of the evaluation split;
- coverage at hierarchical precision 0.90: every system gives each product a confidence
  (defined per system in `benchmarks/peers.py`; prodcat's is below); a product keeps its
  (whole) prediction only when its confidence passes a threshold; the threshold is swept over
  all values and the largest coverage whose hierarchical precision is still >= 0.90 is reported
  ("-" when even the single most confident group of products falls short);
- training time (wall clock, summed over folds) and prediction throughput (evaluation products
  per second of prediction calls, model already loaded).

All of it is computed with `components.hierarchical_metrics.HierarchicalCounts`, the code the TFX
Evaluator uses, for every system alike. Systems read the same product text (`peers.TextSpec`).

prodcat runs the real pipeline (`benchmarks.prodcat_runner.train_and_predict`, default config,
component cache off). Its data is the training side, split as `prodcat run --data` splits it
(`split`: by shop when the products name enough shops) for early stopping and the Evaluator:
prodcat never sees the benchmark's evaluation products before predicting them. Each `--set`
changes one setting of that config (e.g. `--set model.seed=1` for another training); the settings
are printed with the table and kept in the results, so a variant's figures never pass for the
defaults'. Its main-table figures are the full greedy path (`full_depth=True`); its confidence is
the smallest per-level confidence along that path, i.e. the served model returns the whole path
exactly when every level passes a threshold equal to it. The operating point of its served,
thresholded predictions is printed below the table.

Results go to `<work>.json` (beside the work directory) and per-system predictions to
`<work>/predictions/`.

Modules, one job each: `run_context` (paths, machine, git state, versions, progress lines),
`quality_scoring` (the figures), `quality_systems` (training and predicting each system),
`quality_report` (tables and files); this module holds the command line.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

# Re-exported: benchmarks.ablation, benchmarks.scaling, benchmarks.splits and tests/ import them from here.
from .quality_report import (LEVEL1_PEERS, _true_paths, build_report, format_level1,  # noqa: F401
                             format_table, write_predictions)
from .quality_scoring import TARGET_PRECISION, coverage_at_precision, leaf_macro_f1, level1_breakdown, score  # noqa: F401
from .quality_systems import SystemRun, run_peer, run_prodcat  # noqa: F401
from .run_context import PACKAGES, REPO, SHARED, _log, git_state, machine, versions  # noqa: F401

PEER_SYSTEMS = ("tfidf-svm", "tfidf-lr", "hiclass", "fasttext", "zeroshot")
SYSTEMS = (*PEER_SYSTEMS, "prodcat")


def config_overrides(settings: Sequence[str]) -> dict:
    """`section.key=value` strings as the nested mapping `train_and_predict` lays over the config
    (values are YAML), checked against the config before any data is loaded."""
    from prodcat.config.settings import parse_settings

    try:
        return parse_settings(settings)
    except ValueError as err:
        raise ValueError(f"--set {err}") from None


# ----------------------------------------------------------------------------- main
def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """--dataset, --source and --taxonomy, as every real-data benchmark takes them."""
    parser.add_argument("--dataset", required=True, choices=("mwpd", "shopify", "flipkart", "myntra"))
    parser.add_argument("--source", help="dataset directory (default: ../shared/datasets/<the dataset's folder>)")
    parser.add_argument("--taxonomy", default=os.environ.get("PRODCAT_TAXONOMY") or str(SHARED / "taxonomy/google_product_taxonomy.en-US.txt"),
                        help="Google taxonomy file (shopify only; the other datasets bring their own tree)")


def comma_choices(parser: argparse.ArgumentParser, value: str, allowed: Sequence[str], kind: str) -> list[str]:
    """A comma-separated list of names, each one of `allowed` (else a usage error naming the unknown)."""
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in names if v not in allowed]
    if unknown:
        parser.error(f"unknown {kind}(s) {unknown}; choose from {', '.join(allowed)}")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_dataset_arguments(parser)
    parser.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated, from {', '.join(SYSTEMS)}")
    parser.add_argument("--limit", type=int, help="keep at most N training products per fold (deterministic subsample)")
    parser.add_argument("--work", help="work directory (default: outputs/bench_quality/<dataset>)")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="a prodcat config setting instead of its default, repeatable; VALUE is YAML, "
                             "e.g. --set model.seed=1 --set 'text.embedding_fields=[title, tags]'")
    args = parser.parse_args(argv)
    try:
        overrides = config_overrides(args.settings)
    except ValueError as err:
        parser.error(str(err))

    from . import splits
    from .peers import TextSpec

    systems = comma_choices(parser, args.systems, SYSTEMS, "system")
    work = Path(args.work or REPO / "outputs" / "bench_quality" / args.dataset).resolve()
    source = Path(args.source or SHARED / "datasets" / splits.SOURCES[args.dataset])
    started_at = datetime.datetime.now()
    machine_start = machine()
    data = splits.load(args.dataset, source, work, args.taxonomy, args.limit)
    text = TextSpec()
    n_train = sum(len(f.train) for f in data.folds)
    n_test = sum(len(f.test) for f in data.folds)
    _log(f"{args.dataset}: {len(data.folds)} fold(s), {n_train} training / {n_test} evaluation products "
         f"(summed over folds); split: {data.split}; text: {text.describe()}")

    runs = []
    for system in systems:
        run = SystemRun(system)
        _log(f"{system}: training")
        try:
            if system == "prodcat":
                run_prodcat(data, work, run, overrides=overrides)
            else:
                run_peer(system, data, text, run)
            write_predictions(run, data.taxonomy, work / "predictions" / f"{system}.jsonl")
        except Exception as err:  # noqa: BLE001  (one failing system must not lose the others' figures)
            traceback.print_exc()
            run.error = f"{type(err).__name__}: {err}"[:300]
        runs.append(run)

    report = build_report(data, runs)
    levels = sorted({int(k.rsplit("_", 1)[1]) for r in report["rows"] for k in r["metrics"] if k.startswith("weighted_f1_level_")})
    title = (f"Quality on {args.dataset} ({data.split}); {n_test} evaluation products; "
             f"text: {text.describe()}; prodcat config: {', '.join(args.settings) or 'defaults'}")
    table = format_table(report["rows"], levels)
    print(f"\n{title}\n")
    print(table)
    print("\nF1 Lk: weighted F1 at level k; mean: their mean; hP/hR/hF1: hierarchical (ancestor sets, micro); leaf: exact-category"
          " accuracy;\nmacro: macro F1 over the labelled categories; cov@.9: largest coverage with hP >= 0.90 under a"
          " confidence threshold;\ntrain s: training wall time (all folds); pred/s: evaluation products per second of prediction.")
    if report["prodcat_served"]:
        s = report["prodcat_served"]
        print(f"\nprodcat as served (its configured thresholds): coverage {s['coverage']:.3f}, hP {s['hierarchical_precision']:.3f}, "
              f"hR {s['hierarchical_recall']:.3f}, hF1 {s['hierarchical_f1']:.3f}, leaf accuracy {s['leaf_accuracy']:.3f}, "
              f"mean served depth {s['mean_served_depth']:.2f}")
    if report["level1"]:
        print(f"\nPer true level-1 category, prodcat vs {', '.join(report['level1']['peers'])} (best peer by hF1: "
              f"{report['level1']['best_peer']}): L1 F1 = F1 of that level-1 class; hF1 over the products labelled in it\n")
        print(format_level1(report["level1"]))
    finished_at = datetime.datetime.now()
    result = {
        "command": "python -m benchmarks.quality " + " ".join(argv if argv is not None else sys.argv[1:]),
        "dataset": args.dataset, "prodcat_settings": args.settings, "source": str(source), "split": data.split,
        "text": text.describe(),
        "folds": [{"name": f.name, "train": len(f.train), "eval": len(f.test)} for f in data.folds],
        "started": started_at.isoformat(timespec="seconds"), "finished": finished_at.isoformat(timespec="seconds"),
        "machine_at_start": machine_start, "load_average_at_end": machine()["load_average_1_5_15"],
        "versions": versions(), "git": git_state(), "import_report": {k: v for k, v in data.import_report.items()
                                                   if k not in ("unmapped_examples", "reject_examples")},
        "table": table, **report,
        "notes": {run.system: run.notes for run in runs if run.notes},
    }
    out = work.parent / f"{work.name}.json"
    out.write_text(json.dumps(result, indent=2, default=float))
    print(f"\nmachine: {machine_start['cpu']}, {machine_start['cores']} cores, load average at start "
          f"{machine_start['load_average_1_5_15']}, at end {result['load_average_at_end']}; "
          f"wall time {(finished_at - started_at).total_seconds():.0f} s; results: {out}")
    return 0 if not any(run.error for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
