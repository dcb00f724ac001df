"""Sample sizes and precision intervals against values computed by hand."""

from __future__ import annotations

import math

import pytest

from prodcat.review.sampling import sample_size, stratified, wilson, z_value


def test_sample_size_is_the_textbook_one_with_the_finite_population_correction() -> None:
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert sample_size(10**9, 0.05, 0.95) == 385  # 1.96^2 / 4 / 0.05^2 = 384.1
    assert sample_size(1000, 0.05, 0.95) == 278
    assert sample_size(10, 0.05, 0.95) == 10 and sample_size(0, 0.05, 0.95) == 0
    with pytest.raises(ValueError, match="margin"):
        sample_size(100, 0.0, 0.95)


def test_wilson_interval_matches_the_formula() -> None:
    est = wilson(8, 10)
    z = 1.959964
    centre = (0.8 + z * z / 20) / (1 + z * z / 10)
    half = z / (1 + z * z / 10) * math.sqrt(0.8 * 0.2 / 10 + z * z / 400)
    assert (est.value, est.n) == (0.8, 10)
    assert est.low == pytest.approx(centre - half, abs=1e-5) and est.high == pytest.approx(centre + half, abs=1e-5)
    assert est.low == pytest.approx(0.4902, abs=1e-4) and est.high == pytest.approx(0.9433, abs=1e-4)
    assert wilson(0, 0).value is None


def test_stratified_estimate_weights_strata_by_population_not_by_sample() -> None:
    # 50 of 50 right in a big stratum (900), 5 of 50 in a small one (100): unweighted 0.55, weighted 0.91
    est = stratified({"big": (50, 50), "small": (5, 50)}, {"big": 900, "small": 100})
    assert est.value == pytest.approx(0.9 * 1.0 + 0.1 * 0.1)
    assert est.n == 100 and 0.8 < est.low < est.value < est.high <= 1.0
    one = stratified({"only": (8, 10)}, {"only": 10**9})
    assert (one.low, one.high) == pytest.approx((wilson(8, 10).low, wilson(8, 10).high), abs=1e-4)
    assert stratified({"none": (0, 0)}, {"none": 5}).value is None


def test_small_strata_all_wrong_keep_the_interval_as_wide_as_their_few_products_allow() -> None:
    # two big strata, 0 right of 7 and of 5 judged: their precision could still be well above 0
    est = stratified({"a": (0, 7), "b": (0, 5), "c": (2, 5)}, {"a": 1000, "b": 1000, "c": 10})
    assert est.value == pytest.approx(10 / 2010 * 0.4)
    assert est.low < 0.001 and est.high > wilson(0, 12).high * 0.8  # not a near-zero-width interval (was 0.004)
    assert est.high < wilson(0, 2).high  # and no wider than the data's weakest case
