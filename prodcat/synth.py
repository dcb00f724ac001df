"""Deterministic synthetic marketplace listings for demos, tests and benchmarks.

Real labelled product data is large, licensed and slow to obtain, but every part of prodcat (the
importers, the TFX pipeline, the trainer, serving, the benchmarks) needs labelled products to run.
This module fabricates listings that look like a marketplace feed and have the properties that make
product categorization hard, each under explicit control:

* any taxonomy (Google's 5,595-node tree or a six-node test tree), labels spread over many level-1
  subtrees and over shallow (level 2-3) and deep (level 4+) leaves;
* Zipf-skewed class frequencies (head classes common, tail classes rare, none empty);
* several languages with a built-in lexicon, and localized category names when a localized
  taxonomy is given (e.g. Google's German file);
* specialised shops, so a split by shop is a real distribution shift;
* noisy titles (typos, shuffled and dropped words, SKU codes, marketing phrases);
* optional PNG images whose shape and hue depend on the category, so an image model can learn them;
* optional *ambiguous titles*: the chosen categories come in sibling pairs whose texts are drawn
  from one shared word pool, so only the image separates the two. This exists for the multimodal
  benchmark, which measures how much the image signal adds over text;
* optional realism, off by default and on in the demo (`prodcat.config.DemoConfig`), so a model
  trained on the listings is good but not perfect: sibling categories sharing vocabulary, terse
  titles, one-off sellers that a split by product puts in eval unseen, and mislabelled rows.

Everything is a pure function of (taxonomy, config, localized taxonomies): the same inputs give
byte-identical output. Randomness comes only from seeded `random.Random` / `numpy` generators,
one independent stream per purpose, so switching images on does not change any text.
"""

from __future__ import annotations

import colorsys
import dataclasses
import io
import math
import os
import random
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from prodcat.records import Product
from prodcat.readers import write_jsonl
from prodcat.taxonomy import Taxonomy

IMAGE_SIZE = 64
SHALLOW_MAX_LEVEL = 3  # leaves at this level or above count as "shallow", deeper ones as "deep"


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


# ----------------------------------------------------------------------------- lexicon
@dataclasses.dataclass(frozen=True)
class _Lang:
    """Template words of one language (category words come from the taxonomy)."""

    colors: tuple[str, ...]
    materials: tuple[str, ...]
    sizes: tuple[str, ...]
    adjectives: tuple[str, ...]
    targets: tuple[str, ...]
    promo: tuple[str, ...]
    extras: tuple[str, ...]
    for_: str
    with_: str
    material: str  # "{m}" phrase, e.g. "aus {m}"
    material_first: bool  # material phrase before the item ("Leather Wallet") or after it
    set: str
    pack: str
    desc_first: str
    desc_more: tuple[str, ...]


