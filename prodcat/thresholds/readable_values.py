"""The exported values: chosen thresholds as short decimals that decide every eval node alike.

Chosen thresholds are moved to a short decimal in the middle of the gap between the confidences
they separate: same decisions on the eval split, robust to float rounding, readable in a config.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from prodcat.thresholds.scoring import _level_vector
from prodcat.thresholds.tuning_data import TuningData


def readable_threshold(lower: float, upper: float, max_digits: int = 7) -> float | None:
    """A short decimal x with lower < x <= upper (in float32), from the middle half of the gap;
    `upper` itself when no decimal of at most `max_digits` digits fits (None if max_digits < 7)."""
    lo32, hi32 = np.float32(lower), np.float32(upper)
    if not lo32 < hi32:
        return float(hi32)
    a, b = lower + (upper - lower) / 4, upper - (upper - lower) / 4
    for digits in range(1, max_digits + 1):
        scale = 10 ** digits
        x = math.ceil(a * scale) / scale
        if x <= b and lo32 < np.float32(x) <= hi32:
            return x
    return float(hi32) if max_digits >= 7 else None


def readable_levels(data: TuningData, per_level: Sequence[float], extra_floors: np.ndarray) -> tuple[float, ...]:
    """Each level's threshold moved to a readable value that decides every eval node alike.

    1.0 stays 1.0 when it serves nothing at its level (a closed level); a threshold below every
    confidence of its level becomes a value between 0 and the lowest one, not 0. A level the eval
    split cannot inform (no product reaches it) takes the previous level's value, so that the
    exported vector is as short as the evidence (the decoder repeats the last value).
    """
    eligible = data.valid & (data.confidences >= extra_floors)
    raw = _level_vector(per_level, data.depth)
    served = np.logical_and.accumulate(eligible & (data.confidences >= raw[None, :]), axis=1)
    out: list[float] = []
    for k in range(data.depth):
        reached = eligible[:, k] & (served[:, k - 1] if k else True)
        if k and not reached.any():
            out.append(out[-1])
            continue
        values = data.confidences[eligible[:, k], k]
        theta = raw[k]
        if values.size and theta <= values.min():  # everything passes: between 0 and the lowest value
            short = readable_threshold(0.0, float(values.min()), max_digits=3)
            out.append(0.0 if short is None else short)
            continue
        if theta >= 1.0 and not (values >= 1.0).any():
            out.append(1.0)
            continue
        below = values[values < theta]
        out.append(readable_threshold(float(below.max()) if below.size else 0.0, float(theta)))
    return tuple(out)


def readable_floor(data: TuningData, subtree: int, floor: float, policy_floor: float) -> float:
    """A sensitive subtree's floor as a readable value (the policy minimum itself when it is that)."""
    if np.float32(floor) <= np.float32(policy_floor):
        return float(policy_floor)
    if floor >= 1.0:
        return 1.0
    values = data.confidences[data.valid & data.in_subtree[:, :, subtree]]
    below = values[values < np.float32(floor)]
    return readable_threshold(max(float(below.max()) if below.size else 0.0, policy_floor), float(floor))


def compact_levels(per_level: Sequence[float]) -> tuple[float, ...]:
    """Drops trailing repeats (the decoder repeats the last value for deeper levels)."""
    values = list(per_level)
    while len(values) > 1 and values[-1] == values[-2]:
        values.pop()
    return tuple(values)
