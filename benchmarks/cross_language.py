"""Cross-language transfer on real merchant data: train on English products, test on other languages.

Uses the Shopify multistore exports (`prodcat import shopify`): the real pipeline is trained on
the English rows only (80%, by product-id hash), then the pushed model predicts the held-out
English rows and every non-English row whose category was seen in training. It runs twice, with
the pretrained multilingual encoder and without it (hashed n-grams only), and prints per-language
accuracy for both, side by side.

Accuracy is measured at the label's own depth: the greedy path (thresholds off) truncated to the
depth of the true category must equal the true path. Level-1 accuracy is printed too.

    python -m benchmarks.cross_language --shopify ../shared/datasets/shopify_exports_multistore
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import hashlib
import json
import os
import sys
import time
from pathlib import Path

from prodcat.review.sampling import wilson

MIN_ROWS = 20


@dataclasses.dataclass
class LanguageScore:
    language: str
    products: int
    accuracy: dict[str, float]
    level1_accuracy: dict[str, float]


def _holdout(key: str, fraction: float = 0.2) -> bool:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction


def split_by_language(products: list, taxonomy) -> tuple[list, dict[str, list]]:  # noqa: ANN001
    """English training rows, and evaluation groups: held-out English and each other language.

    Two English baselines: products held out from shops that are in training, and all products of
    shops held out entirely (20% of the English shops). Rows in other languages come from shops in
    training and from new shops alike, so the second baseline tells language transfer apart from
    shop transfer.
    """
    english = [p for p in products if p.language == "en"]
    new_shops = {p.shop for p in english if _holdout("shop:" + p.shop)}
    train = [p for p in english if p.shop not in new_shops and not _holdout(p.id)]
    seen = {p.category for p in train}
    groups: dict[str, list] = collections.defaultdict(list)
    for p in products:
        if p.category not in seen:
            continue
        if p.language == "en":
            if p.shop in new_shops:
                groups["en (new shops)"].append(p)
            elif _holdout(p.id):
                groups["en (held out)"].append(p)
        elif p.language:
            groups[p.language].append(p)
    return train, {k: v for k, v in groups.items() if len(v) >= MIN_ROWS}


# name -> (text encoder kind, model config overrides, text config overrides); the first is prodcat's default.
VARIANTS: dict[str, tuple[str, dict, dict]] = {
    "use_multilingual": ("use_multilingual", {}, {}),
    "use_m_title_only": ("use_multilingual", {}, {"embedding_fields": ["title"]}),
    "use_m_without_description": ("use_multilingual", {}, {"embedding_fields": ["title", "product_type", "tags"]}),
    "ngrams_only": ("none", {}, {}),
}


def train_variant(name: str, train_file: Path, taxonomy_path: str, work: Path, epochs: int) -> Path:
    """Runs the real pipeline on the English training rows; returns the serving base path."""
    from prodcat.config import Config
    from prodcat.pipeline import local_runner

    encoder_kind, model_overrides, text_overrides = VARIANTS[name]
    config = Config.model_validate({
        "pipeline_name": f"xlang-{name.replace('_', '-')}", "data": str(train_file), "taxonomy": taxonomy_path,
        "output_dir": str(work / name), "split": {"eval_fraction": 0.1},
        "model": {"epochs": epochs, **model_overrides},
        "text": {"encoder": {"kind": encoder_kind, **({"max_tokens": 128} if encoder_kind != "none" else {})},
                 **text_overrides},
        "evaluation": {"min_hierarchical_f1": 0.0, "min_coverage": 0.0, "max_f1_regression": 1.0},
    })
    prepared = local_runner.prepare(config)
    local_runner.run(prepared)
    return config.serving_base


NON_ENGLISH = "all non-English"


def score(serving_base: Path, groups: dict[str, list], taxonomy) -> tuple[dict[str, dict], list[dict]]:  # noqa: ANN001
    """Per group: products, correct at the label's depth, correct at level 1; and per-product rows."""
    from prodcat.serving.predict import Predictor

    predictor = Predictor(serving_base)
    out, rows = {}, []
    for language, products in groups.items():
        predictions = []
        for start in range(0, len(products), 256):
            predictions += predictor.predict(products[start:start + 256], full_depth=True)
        exact = level1 = 0
        for product, prediction in zip(products, predictions):
            truth = taxonomy.ancestors(product.category)
            path = [level.id for level in prediction.levels]
            hit = path[: len(truth)] == truth
            exact += hit
            level1 += bool(path) and path[0] == truth[0]
            if language != NON_ENGLISH:
                rows.append({"group": language, "shop": product.shop, "title": product.title, "truth": product.category,
                             "predicted": path[len(truth) - 1] if len(path) >= len(truth) else None, "correct": hit})
        out[language] = {"products": len(products), "exact": exact, "level1": level1}
    return out, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shopify", default=str(Path(__file__).resolve().parents[2] / "shared/datasets/shopify_exports_multistore"))
    parser.add_argument("--taxonomy", default=os.environ.get("PRODCAT_TAXONOMY"))
    parser.add_argument("--work", default="outputs/bench_cross_language")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, from: {', '.join(VARIANTS)}")
    args = parser.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s): {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")

    from prodcat.importers import import_dataset
    from prodcat.readers import read_products, write_jsonl
    from prodcat.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(args.taxonomy)
    work = Path(args.work).resolve()
    import_dataset("shopify", Path(args.shopify), work / "import", taxonomy)
    products = read_products(work / "import" / "products.jsonl")
    train, groups = split_by_language(products, taxonomy)
    seen = {p.category for p in train}  # every non-English row of a seen category, small languages too
    groups[NON_ENGLISH] = [p for p in products if p.language not in ("", "en") and p.category in seen]
    groups[NON_ENGLISH + ", new shops"] = [p for p in groups[NON_ENGLISH] if p.shop not in {q.shop for q in train}]
    train_file = work / "train" / "products.jsonl"
    write_jsonl(train, train_file)
    train_shops = {p.shop for p in train}
    print(f"training on {len(train)} English products ({len({p.category for p in train})} categories, "
          f"{len(train_shops)} shops); evaluation groups: " + ", ".join(f"{k} {len(v)}" for k, v in groups.items()),
          file=sys.stderr)

    results, all_rows = {}, []
    for name in variants:
        started = time.time()
        serving = train_variant(name, train_file, args.taxonomy, work, args.epochs)
        results[name], rows = score(serving, groups, taxonomy)
        all_rows += [{"variant": name, **row} for row in rows]
        print(f"{name}: trained and scored in {time.time() - started:.0f} s", file=sys.stderr)

    print("\nCross-language transfer (Shopify multistore; trained on English rows only; accuracy at the label's "
          "depth with its 95% interval, level-1 accuracy after it)\n")
    header = f"{'group':<17}{'products':>9}{'shops':>6}{'in train':>9}" + "".join(f"  {v:>30}" for v in variants)
    print(header)
    for language, group in groups.items():
        shops = {p.shop for p in group}
        line = f"{language:<17}{len(group):>9}{len(shops):>6}{len(shops & train_shops):>9}"
        for name in variants:
            r = results[name][language]
            interval = wilson(r["exact"], r["products"])  # 95%: with 20-row groups the uncertainty is part of the figure
            line += f"  {r['exact'] / r['products']:>6.3f} [{interval.low:.2f}-{interval.high:.2f}] L1 {r['level1'] / r['products']:.3f}"
        print(line)
    print("\n'shops': shops in the group; 'in train': of those, shops that also have English training rows.")
    print("\nShop-matched comparison: English accuracy for the same mix of rows from shops in training and new "
          "shops as each language's (accuracy = f_seen * en (held out) + f_new * en (new shops)); gap = language - that.\n")
    print(f"{'group':<17}{'new-shop share':>15}" + "".join(f"  {v + ' (gap)':>30}" for v in variants))
    for language, group in groups.items():
        if language.startswith("en") or language.startswith(NON_ENGLISH):
            continue
        new_share = sum(p.shop not in train_shops for p in group) / len(group)
        line = f"{language:<17}{new_share:>15.2f}"
        for name in variants:
            r = results[name]
            english = {g: r[g]["exact"] / r[g]["products"] for g in ("en (held out)", "en (new shops)") if g in r}
            if len(english) < 2:
                line += f"  {'n/a':>30}"
                continue
            matched = (1 - new_share) * english["en (held out)"] + new_share * english["en (new shops)"]
            ours = r[language]["exact"] / r[language]["products"]
            line += f"  {f'{ours:.3f} vs {matched:.3f} ({ours - matched:+.3f})':>30}"
        print(line)
    (work / "results.json").write_text(json.dumps(results, indent=2))
    write_jsonl_rows(work / "predictions.jsonl", all_rows)
    print(f"per-product predictions for error analysis: {work / 'predictions.jsonl'}")
    return 0


def write_jsonl_rows(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    sys.exit(main())
