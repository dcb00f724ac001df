"""Smoke tests of the quality benchmark (benchmarks/quality.py, peers.py, splits.py) on tiny synthetic
data: the peers fit and predict real taxonomy paths, the metric table agrees with scikit-learn, the
coverage sweep and the splits do what they say. No prodcat pipeline run here."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # `benchmarks` is a top-level package of the repo, not of prodcat
    sys.path.insert(0, str(REPO))

from benchmarks import quality, splits  # noqa: E402
from benchmarks.peers import FastTextFlat, HiClassLCPPN, TextSpec, TfidfFlat, ZeroShotUSE, category_text  # noqa: E402
from prodcat.components.hierarchical_metrics import HierarchicalCounts  # noqa: E402
from prodcat.records import Product
from prodcat.synth import SynthConfig, generate  # noqa: E402
from prodcat.taxonomy import Taxonomy  # noqa: E402

# A made-up three-level tree (not Google's data), GS1-style names on one branch like MWPD's.
TREE = """\
1 - Toys
2 - Toys > Kites
3 - Toys > Kites > Stunt Kites
4 - Toys > Kites > Box Kites
5 - Toys > Puzzles
6 - Toys > Puzzles > Jigsaw Puzzles
7 - Garden
8 - Garden > Pots & Planters
9 - Garden > Watering
10 - Garden > Watering > Watering Cans
11 - Garden > Watering > Garden Hoses
12 - 65000000_Computing
13 - 65000000_Computing > 65010000_Computers
14 - 65000000_Computing > 65010000_Computers > 65010700_Computer Peripherals
"""


@pytest.fixture(scope="module")
def tree() -> Taxonomy:
    return Taxonomy.from_google_text(TREE)


@pytest.fixture(scope="module")
def synthetic(tree: Taxonomy) -> splits.Fold:
    products = generate(tree, SynthConfig(n_products=400, n_categories=8, languages=("en", "de"),
                                          language_weights=(0.8, 0.2), n_shops=6, seed=3))
    return splits.hash_split(products, 0.25)


def _check_output(output, products, tree: Taxonomy) -> None:  # noqa: ANN001
    assert len(output.paths) == len(output.confidences) == len(products)
    for path, confidence in zip(output.paths, output.confidences):
        assert path and tree.ancestors(path[-1]) == path  # a real path of the tree, level 1 first
        assert isinstance(confidence, float) and math.isfinite(confidence)


def _leaf_accuracy(output, products, tree: Taxonomy) -> float:  # noqa: ANN001
    return float(np.mean([p[-1] == tree.resolve(x.category).id for p, x in zip(output.paths, products)]))


# ----------------------------------------------------------------------------- peers
@pytest.mark.parametrize("make", [
    lambda: TfidfFlat("svm"), lambda: TfidfFlat("lr"), lambda: FastTextFlat(epoch=20), lambda: HiClassLCPPN(),
], ids=["tfidf-svm", "tfidf-lr", "fasttext", "hiclass"])
def test_trained_peers_learn_the_synthetic_categories(make, synthetic: splits.Fold, tree: Taxonomy) -> None:  # noqa: ANN001
    peer = make()
    peer.fit(synthetic.train, tree)
    output = peer.predict(synthetic.test)
    _check_output(output, synthetic.test, tree)
    assert _leaf_accuracy(output, synthetic.test, tree) > 0.6  # 8 categories: chance is well below


def test_hiclass_confidence_is_a_product_of_probabilities(synthetic: splits.Fold, tree: Taxonomy) -> None:
    peer = HiClassLCPPN()
    peer.fit(synthetic.train, tree)
    output = peer.predict(synthetic.test)
    confidences = np.array(output.confidences)
    assert np.all((confidences > 0) & (confidences <= 1 + 1e-9))
    # the path hiclass predicts is the argmax at every level, so no other path can be surer
    X = peer.features.transform([peer.text.text(p) for p in synthetic.test[:5]])
    root = peer.model.hierarchy_.nodes[peer.model.root_]["classifier"]
    assert np.all(confidences[:5] <= root.predict_proba(X).max(axis=1) + 1e-9)


def test_flat_peers_predict_the_labelled_node_even_above_the_leaves(tree: Taxonomy) -> None:
    """Labels that stop at an inner node (as in Shopify's data) are predicted as such."""
    products = [Product(id=f"p{i}", title=f"{word} {i % 7}", category=cat)
                for i in range(60) for word, cat in [("kite", "2"), ("hose", "11")]]
    peer = TfidfFlat("svm")
    peer.fit(products, tree)
    output = peer.predict([Product(id="q1", title="kite"), Product(id="q2", title="hose")])
    assert output.paths == [["1", "2"], ["7", "9", "11"]]


def test_text_spec_joins_the_configured_fields() -> None:
    product = Product(id="1", title="Kite", product_type="Toys", tags=["a", "b"], shop="acme", description="x" * 50)
    assert TextSpec(("title", "tags", "vendor", "shop")).text(product) == "Kite | a, b | acme"
    assert TextSpec(("title",), description_chars=3).text(product) == "Kite | xxx"


def test_category_text_drops_gpc_codes(tree: Taxonomy) -> None:
    assert category_text(tree, "14") == "Computing > Computers > Computer Peripherals"


@pytest.mark.slow
def test_zero_shot_matches_products_to_category_names(tree: Taxonomy) -> None:
    peer = ZeroShotUSE(TextSpec(("title",)))
    peer.fit([], tree)
    products = [Product(id="a", title="Watering can, 10 litres, green"),
                Product(id="b", title="Jigsaw puzzle 1000 pieces"),
                Product(id="c", title="Gartenschlauch 20 m")]
    output = peer.predict(products)
    _check_output(output, products, tree)
    assert output.paths[0][-1] == "10" and output.paths[1][-1] == "6"
    assert output.paths[2][:2] == ["7", "9"]  # German "garden hose": under Garden > Watering


# ----------------------------------------------------------------------------- metrics
def _random_paths(tree: Taxonomy, rng: np.random.Generator, n: int, leaves_only: bool = False) -> list[list[str]]:
    ids = [c.id for c in tree.categories if tree.is_leaf(c.id) or not leaves_only]
    return [tree.ancestors(ids[i]) for i in rng.integers(0, len(ids), n)]


def test_per_level_weighted_f1_agrees_with_scikit_learn(tree: Taxonomy) -> None:
    rng = np.random.default_rng(0)
    truths = _random_paths(tree, rng, 300)
    predicted = [t if rng.random() < 0.6 else p for t, p in zip(truths, _random_paths(tree, rng, 300))]
    metrics = quality.score(truths, predicted, list(rng.random(300)), tree.depth)
    for level in (1, 2, 3):
        rows = [(t[level - 1], p[level - 1] if len(p) >= level else "") for t, p in zip(truths, predicted) if len(t) >= level]
        y_true, y_pred = zip(*rows)
        assert metrics[f"weighted_f1_level_{level}"] == pytest.approx(f1_score(y_true, y_pred, average="weighted"))
    assert metrics["mean_level_weighted_f1"] == pytest.approx(np.mean([metrics[f"weighted_f1_level_{k}"] for k in (1, 2, 3)]))
    y_true, y_pred = [t[-1] for t in truths], [p[-1] for p in predicted]
    assert metrics["leaf_accuracy"] == pytest.approx(np.mean([a == b for a, b in zip(y_true, y_pred)]))
    assert metrics["leaf_macro_f1"] == pytest.approx(
        f1_score(y_true, y_pred, labels=sorted(set(y_true)), average="macro", zero_division=0))
    overlap = sum(len(set(t) & set(p)) for t, p in zip(truths, predicted))
    assert metrics["hierarchical_precision"] == pytest.approx(overlap / sum(len(p) for p in predicted))
    assert metrics["hierarchical_recall"] == pytest.approx(overlap / sum(len(t) for t in truths))


def test_coverage_sweep_takes_the_largest_coverage_reaching_the_precision() -> None:
    truths = [["1", "2", "3"]] * 10
    right, wrong = ["1", "2", "3"], ["7", "9", "10"]
    # confidence order: 6 right, then 1 wrong, then 3 right
    paths = [right] * 6 + [wrong] + [right] * 3
    confidences = [0.9] * 6 + [0.8] + [0.5, 0.4, 0.3]
    coverage, threshold = quality.coverage_at_precision(truths, paths, confidences, 0.9)
    assert coverage == 1.0 and threshold == 0.3  # 9 of 10 right: hP = 0.9 exactly
    coverage, threshold = quality.coverage_at_precision(truths, paths, confidences, 0.95)
    assert coverage == 0.6 and threshold == 0.9
    # ties are kept or dropped together: the wrong one shares the top confidence
    coverage, _ = quality.coverage_at_precision(truths, [wrong] + [right] * 9, [1.0, 1.0] + [0.5] * 8, 0.95)
    assert coverage == 0.0
    assert quality.coverage_at_precision(truths, [wrong] * 10, [0.5] * 10) == (0.0, None)


def test_coverage_sweep_agrees_with_the_evaluator_counts(tree: Taxonomy) -> None:
    rng = np.random.default_rng(1)
    truths = _random_paths(tree, rng, 200, leaves_only=True)
    predicted = [t if rng.random() < 0.8 else p for t, p in zip(truths, _random_paths(tree, rng, 200, leaves_only=True))]
    confidences = [float(c) for c in np.round(rng.random(200) + [0.5 * (t == p) for t, p in zip(truths, predicted)], 2)]
    coverage, threshold = quality.coverage_at_precision(truths, predicted, confidences, 0.9)

    def precision_at(cut: float) -> float:
        counts = HierarchicalCounts()
        for t, p, c in zip(truths, predicted, confidences):
            counts.add(t, p if c >= cut else [], p)
        return counts.results(tree.depth)["hierarchical_precision"], counts.results(tree.depth)["coverage"]

    hp, cov = precision_at(threshold)
    assert 0 < coverage < 1 and hp >= 0.9 and cov == pytest.approx(coverage)
    lower = max(c for c in confidences if c < threshold)  # the next threshold covers more, below 0.90
    assert precision_at(lower)[0] < 0.9


def test_report_table_has_a_row_per_system_and_group(tree: Taxonomy, synthetic: splits.Fold) -> None:
    data = splits.BenchmarkData("synthetic", tree, "", [synthetic], "hash 25%", groups=splits.language_groups())
    truth = [tree.ancestors(tree.resolve(p.category).id) for p in synthetic.test]
    good = quality.SystemRun("prodcat", list(synthetic.test), truth, [1.0] * len(truth),
                             served_paths=[t[:1] for t in truth], train_seconds=2.0, predict_seconds=0.5)
    flipped = [truth[(i + 1) % len(truth)] for i in range(len(truth))]
    peer = quality.SystemRun("tfidf-svm", list(synthetic.test), flipped, [0.5] * len(truth), train_seconds=1.0,
                             predict_seconds=0.1)
    broken = quality.SystemRun("zeroshot", error="RuntimeError: no encoder")
    report = quality.build_report(data, [peer, good, broken])
    labels = [row["label"] for row in report["rows"]]
    assert labels == ["tfidf-svm", "  en", "  non-en", "prodcat", "  en", "  non-en", "zeroshot"]
    prodcat_row = report["rows"][3]["metrics"]
    assert prodcat_row["hierarchical_f1"] == 1.0 and prodcat_row["coverage_at_hp90"] == 1.0
    assert report["prodcat_served"]["hierarchical_precision"] == 1.0 and report["prodcat_served"]["mean_served_depth"] == 1.0
    assert report["level1"]["best_peer"] == "tfidf-svm"
    assert report["level1"]["peers"] == ["tfidf-svm"]  # zeroshot failed: not compared
    assert all(v["hierarchical_f1"] == 1.0 for v in report["level1"]["systems"]["prodcat"].values())
    table = quality.format_table(report["rows"], [1, 2, 3])
    assert "failed: RuntimeError" in table and table.count("\n") == len(labels) + 1
    assert "Toys" in quality.format_level1(report["level1"]) or "Garden" in quality.format_level1(report["level1"])


# ----------------------------------------------------------------------------- splits
def test_shop_folds_are_shop_disjoint_balanced_and_capped() -> None:
    sizes = {"big": 50, "a": 12, "b": 10, "c": 9, "d": 8, "e": 7, "f": 3}
    products = [Product(id=f"{shop}/{i}", title="x", shop=shop, category="1") for shop, n in sizes.items() for i in range(n)]
    folds = splits.shop_folds(products, k=3, eval_per_shop=20)
    assert len(folds) == 3
    seen = set()
    for fold in folds:
        test_shops, train_shops = {p.shop for p in fold.test}, {p.shop for p in fold.train}
        assert not test_shops & train_shops
        assert not test_shops & seen
        seen |= test_shops
        assert len(fold.train) + sum(sizes[s] for s in test_shops) == len(products)
    assert seen == set(sizes)
    assert sum(p.shop == "big" for f in folds for p in f.test) == 20  # capped, the rest unused
    assert splits.shop_folds(products, k=3, eval_per_shop=20)[0].test == folds[0].test  # deterministic


def test_hash_split_dev_split_and_limit_are_deterministic_and_disjoint() -> None:
    products = [Product(id=f"p{i}", title="x", category="1") for i in range(1000)]
    fold = splits.hash_split(products, 0.2)
    assert 150 < len(fold.test) < 250 and len(fold.train) + len(fold.test) == 1000
    assert not {p.id for p in fold.train} & {p.id for p in fold.test}
    fit, dev = splits.dev_split(fold.train)
    assert len(fit) + len(dev) == len(fold.train) and 40 < len(dev) < 130
    assert splits.limit(fold.train, 100) == splits.limit(fold.train, 100) and len(splits.limit(fold.train, 100)) == 100
    assert splits.limit(fold.train, None) == fold.train


def test_ablation_decodes_with_the_serving_decoder_and_tabulates_groups(tree: Taxonomy) -> None:
    """Greedy keeps the best level-1 class; beam search may leave it for a better whole path."""
    from benchmarks import ablation

    sizes = tree.level_sizes()
    probs = [np.zeros((1, n), np.float32) for n in sizes]
    toys, garden = tree.level_index(1, tree.by_path("Toys").id), tree.level_index(1, tree.by_path("Garden").id)
    probs[0][0, toys], probs[0][0, garden] = 0.55, 0.45
    kites, puzzles = tree.level_index(2, tree.by_path("Toys > Kites").id), tree.level_index(2, tree.by_path("Toys > Puzzles").id)
    watering = tree.level_index(2, tree.by_path("Garden > Watering").id)
    probs[1][0, kites], probs[1][0, puzzles], probs[1][0, watering] = 0.2, 0.2, 0.6
    cans = tree.level_index(3, tree.by_path("Garden > Watering > Watering Cans").id)
    probs[2][0, cans] = 1.0
    greedy, _ = ablation.decode(tree, probs)
    beam, confidence = ablation.decode(tree, probs, beam_width=5)
    assert [tree[c].name for c in greedy[0][:2]] == ["Toys", "Kites"]
    assert [tree[c].name for c in beam[0]] == ["Garden", "Watering", "Watering Cans"]
    assert confidence == [pytest.approx(0.45)]
    product = Product(id="p", title="t", category=tree.by_path("Garden > Watering > Watering Cans").id, language="de")
    scores = ablation.scored(tree, [product], beam, confidence, {"non-en": lambda p: p.language != "en", "en": lambda p: p.language == "en"})
    assert set(scores) == {"all", "non-en"} and scores["all"]["leaf_accuracy"] == 1.0
    table = ablation.format_table([{"variant": "full", "epochs": 3, "train_seconds": 1.0, "scores": scores}], [1, 2, 3])
    assert "full" in table and "non-en" in table and table.count("\n") == 3
    names = [np.eye(len(tree.level_ids(k)), 4, dtype=np.float32) for k in (1, 2, 3)]  # class j points along axis j
    garden_vector = np.eye(4, dtype=np.float32)[[garden]]
    fallback, _ = ablation.decode(tree, [p * 0.1 for p in probs], 1, names, garden_vector)  # every level unsure
    assert fallback[0] == [tree.by_path("Garden").id], "the nearest name, Garden, replaces the unsure path"
    long_name = "wide path without the n-gram embedding"
    table = ablation.format_table([{"variant": long_name, "epochs": 3, "train_seconds": 1.0, "scores": scores}], [1, 2, 3])
    assert f"{long_name}  all" in table, "a long variant name keeps a gap before its group"


def test_seed_means_average_each_kind_of_row_over_the_seeds() -> None:
    from benchmarks import ablation

    def row(label: str, kind: str, f1: float, en: float | None = None) -> dict:
        scores = {"all": {"mean_level_weighted_f1": f1, "hierarchical_f1": f1 + 0.01, "products": 10}}
        if en is not None:
            scores["en"] = {"mean_level_weighted_f1": en, "hierarchical_f1": en, "products": 4}
        return {"variant": label, "kind": kind, "epochs": 5, "train_seconds": 2.0, "scores": scores}

    beam = "full, beam search (width 5)"
    rows = [row("full, seed 0", "full", 0.80, 0.7), row("full, seed 0, beam search (width 5)", beam, 0.82),
            row("full, seed 7", "full", 0.90), row("full, seed 7, beam search (width 5)", beam, 0.84)]
    means = ablation.seed_means(rows, [0, 7])
    assert [m["variant"] for m in means] == ["full: mean of 2 seeds", "full, beam search (width 5): mean of 2 seeds"]
    assert means[0]["scores"]["all"]["mean_level_weighted_f1"] == pytest.approx(0.85)
    assert means[0]["spread"]["all"]["mean_level_weighted_f1"] == [pytest.approx(0.80), pytest.approx(0.90)]
    assert means[1]["scores"]["all"]["hierarchical_f1"] == pytest.approx(0.84)
    assert "en" not in means[0]["scores"], "a group only one seed's products fall in has no mean"
    table = ablation.format_table(rows + means, [1])
    assert "full: mean of 2 seeds" in table
    with pytest.raises(SystemExit):
        ablation.main(["--dataset", "mwpd", "--seeds", "1,1"])


def test_every_ablation_variant_is_a_valid_config_and_can_be_named_on_the_command_line() -> None:
    """--variants is a comma list: a name with a comma could never be asked for."""
    from benchmarks import ablation
    from prodcat.config import Config

    for name, settings in ablation.VARIANTS.items():
        assert "," not in name, name
        Config.model_validate({"model": settings})