# Small per-language word lists for the template parts of a listing. Category words come from the
# taxonomy (localized when available); everything else comes from here.
_LEXICON: dict[str, _Lang] = {
    "en": _Lang(
        colors=("Black", "White", "Red", "Blue", "Green", "Grey", "Beige", "Pink", "Navy", "Brown", "Yellow", "Silver"),
        materials=("Cotton", "Leather", "Wood", "Steel", "Plastic", "Glass", "Wool", "Bamboo"),
        sizes=("Small", "Medium", "Large", "XL", "Mini", "Compact"),
        adjectives=("New", "Premium", "Classic", "Modern", "Professional", "Deluxe", "Vintage", "Eco"),
        targets=("Kids", "Women", "Men", "Home", "Office", "Outdoor"),
        promo=("Free Shipping", "Hot Sale", "Best Seller", "Gift Idea"),
        extras=("Lid", "Case", "Handle", "Pockets", "Cover", "Strap"),
        for_="for", with_="with", material="{m}", material_first=True,
        set="Set of {n}", pack="{n} Pack",
        desc_first="{item} from {brand}, made of {material}.",
        desc_more=("Available in {color}.", "Ideal for {target}.", "High quality and durable.", "Easy to clean and built to last."),
    ),
    "de": _Lang(
        colors=("Schwarz", "Weiß", "Rot", "Blau", "Grün", "Grau", "Beige", "Rosa", "Marineblau", "Braun", "Gelb", "Silber"),
        materials=("Baumwolle", "Leder", "Holz", "Stahl", "Kunststoff", "Glas", "Wolle", "Bambus"),
        sizes=("Klein", "Mittel", "Groß", "XL", "Mini", "Kompakt"),
        adjectives=("Neu", "Premium", "Klassisch", "Modern", "Profi", "Deluxe", "Vintage", "Öko"),
        targets=("Kinder", "Damen", "Herren", "Zuhause", "Büro", "Outdoor"),
        promo=("Versandkostenfrei", "Angebot", "Bestseller", "Geschenkidee"),
        extras=("Deckel", "Tasche", "Griff", "Taschen", "Abdeckung", "Riemen"),
        for_="für", with_="mit", material="aus {m}", material_first=False,
        set="{n}er Set", pack="{n} Stück",
        desc_first="{item} von {brand} aus {material}.",
        desc_more=("Erhältlich in {color}.", "Ideal für {target}.", "Hochwertig und langlebig.", "Leicht zu reinigen und robust."),
    ),
    "es": _Lang(
        colors=("negro", "blanco", "rojo", "azul", "verde", "gris", "beige", "rosa", "azul marino", "marrón", "amarillo", "plateado"),
        materials=("algodón", "cuero", "madera", "acero", "plástico", "vidrio", "lana", "bambú"),
        sizes=("pequeño", "mediano", "grande", "XL", "mini", "compacto"),
        adjectives=("Nuevo", "Premium", "Clásico", "Moderno", "Profesional", "Deluxe", "Vintage", "Eco"),
        targets=("niños", "mujer", "hombre", "casa", "oficina", "exterior"),
        promo=("Envío gratis", "Oferta", "Más vendido", "Idea regalo"),
        extras=("tapa", "funda", "asa", "bolsillos", "cubierta", "correa"),
        for_="para", with_="con", material="de {m}", material_first=False,
        set="Set de {n}", pack="Pack de {n}",
        desc_first="{item} de {brand}, fabricado en {material}.",
        desc_more=("Disponible en {color}.", "Ideal para {target}.", "Alta calidad y duradero.", "Fácil de limpiar y resistente."),
    ),
    "fr": _Lang(
        colors=("noir", "blanc", "rouge", "bleu", "vert", "gris", "beige", "rose", "bleu marine", "marron", "jaune", "argenté"),
        materials=("coton", "cuir", "bois", "acier", "plastique", "verre", "laine", "bambou"),
        sizes=("petit", "moyen", "grand", "XL", "mini", "compact"),
        adjectives=("Nouveau", "Premium", "Classique", "Moderne", "Professionnel", "Deluxe", "Vintage", "Éco"),
        targets=("enfants", "femme", "homme", "maison", "bureau", "extérieur"),
        promo=("Livraison gratuite", "Promo", "Meilleure vente", "Idée cadeau"),
        extras=("couvercle", "étui", "poignée", "poches", "housse", "sangle"),
        for_="pour", with_="avec", material="en {m}", material_first=False,
        set="Lot de {n}", pack="Pack de {n}",
        desc_first="{item} de {brand} en {material}.",
        desc_more=("Disponible en {color}.", "Idéal pour {target}.", "Haute qualité et durable.", "Facile à nettoyer et robuste."),
    ),
    "it": _Lang(
        colors=("nero", "bianco", "rosso", "blu", "verde", "grigio", "beige", "rosa", "blu navy", "marrone", "giallo", "argento"),
        materials=("cotone", "pelle", "legno", "acciaio", "plastica", "vetro", "lana", "bambù"),
        sizes=("piccolo", "medio", "grande", "XL", "mini", "compatto"),
        adjectives=("Nuovo", "Premium", "Classico", "Moderno", "Professionale", "Deluxe", "Vintage", "Eco"),
        targets=("bambini", "donna", "uomo", "casa", "ufficio", "esterno"),
        promo=("Spedizione gratuita", "Offerta", "Più venduto", "Idea regalo"),
        extras=("coperchio", "custodia", "manico", "tasche", "copertura", "cinghia"),
        for_="per", with_="con", material="in {m}", material_first=False,
        set="Set da {n}", pack="Confezione da {n}",
        desc_first="{item} di {brand} in {material}.",
        desc_more=("Disponibile in {color}.", "Ideale per {target}.", "Alta qualità e resistente.", "Facile da pulire e robusto."),
    ),
}
_FALLBACK_LANGUAGE = "en"  # template words for a language the lexicon does not cover

