"""Which categories get labelled listings, in which pairs, and how many listings each.

Categories are spread over level-1 subtrees and depths, and class sizes are Zipf-skewed, because
those are what make real product categorization hard: a demo over forty look-alike leaves of one
subtree, or with equal classes, would flatter the model.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Sequence

from prodcat.synth.config import SynthConfig, is_paired
from prodcat.synth.random_streams import stream
from prodcat.taxonomy import Taxonomy

SHALLOW_MAX_LEVEL = 3  # leaves at this level or above count as "shallow", deeper ones as "deep"


def select_categories(taxonomy: Taxonomy, config: SynthConfig = SynthConfig()) -> list[str]:
    """The labelled category ids, in a deterministic order.

    Drawn categories are leaves spread round-robin over the level-1 subtrees, alternating shallow
    (level <= 3) and deep leaves; internal nodes are added only when there are too few leaves.
    With `ambiguous_titles` (or `sibling_overlap`), consecutive entries (0, 1), (2, 3), ... are the
    pairs that share a title vocabulary, siblings whenever the taxonomy allows.
    """
    if config.categories:
        chosen = list(dict.fromkeys(config.categories))
        unknown = [cid for cid in chosen if cid not in taxonomy]
        if unknown:
            raise ValueError(f"categories not in the taxonomy: {', '.join(unknown[:10])}")
        return pair_up(taxonomy, chosen) if is_paired(config) else chosen

    rng = stream(config.seed, "categories")
    n = min(config.n_categories, len(taxonomy))
    leaves = [c.id for c in taxonomy.categories if taxonomy.is_leaf(c.id)]
    internal = [c.id for c in taxonomy.categories if not taxonomy.is_leaf(c.id)]
    ordered_leaves = _spread(taxonomy, leaves, rng)
    rng.shuffle(internal)
    if not is_paired(config):
        return (ordered_leaves + internal)[:n]

    chosen: list[str] = []
    used: set[str] = set()
    for cid in ordered_leaves:
        if len(chosen) >= n:
            break
        if cid in used:
            continue
        siblings = [
            s for s in taxonomy.children(taxonomy[cid].parent)
            if s != cid and s not in used and taxonomy.is_leaf(s)
        ]
        if siblings:
            partner = rng.choice(siblings)
            chosen += [cid, partner]
            used.update((cid, partner))
    if len(chosen) < n:  # not enough sibling leaves: pair the rest as closely as the tree allows
        rest = [cid for cid in ordered_leaves + internal if cid not in used]
        chosen += pair_up(taxonomy, rest[: n - len(chosen)])
    return chosen[:n]


def ambiguous_pairs(taxonomy: Taxonomy, config: SynthConfig) -> list[tuple[str, ...]]:
    """The category groups that share title vocabulary in ambiguous mode (pairs; maybe one single)."""
    categories = select_categories(taxonomy, dataclasses.replace(config, ambiguous_titles=True))
    return consecutive_pairs(categories[: len(class_counts(len(categories), config))])


def _spread(taxonomy: Taxonomy, ids: Sequence[str], rng: random.Random) -> list[str]:
    """Orders ids round-robin over level-1 subtrees, alternating shallow and deep ones."""
    buckets: dict[str, tuple[list[str], list[str]]] = {}
    for cid in ids:
        top = taxonomy.ancestors(cid)[0]
        shallow, deep = buckets.setdefault(top, ([], []))
        (shallow if taxonomy[cid].level <= SHALLOW_MAX_LEVEL else deep).append(cid)
    tops = list(buckets)
    rng.shuffle(tops)
    for shallow, deep in buckets.values():
        rng.shuffle(shallow)
        rng.shuffle(deep)
    out: list[str] = []
    want_deep = False
    while len(out) < len(ids):
        for top in tops:
            shallow, deep = buckets[top]
            first, second = (deep, shallow) if want_deep else (shallow, deep)
            source = first or second
            if source:
                out.append(source.pop())
                want_deep = not want_deep
    return out


def pair_up(taxonomy: Taxonomy, ids: Sequence[str]) -> list[str]:
    """Reorders ids into consecutive pairs, pairing siblings first, then closest relatives."""
    position = {cid: i for i, cid in enumerate(ids)}
    chains = {cid: taxonomy.ancestors(cid) for cid in ids}
    pairs: list[tuple[str, ...]] = []
    left = list(ids)
    for up in range(1, taxonomy.depth + 1):
        groups: dict[tuple[str, ...], list[str]] = {}
        for cid in left:
            groups.setdefault(tuple(chains[cid][:-up]), []).append(cid)
        left = []
        for members in groups.values():
            for k in range(0, len(members) - 1, 2):
                pairs.append((members[k], members[k + 1]))
            if len(members) % 2:
                left.append(members[-1])
        left.sort(key=position.__getitem__)
    pairs += [(cid,) for cid in left]
    pairs.sort(key=lambda pair: position[pair[0]])
    return [cid for pair in pairs for cid in pair]


def consecutive_pairs(categories: Sequence[str]) -> list[tuple[str, ...]]:
    """Entries (0, 1), (2, 3), ... of `select_categories` in paired mode; an odd last one alone."""
    return [tuple(categories[i : i + 2]) for i in range(0, len(categories), 2)]


def class_counts(n_categories: int, config: SynthConfig) -> list[int]:
    """Products per category: the minimum each, the rest split by Zipf weights over a seeded rank."""
    n = config.n_products
    k = min(n_categories, n)
    minimum = min(config.min_per_category, n // k)
    ranks = list(range(k))
    stream(config.seed, "ranks").shuffle(ranks)
    weights = [1.0 / (rank + 1) ** config.zipf_exponent for rank in ranks]
    remaining = n - minimum * k
    total = sum(weights)
    shares = [remaining * w / total for w in weights]
    counts = [int(math.floor(s)) for s in shares]
    # Largest remainder rounding, ties by index: deterministic and sums exactly to n.
    by_remainder = sorted(range(k), key=lambda i: (counts[i] - shares[i], i))
    for i in by_remainder[: remaining - sum(counts)]:
        counts[i] += 1
    return [minimum + c for c in counts]
