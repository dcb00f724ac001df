"""`benchmarks.ablation`'s figures per variant and group, their means over seeds, and the printed table.

Every figure is `benchmarks.quality_scoring.score`'s, so a variant's row reads like a system's
row in `benchmarks.quality`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np  # noqa: E402

from .quality_report import _true_paths
from .quality_scoring import score


def scored(taxonomy, products: Sequence, paths, confidences, groups: dict) -> dict:  # noqa: ANN001
    truth = _true_paths(products, taxonomy)
    out = {"all": score(truth, paths, confidences, taxonomy.depth)}
    for name, member in groups.items():
        rows = [i for i, p in enumerate(products) if member(p)]
        if rows:
            out[name] = score([truth[i] for i in rows], [paths[i] for i in rows], [confidences[i] for i in rows],
                              taxonomy.depth)
    return out


def seed_means(rows: list[dict], seeds: Sequence[int]) -> list[dict]:
    """One row per `kind` of result in `rows` (greedy, beam, as served) over `seeds`: each figure's
    mean over the seeds, and its range in "spread" (what single trainings of one setting vary by)."""
    kinds: dict[str, list[dict]] = {}
    for row in rows:
        kinds.setdefault(row["kind"], []).append(row)
    out = []
    for kind, members in kinds.items():
        if len(members) != len(seeds):
            continue
        scores, spread = {}, {}
        for group in members[0]["scores"]:
            if not all(group in m["scores"] for m in members):
                continue
            figures = [m["scores"][group] for m in members]
            scores[group] = {k: float(np.mean([f[k] for f in figures])) for k in figures[0]
                             if isinstance(figures[0][k], (int, float))}
            spread[group] = {k: [float(min(f[k] for f in figures)), float(max(f[k] for f in figures))]
                             for k in ("mean_level_weighted_f1", "hierarchical_f1") if k in figures[0]}
        out.append({"variant": f"{kind}: mean of {len(seeds)} seeds", "epochs": "",
                    "train_seconds": float(np.mean([m["train_seconds"] for m in members])),
                    "scores": scores, "spread": spread})
    return out


def format_table(rows: list[dict], levels: list[int]) -> str:
    width = max([30, *(len(row["variant"]) + 2 for row in rows)])  # the longest name and a gap
    head = f"{'variant':<{width}}{'group':<14}{'n':>6}" + "".join(f"{'F1 L' + str(k):>7}" for k in levels) + \
        f"{'mean':>7}{'hP':>7}{'hR':>7}{'hF1':>7}{'leaf':>7}{'macro':>7}{'cov@.9':>7}{'epochs':>7}{'train s':>8}"
    lines = [head, "-" * len(head)]
    for row in rows:
        for group, m in row["scores"].items():
            f = lambda k: f"{m.get(k, float('nan')):>7.3f}"  # noqa: E731
            lines.append(
                f"{(row['variant'] if group == 'all' else ''):<{width}}{group:<14}{m['products']:>6}"
                + "".join(f(f"weighted_f1_level_{k}") for k in levels)
                + f("mean_level_weighted_f1") + f("hierarchical_precision") + f("hierarchical_recall")
                + f("hierarchical_f1") + f("leaf_accuracy") + f("leaf_macro_f1") + f("coverage_at_hp90")
                + (f"{row.get('epochs', ''):>7}{row.get('train_seconds', 0):>8.0f}" if group == "all" else ""))
    return "\n".join(lines)