_CONNECTORS = frozenset({"&", "and", "und", "et", "y", "e", "o", "or", "oder", "ou", "-", "/", "+"})
_STOPWORDS = frozenset({
    "for", "with", "the", "of", "für", "mit", "von", "zur", "zum", "der", "die", "das", "des", "den",
    "para", "con", "del", "las", "los", "pour", "avec", "les", "des", "aux", "per", "di", "da", "dei",
    "delle", "degli", "della",
})
_BRAND_SYLLABLES = (
    "ka", "lo", "vi", "ren", "tor", "mi", "za", "ne", "bo", "lux", "tek", "ar", "ion", "sa", "ve",
    "dro", "fin", "gal", "mo", "qui", "ra", "sol", "tri", "ul", "ven", "xo", "ya", "zen", "pex", "ori",
)
_SHOP_ADJECTIVES = (
    "Blue", "Golden", "Urban", "Happy", "Green", "Silver", "Little", "Bright", "Royal", "Sunny",
    "Northern", "Wild", "Cosy", "Modern", "Lucky", "Red",
)
_SHOP_NOUNS = (
    "Oak", "Harbor", "Fox", "River", "Maple", "Pine", "Lantern", "Meadow", "Anchor", "Owl", "Stone",
    "Willow", "Falcon", "Bay", "Peak", "Garden",
)
_SHOP_SUFFIXES = ("Store", "Shop", "Market", "Outlet", "Supply", "Emporium")
_SHAPES = ("circle", "square", "triangle", "diamond", "ring", "cross", "hstripes", "vstripes", "checker", "dots")
_N_HUES = 12
_N_BACKGROUNDS = 3


@dataclasses.dataclass(frozen=True)
class _Shop:
    name: str
    brands: tuple[str, ...]
    tops: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class _ImageStyle:
    shape: int
    hue: int
    background: int


# ----------------------------------------------------------------------------- public API
def generate(
    taxonomy: Taxonomy,
    config: SynthConfig = SynthConfig(),
    localized: Mapping[str, Taxonomy] | None = None,
) -> list[Product]:
    """Fabricates exactly `config.n_products` labelled listings, shuffled, ids `syn<seed>-<n>`.

    `localized` maps a language code to a taxonomy with the same ids in that language (e.g.
    {"de": Taxonomy.from_google_file(<German file>)}); listings in that language then use the
    localized category names. If `n_products < n_categories * min_per_category`, the minimum per
    category is lowered (and, below one product per category, the category list is truncated).
    """
    _validate(config)
    localized = dict(localized or {})
    categories = select_categories(taxonomy, config)
    counts = _class_counts(len(categories), config)
    categories = categories[: len(counts)]
    names = _Names(taxonomy, localized)

    # Pair structure (ambiguous mode): the anchor decides shop and collections, so nothing but
    # the image depends on which member of a pair a product belongs to.
    pair_of: dict[str, tuple[str, ...]] = {}
    for pair in _pairs(categories) if _paired(config) else [(c,) for c in categories]:
        for cid in pair:
            pair_of[cid] = pair

    shops = _make_shops(taxonomy, [pair_of[c][0] for c in categories], config)
    shops_by_top: dict[str, list[int]] = {}
    for index, shop in enumerate(shops):
        for top in shop.tops:
            shops_by_top.setdefault(top, []).append(index)
    shop_weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(shops))]

    labels = [cid for cid, count in zip(categories, counts) for _ in range(count)]
    order_rng = _rng(config.seed, "order")
    order_rng.shuffle(labels)

    styles = _image_styles(categories, pair_of, config) if config.images else {}
    image_rng = np.random.default_rng([abs(config.seed), 1 if config.seed < 0 else 0, 7])

    text_rng = _rng(config.seed, "text")
    lang_rng = _rng(config.seed, "language")
    overlap_rng, terse_rng = _rng(config.seed, "overlap"), _rng(config.seed, "terse")
    sellers = _OneOffSellers(config, shops)
    languages = list(config.languages)
    weights = list(config.language_weights)
    width = max(6, len(str(len(labels) - 1)))

    products: list[Product] = []
    for index, cid in enumerate(labels):
        language = lang_rng.choices(languages, weights=weights)[0]
        anchor = pair_of[cid][0]
        top = taxonomy.ancestors(anchor)[0]
        candidates = shops_by_top[top]
        shop = shops[text_rng.choices(candidates, weights=[shop_weights[i] for i in candidates])[0]]
        shop = sellers.maybe_replace(shop, top)
        group = pair_of[cid]
        if not config.ambiguous_titles and len(group) > 1 and overlap_rng.random() >= config.sibling_overlap:
            group = (cid,)
        terse = config.short_titles > 0 and terse_rng.random() < config.short_titles
        product = _listing(
            text_rng, taxonomy, names, cid, group, language, shop, config.noise,
            product_id=f"syn{config.seed}-{index:0{width}d}", terse=terse,
        )
        if config.images:
            product.image = _render_image(styles[cid], image_rng)
        products.append(product)
    _mislabel(taxonomy, products, categories, config)
    return products


