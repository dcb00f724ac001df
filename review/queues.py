"""The three review queues, as pure functions of products, predictions and the taxonomy.

- withheld: the thresholds stopped the served path above the decoded one (or served nothing); a
  decision there adds a category, most where the withheld level was nearly confident enough.
- audit: a stratified random sample of served predictions (see `sampling`), so precision can be
  estimated without the bias of reviewing only what looks doubtful.
- disagreements: the data's label and a confident model disagree (likely label noise).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence

from prodcat.config import ThresholdConfig
from prodcat.contract.signatures import Prediction
from prodcat.records import Product
from prodcat.review.items import Candidate, QueueItem, item_id
from prodcat.review.sampling import sample_sizes
from prodcat.sensitive import sensitive_membership
from prodcat.taxonomy import Taxonomy

Floor = Callable[[int, str], float]  # (level, category id) -> the confidence that level needed


def config_floor(thresholds: ThresholdConfig, taxonomy: Taxonomy) -> Floor:
    """The floor the serving graph applied: the level's, or a stricter sensitive/override one (for
    a product like the training data: one unlike it may have needed `per_level_unfamiliar`'s)."""
    sensitive = sensitive_membership(taxonomy, thresholds.sensitive.paths)
    overrides = [(node.id, o.min_confidence) for o in thresholds.overrides if (node := taxonomy.resolve(o.path))]

    def floor(level: int, category_id: str) -> float:
        value = thresholds.for_level(level)
        if category_id in sensitive:
            value = max(value, thresholds.sensitive.min_confidence)
        for root, minimum in overrides:
            if category_id in taxonomy and taxonomy.is_under(category_id, root):
                value = max(value, minimum)
        return value

    return floor


def candidates(full: Prediction, label_id: str | None, taxonomy: Taxonomy) -> tuple[Candidate, ...]:
    """The decoded path and each of its prefixes (deepest first), then the data's label if different.

    A prefix's confidence is the lowest of its levels': a path is as sure as its least sure step, so
    a deeper candidate never looks surer than the one above it.
    """
    out = [Candidate(level.id, " > ".join(lv.name for lv in full.levels[: level.level]),
                     min(lv.confidence for lv in full.levels[: level.level]), "model")
           for level in reversed(full.levels)]
    if label_id and label_id in taxonomy and all(c.category_id != label_id for c in out):
        out.append(Candidate(label_id, taxonomy[label_id].path_str, None, "label"))
    return tuple(out)


def _label(product: Product, taxonomy: Taxonomy) -> str | None:
    node = taxonomy.resolve(product.category) if product.category else None
    return node.id if node else None


def _item(queue: str, product: Product, served: Prediction, full: Prediction, taxonomy: Taxonomy,
          priority: float = 0.0, stratum: str | None = None) -> QueueItem:
    label = _label(product, taxonomy)
    return QueueItem(item_id(queue, product.id), queue, product.to_json_dict(), served.category_id,
                     served.category_path, served.depth, candidates(full, label, taxonomy), label, stratum,
                     round(priority, 6))


def withheld_queue(products: Sequence[Product], served: Sequence[Prediction], full: Sequence[Prediction],
                   taxonomy: Taxonomy, floor: Floor, weights: Mapping[str, float] | None = None) -> list[QueueItem]:
    """Products served less than the model decoded, most valuable decision first.

    Value = weight (traffic/catalogue, default 1) x levels a decision would add x how close the
    first withheld level came to its floor (confidence / floor): a near miss is cheap to settle.
    """
    items = []
    for product, s, f in zip(products, served, full, strict=True):
        if s.category_id is not None and s.depth >= f.depth:
            continue
        gained = max(f.depth - s.depth, 1)
        nearness = 0.0
        if s.depth < f.depth:
            first = f.levels[s.depth]
            nearness = min(first.confidence / max(floor(first.level, first.id), 1e-9), 1.0)
        weight = (weights or {}).get(product.id, 1.0)
        items.append(_item("withheld", product, s, f, taxonomy, priority=weight * gained * nearness))
    return sorted(items, key=lambda i: (-i.priority, i.product_id))


def stratum_of(category_id: str, taxonomy: Taxonomy, sensitive: Mapping[str, str]) -> str:
    """The audit stratum of a served category: its sensitive subtree, else its level-1 category."""
    if category_id in sensitive:
        return f"sensitive: {sensitive[category_id]}"
    return taxonomy[taxonomy.ancestors(category_id)[0]].name


def audit_queue(products: Sequence[Product], served: Sequence[Prediction], full: Sequence[Prediction],
                taxonomy: Taxonomy, sensitive_paths: Sequence[str], margin: float = 0.05, confidence: float = 0.95,
                seed: int = 0) -> tuple[list[QueueItem], dict[str, int], dict[str, int]]:
    """A stratified random sample of served predictions: (items, stratum sizes, sample sizes).

    Each stratum gets the sample its own precision needs for `margin` at `confidence`, so small
    sensitive subtrees are measured too; items are shuffled across strata, so a session stopped
    early still has every stratum represented in proportion to its sample.
    """
    sensitive = sensitive_membership(taxonomy, sensitive_paths)
    strata: dict[str, list[int]] = {}
    for index, s in enumerate(served):
        if s.category_id is not None and s.category_id in taxonomy:
            strata.setdefault(stratum_of(s.category_id, taxonomy, sensitive), []).append(index)
    sizes = {name: len(members) for name, members in sorted(strata.items())}
    wanted = sample_sizes(sizes, margin, confidence)
    rng = random.Random(seed)
    chosen: list[tuple[int, str]] = []
    for name, members in sorted(strata.items()):
        ordered = sorted(members, key=lambda i: products[i].id)  # input order must not change the sample
        chosen += [(i, name) for i in rng.sample(ordered, wanted[name])]
    rng.shuffle(chosen)
    items = [_item("audit", products[i], served[i], full[i], taxonomy, stratum=name) for i, name in chosen]
    return items, sizes, wanted


def disagreement_queue(products: Sequence[Product], full: Sequence[Prediction], served: Sequence[Prediction],
                       taxonomy: Taxonomy, min_confidence: float = 0.9) -> list[QueueItem]:
    """Labelled products whose decoded path leaves the label's path at a level decoded with at least
    `min_confidence`, most confident first (a confident model against the label: likely label noise)."""
    items = []
    for product, s, f in zip(products, served, full, strict=True):
        label = _label(product, taxonomy)
        if label is None:
            continue
        truth = taxonomy.ancestors(label)
        split = next((lv for lv in f.levels if lv.level <= len(truth) and lv.id != truth[lv.level - 1]), None)
        if split is not None and split.confidence >= min_confidence:
            items.append(_item("disagreements", product, s, f, taxonomy, priority=split.confidence))
    return sorted(items, key=lambda i: (-i.priority, i.product_id))
