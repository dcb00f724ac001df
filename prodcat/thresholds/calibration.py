"""Per-level temperature scaling of the model's probabilities (Guo et al., 2017).

The model's softmax heads are trained with class weights and early stopping, so their
probabilities are not calibrated, and not alike across levels: 0.6 at level 1 and 0.6 at level 4
need not mean the same chance of being right. Temperature scaling fixes one scalar T per level,
fitted on the eval split by minimising the negative log-likelihood of the true class:

    p_T(c) = softmax(log p(c) / T)

What it changes and what it does not:

* the order of the classes within a product's distribution is kept, so the argmax, and the
  greedy path (the best child of the previous choice), stay the same; beam search, which
  multiplies probabilities across levels, can pick another path, since levels get different T;
* a product's confidence at a level is a new number, and its order among products can change
  (T reshapes every product's distribution, and products with one clear class move differently
  from products with several close ones); so thresholds mean something else after calibration
  and have to be tuned on the calibrated confidences, and calibration can change the coverage
  reachable at a precision target, for better or worse (the tuning report compares both).

The serving graph applies the temperatures (`thresholds.temperatures`) before decoding, so served
confidences are the calibrated ones.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

_FLOOR = 1e-12  # as the decoder: log(max(p, 1e-12))
MIN_EXAMPLES = 10
BOUNDS = (0.25, 10.0)  # temperatures searched; a level whose fit ends at a bound is left at 1.0


@dataclasses.dataclass(frozen=True)
class LevelCalibration:
    level: int
    temperature: float
    examples: int
    nll_before: float
    nll_after: float
    note: str = ""  # why the level was left at 1.0, if it was


def nll(probs: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of `labels` under `probs` scaled by `temperature`."""
    if not len(labels):
        return math.nan
    logits = np.log(np.maximum(np.asarray(probs, np.float64), _FLOOR)) / temperature
    top = logits.max(axis=1, keepdims=True)
    log_z = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    return float(np.mean(log_z - logits[np.arange(len(labels)), labels]))


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T), float32 (what the serving graph computes)."""
    logits = np.log(np.maximum(np.asarray(probs, np.float32), np.float32(_FLOOR))) / np.float32(temperature)
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return (scaled / scaled.sum(axis=1, keepdims=True)).astype(np.float32)


def fit_temperature(probs: np.ndarray, labels: np.ndarray, bounds: tuple[float, float] = BOUNDS) -> float:
    """The T in `bounds` minimising the NLL; 1.0 with fewer than MIN_EXAMPLES labels.

    The NLL is convex in 1/T, so a bounded scalar search over 1/T finds the global minimum. The
    bounds matter when the eval split is (nearly) separable: the NLL then keeps falling as T -> 0,
    and float32 confidences would all round to 1.0, leaving nothing for thresholds to tell apart
    (`fit_level_temperatures` leaves such a level at 1.0).
    """
    labels = np.asarray(labels)
    if len(labels) < MIN_EXAMPLES:
        return 1.0
    from scipy.optimize import minimize_scalar

    logp = np.log(np.maximum(np.asarray(probs, np.float64), _FLOOR))
    true = logp[np.arange(len(labels)), labels]

    def objective(beta: float) -> float:
        z = logp * beta
        top = z.max(axis=1)
        return float(np.mean(top + np.log(np.exp(z - top[:, None]).sum(axis=1)) - true * beta))

    result = minimize_scalar(objective, bounds=(1.0 / bounds[1], 1.0 / bounds[0]), method="bounded",
                             options={"xatol": 1e-4})
    return float(1.0 / result.x)


def fit_level_temperatures(level_probs: list[np.ndarray], level_labels: list[np.ndarray]) -> list[LevelCalibration]:
    """One temperature per level from [products, classes] probabilities and class indices
    (-1: the product has no class at that level, it is left out)."""
    out = []
    for level, (probs, labels) in enumerate(zip(level_probs, level_labels), start=1):
        labels = np.asarray(labels)
        keep = labels >= 0
        p, y = np.asarray(probs)[keep], labels[keep]
        temperature, note = fit_temperature(p, y), ""
        if len(y) < MIN_EXAMPLES:
            note = f"fewer than {MIN_EXAMPLES} labelled products"
        elif any(math.isclose(temperature, bound, rel_tol=1e-3) for bound in BOUNDS):
            # The NLL still falls at the bound: the split is (nearly) separable at this level and
            # says nothing about how confident the model should be on new products.
            temperature, note = 1.0, f"the fit ran into the bound T={temperature:.2f}"
        out.append(LevelCalibration(level, temperature, int(keep.sum()), nll(p, y), nll(p, y, temperature), note))
    return out