def write_demo_dataset(
    taxonomy: Taxonomy,
    out_dir: str | os.PathLike,
    config: SynthConfig = SynthConfig(),
    localized: Mapping[str, Taxonomy] | None = None,
) -> Path:
    """Writes `out_dir/products.jsonl` (+ `out_dir/images/<id>.png`) and returns the JSONL path.

    Images are separate files referenced by a path relative to the JSONL file, which is how
    `prodcat.records` resolves them. Each file is written to a temporary name and renamed, and the
    JSONL appears last, so a reader never sees a partial dataset.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    products = generate(taxonomy, config, localized)
    rows: list[Product] = []
    if any(p.image is not None for p in products):
        image_dir = out_dir / "images"
        image_dir.mkdir(exist_ok=True)
        for product in products:
            if product.image is None:
                rows.append(product)
                continue
            target = image_dir / f"{product.id}.png"
            tmp = target.with_name(target.name + ".tmp")
            tmp.write_bytes(product.image)
            os.replace(tmp, target)
            rows.append(dataclasses.replace(product, image=None, image_uri=f"images/{target.name}"))
    else:
        rows = products
    path = out_dir / "products.jsonl"
    write_jsonl(rows, path)
    return path


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
        return _pair_up(taxonomy, chosen) if _paired(config) else chosen

    rng = _rng(config.seed, "categories")
    n = min(config.n_categories, len(taxonomy))
    leaves = [c.id for c in taxonomy.categories if taxonomy.is_leaf(c.id)]
    internal = [c.id for c in taxonomy.categories if not taxonomy.is_leaf(c.id)]
    ordered_leaves = _spread(taxonomy, leaves, rng)
    rng.shuffle(internal)
    if not _paired(config):
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
        chosen += _pair_up(taxonomy, rest[: n - len(chosen)])
    return chosen[:n]


def ambiguous_pairs(taxonomy: Taxonomy, config: SynthConfig) -> list[tuple[str, ...]]:
    """The category groups that share title vocabulary in ambiguous mode (pairs; maybe one single)."""
    categories = select_categories(taxonomy, dataclasses.replace(config, ambiguous_titles=True))
    return _pairs(categories[: len(_class_counts(len(categories), config))])


def lexicon_languages() -> tuple[str, ...]:
    """Languages with built-in template words; others fall back to English templates."""
    return tuple(_LEXICON)


# ----------------------------------------------------------------------------- selection helpers
def _validate(config: SynthConfig) -> None:
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


def _paired(config: SynthConfig) -> bool:
    """Whether categories are drawn in sibling pairs (vocabulary shared always, or sometimes)."""
    return config.ambiguous_titles or config.sibling_overlap > 0


def _rng(seed: int, stream: str) -> random.Random:
    # String seeds are hashed with SHA-512 by `random`, independent of PYTHONHASHSEED.
    return random.Random(f"prodcat.synth:{seed}:{stream}")


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


def _pair_up(taxonomy: Taxonomy, ids: Sequence[str]) -> list[str]:
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


def _pairs(categories: Sequence[str]) -> list[tuple[str, ...]]:
    return [tuple(categories[i : i + 2]) for i in range(0, len(categories), 2)]


def _class_counts(n_categories: int, config: SynthConfig) -> list[int]:
    """Products per category: the minimum each, the rest split by Zipf weights over a seeded rank."""
    n = config.n_products
    k = min(n_categories, n)
    minimum = min(config.min_per_category, n // k)
    ranks = list(range(k))
    _rng(config.seed, "ranks").shuffle(ranks)
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


def _make_shops(taxonomy: Taxonomy, anchors: Sequence[str], config: SynthConfig) -> list[_Shop]:
    """Shops that each sell a few level-1 subtrees; every used subtree has at least one shop."""
    rng = _rng(config.seed, "shops")
    tops = list(dict.fromkeys(taxonomy.ancestors(a)[0] for a in anchors))
    rng.shuffle(tops)
    n_shops, n_tops = config.n_shops, len(tops)
    cap = max(math.ceil(n_tops / n_shops), min(3, max(1, (n_tops - 1) // 2)))
    assigned: list[list[str]] = [[] for _ in range(n_shops)]
    for i, top in enumerate(tops):
        assigned[i % n_shops].append(top)
    for j in range(n_tops, n_shops):
        assigned[j].append(tops[j % n_tops])
    for shop_tops in assigned:
        target = rng.randint(1, cap)
        others = [t for t in tops if t not in shop_tops]
        rng.shuffle(others)
        while len(shop_tops) < target and others:
            shop_tops.append(others.pop())

    names: list[str] = []
    brands_seen: set[str] = set()
    shops: list[_Shop] = []
    for j, shop_tops in enumerate(assigned):
        name = ""
        for _ in range(50):
            name = f"{rng.choice(_SHOP_ADJECTIVES)} {rng.choice(_SHOP_NOUNS)} {rng.choice(_SHOP_SUFFIXES)}"
            if name not in names:
                break
        if name in names:
            name = f"{name} {j + 1}"
        names.append(name)
        brands: list[str] = []
        for _ in range(rng.randint(2, 5)):
            brand = _brand_name(rng)
            while brand in brands_seen:
                brand = _brand_name(rng)
            brands_seen.add(brand)
            brands.append(brand)
        shops.append(_Shop(name=name, brands=tuple(brands), tops=tuple(shop_tops)))
    return shops


def _brand_name(rng: random.Random) -> str:
    word = "".join(rng.choice(_BRAND_SYLLABLES) for _ in range(rng.randint(2, 3)))
    return word.capitalize()


# ----------------------------------------------------------------------------- realism
class _OneOffSellers:
    """Replaces a `one_off_sellers` share of shops by new ones, each with a single listing and brand."""

    def __init__(self, config: SynthConfig, shops: Sequence[_Shop]) -> None:
        self._share = config.one_off_sellers
        self._rng = _rng(config.seed, "one-off sellers")
        self._names = {shop.name for shop in shops}
        self._brands = {brand for shop in shops for brand in shop.brands}

    def maybe_replace(self, shop: _Shop, top: str) -> _Shop:
        if self._share <= 0 or self._rng.random() >= self._share:
            return shop
        brand = _brand_name(self._rng)
        while brand in self._brands:
            brand = _brand_name(self._rng)
        self._brands.add(brand)
        name = f"{brand} {self._rng.choice(_SHOP_SUFFIXES)}"
        while name in self._names:
            name = f"{brand} {self._rng.choice(_SHOP_SUFFIXES)} {self._rng.randint(2, 99)}"
        self._names.add(name)
        return _Shop(name=name, brands=(brand,), tops=(top,))


def _mislabel(taxonomy: Taxonomy, products: list[Product], categories: Sequence[str], config: SynthConfig) -> None:
    """Relabels round(label_noise * n) products, each with another category of its level-1 subtree if any."""
    if config.label_noise <= 0 or len(categories) < 2:
        return
    rng = _rng(config.seed, "label noise")
    top_of = {cid: taxonomy.ancestors(cid)[0] for cid in categories}
    for index in sorted(rng.sample(range(len(products)), round(config.label_noise * len(products)))):
        true = products[index].category
        others = [c for c in categories if c != true]
        products[index].category = rng.choice([c for c in others if top_of[c] == top_of[true]] or others)


# ----------------------------------------------------------------------------- text
class _Names:
    """Category names and name words per language, localized where a localized tree has the id."""

    def __init__(self, taxonomy: Taxonomy, localized: Mapping[str, Taxonomy]) -> None:
        self._taxonomy = taxonomy
        self._localized = localized
        self._words: dict[tuple[str, str], list[str]] = {}

    def name(self, cid: str, language: str) -> str:
        tree = self._localized.get(language)
        node = tree.get(cid) if tree is not None else None
        return node.name if node is not None else self._taxonomy[cid].name

    def words(self, cid: str, language: str) -> list[str]:
        key = (cid, language)
        if key not in self._words:
            name = self.name(cid, language)
            tokens = [t.strip(",;:()[]\"'") for t in name.split()]
            words = [t for t in tokens if t and t.lower() not in _CONNECTORS]
            self._words[key] = words or [name]
        return self._words[key]


def _listing(
    rng: random.Random,
    taxonomy: Taxonomy,
    names: _Names,
    cid: str,
    group: tuple[str, ...],
    language: str,
    shop: _Shop,
    noise: float,
    product_id: str,
    terse: bool = False,
) -> Product:
    """One listing. In a pair `group`, every text field depends on the group, never on `cid`."""
    lex = _LEXICON.get(language, _LEXICON[_FALLBACK_LANGUAGE])
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
    title = _noisy_title(rng, segments, lex, noise)

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

    tag_words = [w.lower() for w in pool + parent_words if len(w) > 2 and w.lower() not in _STOPWORDS]
    tag_pool = list(dict.fromkeys(tag_words + [color.lower(), material.lower()]))
    tags = rng.sample(tag_pool, min(len(tag_pool), rng.randint(2, 4)))
    collections = [names.name(top, language)] if rng.random() < 0.4 else []
    if terse:  # what a small merchant uploads: no product type, tags or collections either
        title = _terse_title(rng, core, brand, color, lex, noise)
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


def _noisy_title(
    rng: random.Random, segments: list[tuple[list[str], bool]], lex: _Lang, noise: float
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


def _terse_title(rng: random.Random, core: Sequence[str], brand: str, color: str, lex: _Lang, noise: float) -> str:
    """A small merchant's title: the brand, one category word half the time, an attribute or a code."""
    words = [w for w in core if w.lower() not in _STOPWORDS]
    tokens = [brand] + ([rng.choice(words)] if words and rng.random() < 0.5 else [])
    size = rng.choice(lex.sizes)
    tokens.append(rng.choice((color, size)) if rng.random() < 0.5 else _model_code(rng))
    if rng.random() < noise:
        rng.shuffle(tokens)
    return " ".join(tokens)


