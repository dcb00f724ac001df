"""The flaws of real feeds: noisy titles, terse titles from small merchants, mislabelled rows.

Each flaw is drawn with its own probability so a demo can dial it: enough that a model trained on
the listings is good but not perfect, and its report has abstentions and errors to show.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from prodcat.records import Product
from prodcat.synth.config import SynthConfig
from prodcat.synth.lexicon import STOPWORDS, Language
from prodcat.synth.random_streams import stream
from prodcat.taxonomy import Taxonomy


def noisy_title(
    rng: random.Random, segments: list[tuple[list[str], bool]], lex: Language, noise: float
) -> str:
    """Joins title segments, applying each kind of noise with probability `noise`."""
    if rng.random() < noise:  # shuffled segment order
        rng.shuffle(segments)
    words = [(w, is_core) for seg, is_core in segments for w in seg]
    if rng.random() < noise and len(words) > 1:  # dropped word (at least one core word stays)
        n_core = sum(1 for _, c in words if c)
        droppable = [i for i, (_, c) in enumerate(words) if not c or n_core > 1]
        if droppable:
            del words[rng.choice(droppable)]
    if rng.random() < noise:  # typo
        candidates = [i for i, (w, _) in enumerate(words) if len(w) >= 4 and w.isalpha()]
        if candidates:
            i = rng.choice(candidates)
            words[i] = (_typo(rng, words[i][0]), words[i][1])
    tokens = [w for w, _ in words]
    if rng.random() < noise:  # SKU / model code
        code = _model_code(rng)
        if rng.random() < 0.3:
            tokens.insert(rng.randint(0, len(tokens)), code)
        else:
            tokens.append(code)
    if rng.random() < noise / 2:  # marketing phrase
        promo = rng.choice(lex.promo)
        tokens = (tokens + ["-", promo]) if rng.random() < 0.5 else ([promo, "|"] + tokens)
    title = " ".join(tokens)
    if rng.random() < noise / 3:
        title = title.upper() if rng.random() < 0.5 else title.lower()
    return title


def terse_title(rng: random.Random, core: Sequence[str], brand: str, color: str, lex: Language, noise: float) -> str:
    """A small merchant's title: the brand, one category word half the time, an attribute or a code."""
    words = [w for w in core if w.lower() not in STOPWORDS]
    tokens = [brand] + ([rng.choice(words)] if words and rng.random() < 0.5 else [])
    size = rng.choice(lex.sizes)
    tokens.append(rng.choice((color, size)) if rng.random() < 0.5 else _model_code(rng))
    if rng.random() < noise:
        rng.shuffle(tokens)
    return " ".join(tokens)


def _model_code(rng: random.Random) -> str:
    """A SKU-like model code, e.g. "KT-4821"."""
    return "".join(rng.choice("ABCDEFGHJKLMNPRSTVWXZ") for _ in range(2)) + f"-{rng.randint(100, 9999)}"


def _typo(rng: random.Random, word: str) -> str:
    """`word` with one typing slip: two neighbours swapped, or a letter dropped or doubled (never the first)."""
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:  # swap neighbours
        return word[: i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:  # drop a letter
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]  # double a letter


def mislabel(taxonomy: Taxonomy, products: list[Product], categories: Sequence[str], config: SynthConfig) -> None:
    """Relabels round(label_noise * n) products, each with another category of its level-1 subtree if any."""
    if config.label_noise <= 0 or len(categories) < 2:
        return
    rng = stream(config.seed, "label noise")
    top_of = {cid: taxonomy.ancestors(cid)[0] for cid in categories}
    for index in sorted(rng.sample(range(len(products)), round(config.label_noise * len(products)))):
        true = products[index].category
        others = [c for c in categories if c != true]
        products[index].category = rng.choice([c for c in others if top_of[c] == top_of[true]] or others)
