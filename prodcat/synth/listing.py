"""One listing's fields: title, description, vendor, product type, tags, collections.

A listing is built from its category's words (localized where a localized tree has them) and the
language's template words, with attribute segments that come and go like in real feeds. In a pair
of categories sharing vocabulary, every text field depends on the pair only, never on the member.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from prodcat.records import Product
from prodcat.synth.lexicon import CONNECTORS, STOPWORDS, lexicon_for
from prodcat.synth.noise import noisy_title, terse_title
from prodcat.synth.shops import Shop
from prodcat.taxonomy import Taxonomy


class CategoryNames:
    """Category names and name words per language, localized where a localized tree has the id."""

    def __init__(self, taxonomy: Taxonomy, localized: Mapping[str, Taxonomy]) -> None:
        self._taxonomy = taxonomy
        self._localized = localized
        self._words: dict[tuple[str, str], list[str]] = {}

    def name(self, cid: str, language: str) -> str:
        """The category's name in `language`, else in the main taxonomy's language."""
        tree = self._localized.get(language)
        node = tree.get(cid) if tree is not None else None
        return node.name if node is not None else self._taxonomy[cid].name

    def words(self, cid: str, language: str) -> list[str]:
        """The name's words without connectors ("&", "and"), cached: every listing asks again."""
        key = (cid, language)
        if key not in self._words:
            name = self.name(cid, language)
            tokens = [t.strip(",;:()[]\"'") for t in name.split()]
            words = [t for t in tokens if t and t.lower() not in CONNECTORS]
            self._words[key] = words or [name]
        return self._words[key]


def make_listing(
    rng: random.Random,
    taxonomy: Taxonomy,
    names: CategoryNames,
    cid: str,
    group: tuple[str, ...],
    language: str,
    shop: Shop,
    noise: float,
    product_id: str,
    terse: bool = False,
) -> Product:
    """One listing. In a pair `group`, every text field depends on the group, never on `cid`."""
    lex = lexicon_for(language)
    anchor = group[0]
    parents = list(dict.fromkeys(p for p in (taxonomy[c].parent for c in group) if p is not None))
    top = taxonomy.ancestors(anchor)[0]
    parent_words = list(dict.fromkeys(w for p in parents for w in names.words(p, language)))

    if len(group) > 1:
        pool = list(dict.fromkeys(w for c in group for w in names.words(c, language)))
        core = rng.sample(pool, rng.randint(1, min(3, len(pool))))
    else:
        pool = names.words(cid, language)
        core = list(pool)
    brand = rng.choice(shop.brands)
    color = rng.choice(lex.colors)
    material = rng.choice(lex.materials)
    target = rng.choice(lex.targets)

    # Title as segments: (words, is_core). Attribute segments come and go like in real feeds.
    head: list[tuple[list[str], bool]] = []
    tail: list[tuple[list[str], bool]] = []
    if rng.random() < 0.2:
        head.append(([rng.choice(lex.adjectives)], False))
    item = [(core, True)]
    if parent_words and rng.random() < 0.3:
        keep = sorted(rng.sample(range(len(parent_words)), min(len(parent_words), rng.randint(1, 2))))
        item.append(([parent_words[i] for i in keep], False))
    if rng.random() < 0.35:
        phrase = lex.material.format(m=material).split()
        (head if lex.material_first else tail).append((phrase, False))
    if rng.random() < 0.5:
        tail.append((color.split(), False))
    if rng.random() < 0.3:
        tail.append(([rng.choice(lex.sizes)], False))
    if rng.random() < 0.15:
        template = lex.set if rng.random() < 0.5 else lex.pack
        tail.append((template.format(n=rng.choice((2, 3, 4, 5, 6, 10, 12))).split(), False))
    if rng.random() < 0.15:
        tail.append(([lex.for_, target], False))
    if rng.random() < 0.1:
        tail.append(([lex.with_, rng.choice(lex.extras)], False))
    segments = head + item + tail
    if rng.random() < 0.75:
        segments.insert(0, ([brand], False))
    else:
        segments.append(([brand], False))
    title = noisy_title(rng, segments, lex, noise)

    item_text = " ".join(core)
    sentences = [lex.desc_first.format(item=item_text, brand=brand, material=material)]
    for _ in range(rng.randint(0, 2)):
        sentences.append(rng.choice(lex.desc_more).format(color=color, target=target))
    description = " ".join(dict.fromkeys(sentences))

    r = rng.random()
    if len(group) > 1:
        product_type = names.name(parents[0], language) if parents and r < 0.5 else ""
    elif r < 0.4:
        product_type = names.name(cid, language)
    elif r < 0.6 and parents:
        product_type = names.name(parents[0], language)
    else:
        product_type = ""

    tag_words = [w.lower() for w in pool + parent_words if len(w) > 2 and w.lower() not in STOPWORDS]
    tag_pool = list(dict.fromkeys(tag_words + [color.lower(), material.lower()]))
    tags = rng.sample(tag_pool, min(len(tag_pool), rng.randint(2, 4)))
    collections = [names.name(top, language)] if rng.random() < 0.4 else []
    if terse:  # what a small merchant uploads: no product type, tags or collections either
        title = terse_title(rng, core, brand, color, lex, noise)
        product_type, tags, collections = "", [], []
    return Product(
        id=product_id,
        title=title,
        description=description,
        vendor=brand,
        product_type=product_type,
        tags=tags,
        collections=collections,
        shop=shop.name,
        language=language,
        category=cid,
    )
