"""`benchmarks.quality`'s results as tables and files: rows per system and group, the served operating point.

Scores each `SystemRun` (`benchmarks.quality_scoring`), compares prodcat per level-1 category with
the strongest peers, prints the tables and writes every system's predictions as JSON lines, so a
run's figures can be read, and checked, without rerunning it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np  # noqa: E402

from prodcat.components.hierarchical_metrics import HierarchicalCounts  # noqa: E402
from prodcat.records import Product
from prodcat.taxonomy import Taxonomy  # noqa: E402

from .quality_scoring import level1_breakdown, score
from .quality_systems import SystemRun

LEVEL1_PEERS = ("zeroshot", "tfidf-svm")  # compared per level-1 category whenever they ran


# ----------------------------------------------------------------------------- reporting
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
