"""How many records of each kind the corpus holds, from the config's totals and the kinds' weights.

Every kind must occur (a test that never sees a defect proves nothing about it), so small corpora
give each kind at least one record when there is room.
"""

from __future__ import annotations

from prodcat.fuzz.config import FuzzConfig
from prodcat.fuzz.kinds import KINDS, Kind


def _quotas(total: int, kinds: list[Kind]) -> dict[str, int]:
    """`total` split over `kinds` by weight (largest remainder), at least one each when possible."""
    weights = sum(k.weight for k in kinds)
    raw = {k.name: total * k.weight / weights for k in kinds}
    counts = {name: int(value) for name, value in raw.items()}
    for name in sorted(raw, key=lambda n: raw[n] - counts[n], reverse=True)[: total - sum(counts.values())]:
        counts[name] += 1
    for name in counts:  # every kind present when there is room
        if counts[name] == 0 and total >= len(kinds):
            donor = max(counts, key=counts.get)
            counts[donor] -= 1
            counts[name] += 1
    return counts


def kinds_for(config: FuzzConfig) -> tuple[list[Kind], list[Kind]]:
    """(kind per good record, kind per bad record), before shuffling."""
    good_kinds = [k for k in KINDS.values() if k.outcome == "good" and k.weight]
    good: list[Kind] = []
    for kind in good_kinds:
        good += [kind] * (config.n_good * kind.weight // 100)
    fixed = [KINDS["title_at_limit"], KINDS["data_uri_image"], KINDS["data_uri_image"], KINDS["mid_file_bom"]]
    good += fixed[: max(0, config.n_good - len(good))]
    good += [KINDS["plain"]] * (config.n_good - len(good))
    good = good[: config.n_good]
    n_huge = min(config.n_huge_titles, config.n_bad)
    bad = [KINDS["huge_title"]] * n_huge
    weighted = [k for k in KINDS.values() if k.outcome != "good" and k.weight]
    for name, count in _quotas(config.n_bad - n_huge, weighted).items():
        bad += [KINDS[name]] * count
    return good, bad
