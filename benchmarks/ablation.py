"""Model ablations: which parts of prodcat's model earn their place, measured on real data.

    python -m benchmarks.ablation --dataset mwpd|shopify [--fold N] [--variants a,b,...] [--seeds 0,1,2] [--work DIR]

1. The real pipeline (default config) runs once on the fold's training side, with the same dev
   split as `benchmarks.quality`; its served model gives the "pipeline" row.
2. Every variant is then trained by the Trainer's own `train` on that run's transformed
   examples. The Transform graph does not depend on the model variant (hashing, the frozen
   encoder, label tables; token idf and class weights are computed by the trainer from the
   training data), so each variant differs from the default in exactly one model setting (the
   flat leaf classifier in its network, which `benchmarks.flat_classifier` builds).
3. The evaluation products go through the same Transform graph, each variant predicts them, and
   the serving graph's decoder turns the level probabilities into paths (greedy, thresholds off,
   so variants compare as models; the "beam" row decodes the default model's probabilities with
   beam search, the served default, instead; the "pipeline" row is the served model itself).
4. With several `--seeds`, every variant is trained once per seed and a "mean of N seeds" row
   follows its rows, with each figure's range over the seeds in the JSON: single trainings of
   one setting differ by about a point of mean F1, so a variant's gain is only real beyond that.

Figures are `benchmarks.quality.score`'s: weighted F1 per level and their mean, hierarchical
P/R/F1, leaf accuracy, macro F1 and coverage at hierarchical precision 0.90, for all evaluation
products and for the groups of the dataset (English / non-English; products whose category the
training side never has). Shopify uses one of the shop-disjoint folds (`--fold`, default 3), so
every evaluation product comes from a shop the model never saw.

Modules, one job each: `ablation_decoding` (products to paths, as served), `ablation_table`
(figures, seed means, the table); this module names the variants, trains them and holds the
command line.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
import time
from pathlib import Path


import numpy as np  # noqa: E402

# tests/ import these from here too.
from .ablation_decoding import decode, predict_levels, transform_products
from .ablation_table import format_table, scored, seed_means
from .quality import add_dataset_arguments, comma_choices
from .run_context import REPO, SHARED, _log, git_state, machine, versions

# name -> model settings that differ from the default (one at a time)
VARIANTS: dict[str, dict] = {
    "full": {},
    "flat leaf classifier": {},  # the default settings under the benchmark's own flat classifier (FLAT_CLASSIFIER)
    "no parent feedback": {"parent_feedback": False},
    "no class weights": {"class_weighting": "none"},
    "sqrt class resampling": {"class_sampling": "sqrt"},
    "sqrt resampling without class weights": {"class_sampling": "sqrt", "class_weighting": "none"},
    "inverse class weights": {"class_weighting": "inverse"},
    "no trained n-grams": {"ngram_features": False, "wide_path": False},
    "mean-pooled n-grams": {"token_weighting": "mean"},
    "no shop feature": {"merchant_feature": False},
    "no label prior": {"label_prior": False},
    "no label semantics": {"label_semantics": False, "label_prior": False},
    "no wide path": {"wide_path": False},
    "wide path without the n-gram embedding": {"ngram_features": False},
    "unseen classes trained": {"unseen_classes": "trained"},
    **{f"unseen class offset {o}": {"unseen_class_offset": float(o)} for o in (3, 6, 10)},
    "dense Adam": {"optimizer": "adam"},
    "early stopping on loss": {"early_stopping_monitor": "loss"},
    "early stopping on accuracy with patience 6": {"early_stopping_monitor": "accuracy", "early_stopping_patience": 6},
    "wide path on 65536 buckets from min_df 1": {"wide_max_features": 65536, "wide_min_df": 1},
    "no margin head": {"margin_head": {"enabled": False}},
    **{f"margin head weight {w}": {"margin_head": {"weight": float(w)}} for w in (4, 16, 64)},
    "margin head alone": {"margin_head": {"weight": 1000.0}},  # the network only breaks the SVMs' ties
    "margin head with C 2": {"margin_head": {"c": 2.0}},
}
# Variants whose network the product does not build: benchmarks/flat_classifier.py builds it.
FLAT_CLASSIFIER = {"flat leaf classifier"}
BEAM_WIDTH = 5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_dataset_arguments(parser)
    parser.add_argument("--fold", type=int, default=3, help="shopify: which shop-disjoint fold (1-5) to evaluate on")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, from: {', '.join(VARIANTS)}")
    parser.add_argument("--seeds", default="0", help="comma-separated model seeds; each variant is trained once per "
                        "seed, and with several a mean row per variant shows what is beyond the run-to-run spread")
    parser.add_argument("--work", help="work directory (default: outputs/bench_ablation/<dataset>)")
    args = parser.parse_args(argv)
    try:
        seeds = [int(v) for v in args.seeds.split(",") if v.strip()]
    except ValueError:
        parser.error(f"--seeds takes comma-separated integers, got {args.seeds!r}")
    if not seeds or len(set(seeds)) != len(seeds):
        parser.error(f"--seeds needs at least one seed and no repeats, got {args.seeds!r}")

    import tensorflow as tf
    import tensorflow_transform as tft

    from prodcat.config import Config
    from prodcat.trainer import run as trainer
    from prodcat import features as F
    from prodcat.trainer.model import category_name_embeddings, model_feature_dims, seen_class_masks

    from . import flat_classifier, splits
    from .prodcat_runner import train_and_predict

    variants = comma_choices(parser, args.variants, list(VARIANTS), "variant")
    work = Path(args.work or REPO / "outputs" / "bench_ablation" / args.dataset).resolve()
    source = Path(args.source or SHARED / "datasets" / splits.SOURCES[args.dataset])
    started_at, machine_start = datetime.datetime.now(), machine()
    data = splits.load(args.dataset, source, work, args.taxonomy)
    fold = data.folds[args.fold - 1 if len(data.folds) > 1 else 0]
    groups = {**splits.seen_label_groups([fold], data.taxonomy),
              **(splits.language_groups() if args.dataset == "shopify" else {})}
    taxonomy, depth = data.taxonomy, data.taxonomy.depth
    fit, dev = splits.dev_split(fold.train)
    _log(f"{args.dataset}: fold {fold.name}: {len(fit)} train + {len(dev)} dev, {len(fold.test)} evaluation products")

    pipeline_work = work / "pipeline"
    if pipeline_work.exists():
        shutil.rmtree(pipeline_work)
    started = time.time()
    # The pipeline predicts the benchmark's evaluation products with the model it serves.
    result = train_and_predict(fit, dev, data.taxonomy_path, pipeline_work, overrides={"enable_cache": False},
                               name=f"ablation-{args.dataset}", predict=list(fold.test))
    pipeline_seconds = time.time() - started
    served = result.full_depth
    rows = [{"variant": "pipeline (default config)", "train_seconds": pipeline_seconds, "scores": scored(
        taxonomy, fold.test, [[lv.id for lv in p.levels] for p in served],
        [min((lv.confidence for lv in p.levels), default=0.0) for p in served], groups)}]

    root = pipeline_work / "run" / "pipeline_root" / "Transform"
    tft_output = tft.TFTransformOutput(str(max((root / "transform_graph").iterdir(), key=lambda p: int(p.name))))
    examples = max((root / "transformed_examples").iterdir(), key=lambda p: int(p.name))
    files = {split: [str(f) for f in (examples / f"Split-{split}").iterdir()] for split in ("train", "eval")}
    batches, _ = transform_products(fold.test, taxonomy, tft_output)
    dims = model_feature_dims(tft_output.transformed_feature_spec())
    base = {"pipeline_name": "ablation", "data": str(pipeline_work / "data"), "taxonomy": data.taxonomy_path}
    label_vectors = trainer._label_vectors(Config.model_validate(base), taxonomy)
    level_sizes = taxonomy.level_sizes()

    for name in variants:
        variant_rows = []
        for seed in seeds:
            label = name if len(seeds) == 1 else f"{name}, seed {seed}"
            config = Config.model_validate({**base, "model": {**VARIANTS[name], "seed": seed}})
            network = {}
            if name in FLAT_CLASSIFIER:
                train_data, eval_data, layout = flat_classifier.flat_datasets(
                    config, taxonomy, tft_output, files["train"], files["eval"])
                network = {"network": flat_classifier.flat_network(layout)}
            else:
                train_data, eval_data, layout = trainer.training_datasets(
                    config, taxonomy, tft_output, files["train"], files["eval"])
            started = time.time()
            model, summary = trainer.train(
                config, level_sizes, train_data, eval_data, feature_dims=dims,
                label_vectors=label_vectors if config.model.label_semantics else None,
                strategy=tf.distribute.get_strategy(), category_layout=layout, **network)
            seconds = time.time() - started
            probs = predict_levels(model, batches, depth)
            paths, confidences = decode(taxonomy, probs)
            variant_rows.append({"variant": label, "kind": name, "epochs": summary["epochs_run"], "train_seconds": seconds,
                                 "scores": scored(taxonomy, fold.test, paths, confidences, groups)})
            _log(f"{label}: mean level F1 {variant_rows[-1]['scores']['all']['mean_level_weighted_f1']:.3f}, "
                 f"hF1 {variant_rows[-1]['scores']['all']['hierarchical_f1']:.3f} ({seconds:.0f} s)")
            if name == "full":
                paths, confidences = decode(taxonomy, probs, beam_width=BEAM_WIDTH)
                variant_rows.append({"variant": f"{label}, beam search (width {BEAM_WIDTH})",
                                     "kind": f"{name}, beam search (width {BEAM_WIDTH})", "epochs": summary["epochs_run"],
                                     "train_seconds": 0.0, "scores": scored(taxonomy, fold.test, paths, confidences, groups)})
                names = category_name_embeddings(model, level_sizes)
                if names is not None and F.TEXT_EMBEDDING in batches[0]:
                    sentences = np.concatenate([b[F.TEXT_EMBEDDING].numpy() for b in batches])
                    paths, confidences = decode(taxonomy, probs, BEAM_WIDTH, names, sentences,
                                                seen_class_masks(model, level_sizes))
                    variant_rows.append({"variant": f"{label}, beam search and name fallback (as served)",
                                         "kind": f"{name}, beam search and name fallback (as served)",
                                         "epochs": summary["epochs_run"], "train_seconds": 0.0,
                                         "scores": scored(taxonomy, fold.test, paths, confidences, groups)})
            tf.keras.backend.clear_session()
        rows += variant_rows
        if len(seeds) > 1:
            rows += seed_means(variant_rows, seeds)

    levels = [k for k in range(1, depth + 1) if f"weighted_f1_level_{k}" in rows[0]["scores"]["all"]]
    table = format_table(rows, levels)
    title = (f"Model ablations on {args.dataset}, fold {fold.name}: {len(fit)} train + {len(dev)} dev, "
             f"{len(fold.test)} evaluation products; greedy decoding, thresholds off")
    print(f"\n{title}\n\n{table}")
    for row in rows:
        if "spread" in row and "all" in row["spread"]:
            spread = row["spread"]["all"]
            print(f"{row['variant']}: mean level F1 {spread['mean_level_weighted_f1'][0]:.4f}-"
                  f"{spread['mean_level_weighted_f1'][1]:.4f}, hF1 {spread['hierarchical_f1'][0]:.4f}-"
                  f"{spread['hierarchical_f1'][1]:.4f} over the seeds")
    finished_at = datetime.datetime.now()
    out = work.parent / f"{work.name}.json"
    out.write_text(json.dumps({
        "command": "python -m benchmarks.ablation " + " ".join(argv if argv is not None else sys.argv[1:]),
        "dataset": args.dataset, "fold": fold.name, "seeds": seeds, "train": len(fit), "dev": len(dev), "eval": len(fold.test),
        "started": started_at.isoformat(timespec="seconds"), "finished": finished_at.isoformat(timespec="seconds"),
        "machine_at_start": machine_start, "load_average_at_end": machine()["load_average_1_5_15"],
        "versions": versions(), "git": git_state(), "variants": VARIANTS,
        "flat_classifier_variants": sorted(FLAT_CLASSIFIER), "table": table, "rows": rows,
    }, indent=2, default=float))
    print(f"\nwall time {(finished_at - started_at).total_seconds():.0f} s; results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