def _model_code(rng: random.Random) -> str:
    return "".join(rng.choice("ABCDEFGHJKLMNPRSTVWXZ") for _ in range(2)) + f"-{rng.randint(100, 9999)}"


def _typo(rng: random.Random, word: str) -> str:
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:  # swap neighbours
        return word[: i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:  # drop a letter
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]  # double a letter


# ----------------------------------------------------------------------------- images
def _image_styles(
    categories: Sequence[str], pair_of: Mapping[str, tuple[str, ...]], config: SynthConfig
) -> dict[str, _ImageStyle]:
    """A distinct (shape, hue, background) per category; pair members differ in shape and hue."""
    rng = _rng(config.seed, "styles")
    combos = [
        _ImageStyle(shape, hue, bg)
        for bg in range(_N_BACKGROUNDS)
        for shape in range(len(_SHAPES))
        for hue in range(_N_HUES)
    ]
    # Background variants are used only after all shape x hue combinations on the plain one.
    per_bg = len(_SHAPES) * _N_HUES
    blocks = [combos[i : i + per_bg] for i in range(0, len(combos), per_bg)]
    for block in blocks:
        rng.shuffle(block)
    free = [c for block in blocks for c in block]
    styles: dict[str, _ImageStyle] = {}
    hue_use = [0] * _N_HUES
    shape_use = [0] * len(_SHAPES)
    for cid in categories:
        partner_styles = [styles[p] for p in pair_of.get(cid, (cid,)) if p in styles]
        if not free:  # more categories than styles: reuse (documented limitation)
            free = [c for block in blocks for c in block]
        allowed = [c for c in free if all(c.shape != s.shape and c.hue != s.hue for s in partner_styles)]
        # Least-used hue first, then least-used shape: categories differ in colour when they can.
        pick = min(allowed or free, key=lambda c: (c.background, hue_use[c.hue], shape_use[c.shape]))
        free.remove(pick)
        hue_use[pick.hue] += 1
        shape_use[pick.shape] += 1
        styles[cid] = pick
    return styles


