"""The split by shop cuts a hash order of shops where the products reach each split's share."""

from __future__ import annotations

import random

from prodcat.components.shop_split import shop_splits


def test_eval_share_is_met_within_half_a_shop_whatever_the_shop_sizes() -> None:
    rng = random.Random(0)
    sizes = [(f"shop{i}".encode(), max(1, int(2000 / (i + 1) ** 1.2 * rng.random()))) for i in range(300)]
    splits = shop_splits(sizes, [16, 20])
    total = sum(size for _, size in sizes)
    in_eval = sum(size for shop, size in sizes if splits[shop] == 1)
    biggest = max(size for _, size in sizes)
    assert abs(in_eval - 0.2 * total) <= biggest / 2 + 1
    assert set(splits) == {shop for shop, _ in sizes} and set(splits.values()) == {0, 1}


def test_a_shop_keeps_its_split_when_the_data_changes_little() -> None:
    sizes = [(f"shop{i}".encode(), 10) for i in range(100)]
    before = shop_splits(sizes, [16, 20])
    after = shop_splits(sizes + [(b"newcomer", 10)], [16, 20])
    moved = [shop for shop in before if before[shop] != after[shop]]
    assert len(moved) <= 1, "the hash order is stable: a new shop moves at most the shop at the cut"
    assert shop_splits(list(reversed(sizes)), [16, 20]) == before, "the input order does not matter"
