"""What the generator makes: `SynthConfig`, its validation, and whether categories come in pairs.

The knobs live in one frozen dataclass so that a config's `repr` can key the demo data directory
(`prodcat.pipeline.local_runner`): the same config always names the same dataset.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class SynthConfig:
    """What to generate. Every field has a demo-friendly default."""

    n_products: int = 3000
    # Distinct labelled categories, spread across level-1 subtrees and depths.
    n_categories: int = 40
    # Explicit category ids to use instead of drawing `n_categories`.
    categories: tuple[str, ...] = ()
    # Class frequency ~ 1 / rank**zipf_exponent on top of `min_per_category` each.
    zipf_exponent: float = 1.1
    min_per_category: int = 5
    languages: tuple[str, ...] = ("en", "de", "es", "fr", "it")
    language_weights: tuple[float, ...] = (0.6, 0.1, 0.1, 0.1, 0.1)
    # Each shop sells a few level-1 subtrees, like a real specialised merchant.
    n_shops: int = 12
    # Probability of each kind of title noise (typo, dropped word, shuffle, SKU code, ...).
    noise: float = 0.15
    # Attach a 64x64 PNG whose shape and hue depend on the category (distinct for up to 360
    # categories; beyond that styles repeat).
    images: bool = False
    # Sibling pairs share their title vocabulary; only images tell them apart (image benchmark).
    ambiguous_titles: bool = False
    seed: int = 0
    # Realism (all off by default; the demo's values are in prodcat.config.DemoConfig). Which
    # listings each one touches is drawn from its own random stream; labels and languages stay put.
    # Share of listings written with their sibling's words too (the text of an ambiguous-mode pair):
    # neighbours in a real tree share vocabulary. Above 0 the categories are drawn in sibling pairs,
    # so the sibling is a labelled class the model must tell apart, sometimes without the words to.
    sibling_overlap: float = 0.0
    # Share of terse listings: brand, one category word or none, an attribute or model code; no
    # product type, tags or collections. Small merchants upload these; a model should abstain on some.
    short_titles: float = 0.0
    # Share of listings from one-off sellers (a shop and brand with that one listing). A split by
    # product puts about eval_fraction of them in eval, from shops training never saw.
    one_off_sellers: float = 0.0
    # Share of listings labelled with a wrong category (another labelled one, in the same level-1
    # subtree when there is one), marked nowhere: real feeds have these in training and eval alike.
    label_noise: float = 0.0


def validate(config: SynthConfig) -> None:
    """Raises ValueError for a config the generator cannot honour, before anything is drawn."""
    if config.n_products < 1:
        raise ValueError("n_products must be at least 1")
    if config.n_categories < 1 and not config.categories:
        raise ValueError("n_categories must be at least 1")
    if config.min_per_category < 0:
        raise ValueError("min_per_category must be >= 0")
    if config.n_shops < 1:
        raise ValueError("n_shops must be at least 1")
    if not 0.0 <= config.noise <= 1.0:
        raise ValueError("noise must be in [0, 1]")
    for knob in ("sibling_overlap", "short_titles", "one_off_sellers", "label_noise"):
        if not 0.0 <= getattr(config, knob) <= 1.0:
            raise ValueError(f"{knob} must be in [0, 1]")
    if config.zipf_exponent < 0:
        raise ValueError("zipf_exponent must be >= 0")
    if not config.languages or len(config.languages) != len(config.language_weights):
        raise ValueError("languages and language_weights must be non-empty and of equal length")
    if any(w < 0 for w in config.language_weights) or sum(config.language_weights) <= 0:
        raise ValueError("language_weights must be non-negative with a positive sum")


def is_paired(config: SynthConfig) -> bool:
    """Whether categories are drawn in sibling pairs (vocabulary shared always, or sometimes)."""
    return config.ambiguous_titles or config.sibling_overlap > 0