def _render_image(style: _ImageStyle, rng: np.random.Generator, size: int = IMAGE_SIZE) -> bytes:
    """A small PNG: the style's shape in the style's hue, with jitter and pixel noise."""
    from PIL import Image, ImageDraw

    hue = (style.hue / _N_HUES + rng.uniform(-0.025, 0.025)) % 1.0
    fg = _rgb(hue, rng.uniform(0.65, 1.0), rng.uniform(0.6, 0.95))
    if style.background == 0:
        bg = _rgb(rng.uniform(0, 1), rng.uniform(0, 0.08), rng.uniform(0.85, 1.0))
    elif style.background == 1:
        bg = _rgb(rng.uniform(0, 1), rng.uniform(0, 0.2), rng.uniform(0.08, 0.22))
    else:
        bg = _rgb((hue + 0.5) % 1.0, rng.uniform(0.2, 0.35), rng.uniform(0.8, 0.95))
    image = Image.new("RGB", (size, size), bg)
    draw = ImageDraw.Draw(image)
    cx = size / 2 + rng.uniform(-0.15, 0.15) * size
    cy = size / 2 + rng.uniform(-0.15, 0.15) * size
    r = rng.uniform(0.2, 0.34) * size
    shape = _SHAPES[style.shape]
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fg)
    elif shape == "square":
        draw.rectangle((cx - r, cy - r, cx + r, cy + r), fill=fg)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fg)
    elif shape == "diamond":
        draw.polygon([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], fill=fg)
    elif shape == "ring":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=fg, width=max(2, int(r / 3)))
    elif shape == "cross":
        w = r / 3
        draw.rectangle((cx - r, cy - w, cx + r, cy + w), fill=fg)
        draw.rectangle((cx - w, cy - r, cx + w, cy + r), fill=fg)
    elif shape in ("hstripes", "vstripes"):
        period = int(rng.integers(8, 13))
        offset = int(rng.integers(0, period))
        for p in range(offset - period, size, period):
            box = (0, p, size, p + period // 2 - 1) if shape == "hstripes" else (p, 0, p + period // 2 - 1, size)
            draw.rectangle(box, fill=fg)
    elif shape == "checker":
        cell = int(rng.integers(8, 13))
        ox, oy = (int(v) for v in rng.integers(0, cell, size=2))
        for i, x in enumerate(range(ox - cell, size, cell)):
            for j, y in enumerate(range(oy - cell, size, cell)):
                if (i + j) % 2 == 0:
                    draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=fg)
    else:  # dots
        step = int(rng.integers(10, 15))
        dot = step / 3.2
        ox, oy = (int(v) for v in rng.integers(0, step, size=2))
        for x in range(ox - step, size + step, step):
            for y in range(oy - step, size + step, step):
                draw.ellipse((x - dot, y - dot, x + dot, y + dot), fill=fg)
    pixels = np.asarray(image, dtype=np.int16) + rng.integers(-18, 19, size=(size, size, 3), dtype=np.int16)
    noisy = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    noisy.save(buffer, format="PNG")
    return buffer.getvalue()


def _rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return int(r * 255), int(g * 255), int(b * 255)


__all__ = [
    "SynthConfig",
    "ambiguous_pairs",
    "generate",
    "lexicon_languages",
    "select_categories",
    "write_demo_dataset",
]
