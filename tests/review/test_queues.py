"""The withheld, audit and disagreement queues over hand-made predictions."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from prodcat.config import ThresholdConfig
from prodcat.records import RecordError
from prodcat.review.build import read_weights
from prodcat.review.queues import audit_queue, config_floor, disagreement_queue, withheld_queue
from prodcat.taxonomy import Taxonomy
from review_fixtures import SENSITIVE, prediction, product


def test_withheld_holds_products_served_above_their_decoded_path_nearest_miss_first(tree: Taxonomy) -> None:
    floor = config_floor(ThresholdConfig(per_level=(0.3, 0.7, 0.9)), tree)
    products = [product("full"), product("near"), product("far"), product("none")]
    full = [prediction(tree, "full", "3", [0.99, 0.99, 0.95]), prediction(tree, "near", "3", [0.9, 0.8, 0.85]),
            prediction(tree, "far", "3", [0.9, 0.8, 0.3]), prediction(tree, "none", "6", [0.2, 0.9])]
    served = [prediction(tree, "full", "3", [0.99, 0.99, 0.95]), prediction(tree, "near", "3", [0.9, 0.8, 0.85], depth=2),
              prediction(tree, "far", "3", [0.9, 0.8, 0.3], depth=2), prediction(tree, "none", "6", [0.2, 0.9], depth=0)]
    items = withheld_queue(products, served, full, tree, floor)
    assert [i.product_id for i in items] == ["none", "near", "far"]  # "full" is served all the way
    none, near, far = items
    assert none.served_id is None and none.priority == round(2 * 0.2 / 0.3, 6)  # two levels to gain
    assert near.priority == round(0.85 / 0.9, 6) and far.priority == round(0.3 / 0.9, 6)
    assert [c.category_id for c in near.candidates] == ["3", "2", "1"]  # decoded path, deepest first
    assert [c.confidence for c in near.candidates] == [0.8, 0.8, 0.9]  # each path as sure as its least sure level


def test_withheld_weights_put_heavy_traffic_first(tree: Taxonomy) -> None:
    floor = config_floor(ThresholdConfig(per_level=(0.3, 0.7, 0.9)), tree)
    products = [product("a"), product("b")]
    full = [prediction(tree, p, "3", [0.9, 0.8, 0.8]) for p in ("a", "b")]
    served = [prediction(tree, p, "3", [0.9, 0.8, 0.8], depth=2) for p in ("a", "b")]
    assert [i.product_id for i in withheld_queue(products, served, full, tree, floor, {"b": 5.0})] == ["b", "a"]


def test_sensitive_subtrees_have_their_stricter_floor(tree: Taxonomy) -> None:
    floor = config_floor(ThresholdConfig(per_level=(0.3,)), tree)
    assert floor(1, "1") == 0.3 and floor(2, "8") == 0.8  # Mature's default sensitive floor


def test_audit_samples_every_stratum_and_sensitive_subtrees_apart(tree: Taxonomy) -> None:
    products, served = [], []
    for n in range(400):
        category = "3" if n < 300 else ("6" if n < 380 else "8")
        products.append(product(f"p{n:03d}"))
        served.append(prediction(tree, f"p{n:03d}", category, [0.9, 0.9, 0.9]))
    products.append(product("withheld"))
    served.append(prediction(tree, "withheld", None, []))
    items, sizes, wanted = audit_queue(products, served, served, tree, SENSITIVE, margin=0.1, confidence=0.95)
    assert sizes == {"Garden": 80, "Toys": 300, "sensitive: Mature": 20}
    # n0 = 1.96^2 / 4 / 0.1^2 = 96.04, then n0 / (1 + (n0 - 1) / N): 80 -> 43.9, 300 -> 72.9, 20 -> 16.7
    assert wanted == {"Garden": 44, "Toys": 73, "sensitive: Mature": 17}
    assert Counter(i.stratum for i in items) == wanted
    assert "withheld" not in {i.product_id for i in items}
    assert len({i.product_id for i in items}) == len(items)
    again, _, _ = audit_queue(products[::-1], served[::-1], served[::-1], tree, SENSITIVE, margin=0.1)
    assert [i.item_id for i in again] == [i.item_id for i in items]  # the same seed, whatever the input order
    other, _, _ = audit_queue(products, served, served, tree, SENSITIVE, margin=0.1, seed=1)
    assert {i.item_id for i in other} != {i.item_id for i in items}


def test_disagreements_are_confident_departures_from_the_label(tree: Taxonomy) -> None:
    products = [product("noise", "6"), product("agrees", "3"), product("deeper", "2"), product("unsure", "6"),
                product("unlabelled")]
    full = [prediction(tree, "noise", "3", [0.97, 0.9, 0.9]), prediction(tree, "agrees", "3", [0.99, 0.99, 0.99]),
            prediction(tree, "deeper", "3", [0.99, 0.99, 0.99]), prediction(tree, "unsure", "3", [0.6, 0.9, 0.9]),
            prediction(tree, "unlabelled", "3", [0.99, 0.99, 0.99])]
    items = disagreement_queue(products, full, full, tree, min_confidence=0.9)
    assert [i.product_id for i in items] == ["noise"]
    assert items[0].label_id == "6" and items[0].priority == 0.97
    assert items[0].candidates[-1].category_id == "6" and items[0].candidates[-1].source == "label"


def test_weights_file_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "weights.jsonl"
    path.write_text('{"id": "a", "weight": 2.5}\n\n{"id": "b", "weight": -1}\n', encoding="utf-8")
    with pytest.raises(RecordError, match=r"weights.jsonl:3: field .weight. a weight must be >= 0, got -1.0"):
        read_weights(path)
    path.write_text('{"id": "a", "weight": 2.5}\n{"id": "b"}\n', encoding="utf-8")
    with pytest.raises(RecordError, match=r"weights.jsonl:2: field .weight. expected"):
        read_weights(path)
    path.write_text('{"id": "a", "weight": 2.5}\n', encoding="utf-8")
    assert read_weights(path) == {"a": 2.5}
