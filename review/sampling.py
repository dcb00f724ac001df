"""Audit sample sizes and interval estimates of precision (per stratum and stratified).

The audit samples each stratum on its own, so a stratum's precision is a plain binomial
proportion (Wilson interval); the overall precision weights each stratum by its share of served
products, as an unequal sample must be weighted to be unbiased.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from scipy import stats


def z_value(confidence: float) -> float:
    """The two-sided normal quantile for a confidence level (1.96 at 0.95)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return float(stats.norm.ppf(0.5 + confidence / 2))


def sample_size(population: int, margin: float, confidence: float) -> int:
    """Products to sample from `population` for a proportion within +-`margin` (worst case p = 0.5),
    with the finite-population correction, so a small stratum is reviewed whole rather than over-sampled."""
    if not 0.0 < margin < 1.0:
        raise ValueError(f"margin must be between 0 and 1, got {margin}")
    if population <= 0:
        return 0
    n0 = z_value(confidence) ** 2 * 0.25 / margin**2
    return min(population, math.ceil(n0 / (1 + (n0 - 1) / population)))


def sample_sizes(strata: Mapping[str, int], margin: float, confidence: float) -> dict[str, int]:
    return {name: sample_size(size, margin, confidence) for name, size in strata.items()}


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A proportion with its interval; `n` is the number of judged products behind it."""

    value: float | None
    low: float | None
    high: float | None
    n: int

    def to_json(self) -> dict[str, float | int | None]:
        return dataclasses.asdict(self)


def wilson(successes: int, n: int, confidence: float = 0.95) -> Estimate:
    """The Wilson score interval of successes / n (scipy's); no products, no estimate."""
    if n == 0:
        return Estimate(None, None, None, 0)
    interval = stats.binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return Estimate(successes / n, float(interval.low), float(interval.high), n)


def stratified(counts: Mapping[str, tuple[int, int]], sizes: Mapping[str, int], confidence: float = 0.95) -> Estimate:
    """The precision of the whole population from per-stratum (correct, judged) counts.

    The estimate weights each stratum by its population share; the interval is Wilson's at the
    effective sample size (Kish: the n a simple random sample of the same variance would have),
    which keeps it inside [0, 1]. The variances use each stratum's proportion with one success and
    one failure added: a small stratum that was all wrong (or all right) is not known exactly, and
    its plain variance of 0 would make the interval far narrower than the judged products allow.
    The effective size never exceeds the products judged.
    """
    judged = {name: c for name, c in counts.items() if c[1] > 0 and sizes.get(name, 0) > 0}
    if not judged:
        return Estimate(None, None, None, 0)
    total = sum(sizes[name] for name in judged)
    value, adjusted, variance = 0.0, 0.0, 0.0
    for name, (correct, n) in judged.items():
        weight, p, p_adjusted = sizes[name] / total, correct / n, (correct + 1) / (n + 2)
        value += weight * p
        adjusted += weight * p_adjusted
        fpc = max(1 - n / sizes[name], 0.0)  # a stratum reviewed whole is known exactly
        variance += weight**2 * p_adjusted * (1 - p_adjusted) / n * fpc
    n_total = sum(n for _, n in judged.values())
    n_eff = n_total if variance <= 0 else min(max(adjusted * (1 - adjusted) / variance, 1.0), n_total)
    z = z_value(confidence)
    centre = (value + z * z / (2 * n_eff)) / (1 + z * z / n_eff)
    half = z / (1 + z * z / n_eff) * math.sqrt(value * (1 - value) / n_eff + z * z / (4 * n_eff**2))
    return Estimate(value, max(centre - half, 0.0), min(centre + half, 1.0), n_total)
