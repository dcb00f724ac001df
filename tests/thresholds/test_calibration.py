"""Per-level temperature scaling on synthetic scores whose miscalibration is known."""

from __future__ import annotations

import numpy as np
import pytest

from prodcat.thresholds.calibration import apply_temperature, fit_level_temperatures, fit_temperature, nll


def scores(seed: int, sharpness: float, products: int = 3000, classes: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z); the 'model' reports softmax(sharpness * z)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 1.5, (products, classes))
    true = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(classes, p=p) for p in true])
    reported = np.exp(sharpness * logits)
    return (reported / reported.sum(axis=1, keepdims=True)).astype(np.float32), labels


@pytest.mark.parametrize("sharpness", [3.0, 0.5])
def test_temperature_undoes_known_miscalibration_and_lowers_nll(sharpness: float) -> None:
    probs, labels = scores(0, sharpness)
    temperature = fit_temperature(probs, labels)
    assert temperature == pytest.approx(sharpness, rel=0.15), "T recovers the sharpening factor"
    assert nll(probs, labels, temperature) < nll(probs, labels) - 0.05


def test_over_confident_scores_get_softer_and_keep_their_argmax() -> None:
    probs, labels = scores(1, 3.0)
    temperature = fit_temperature(probs, labels)
    calibrated = apply_temperature(probs, temperature)
    assert temperature > 1.0
    assert np.array_equal(calibrated.argmax(axis=1), probs.argmax(axis=1))
    assert calibrated.max(axis=1).mean() < probs.max(axis=1).mean()
    np.testing.assert_allclose(calibrated.sum(axis=1), 1.0, rtol=1e-5)
    # calibrated confidences track accuracy: mean top probability ~ share of argmax hits
    hits = (probs.argmax(axis=1) == labels).mean()
    assert abs(calibrated.max(axis=1).mean() - hits) < abs(probs.max(axis=1).mean() - hits)


def test_levels_are_fitted_separately_and_unlabelled_products_are_left_out() -> None:
    over, over_labels = scores(2, 2.5, products=2000)
    fine, fine_labels = scores(3, 1.0, products=2000)
    over_labels = over_labels.copy()
    over_labels[::4] = -1  # products without a class at this level
    result = fit_level_temperatures([over, fine], [over_labels, fine_labels])
    assert [r.level for r in result] == [1, 2]
    assert result[0].examples == 1500 and result[1].examples == 2000
    assert result[0].temperature > 1.8 and result[1].temperature == pytest.approx(1.0, abs=0.15)
    assert all(r.nll_after <= r.nll_before + 1e-9 for r in result)


def test_too_few_examples_leave_a_level_uncalibrated() -> None:
    probs, labels = scores(4, 3.0, products=5)
    assert fit_temperature(probs, labels) == 1.0


def test_a_separable_level_is_left_uncalibrated_with_a_note() -> None:
    # Every label is the argmax: the NLL keeps falling as T -> 0, which says nothing about new data.
    rng = np.random.default_rng(5)
    probs = rng.dirichlet(np.full(8, 0.5), size=500).astype(np.float32)
    labels = probs.argmax(axis=1)
    (level,) = fit_level_temperatures([probs], [labels])
    assert level.temperature == 1.0 and "bound" in level.note
    assert level.nll_after == level.nll_before
