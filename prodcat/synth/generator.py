"""`generate`: the labelled listings, put together from categories, shops, text, noise and images.

This module only orchestrates; each part lives in its own module and draws from its own seeded
stream (`random_streams`), so the same (taxonomy, config, localized trees) give the same listings.
"""

from __future__ import annotations

from collections.abc import Mapping

from prodcat.records import Product
from prodcat.synth.categories import class_counts, consecutive_pairs, select_categories
from prodcat.synth.config import SynthConfig, is_paired, validate
from prodcat.synth.images import image_styles, render_image
from prodcat.synth.listing import CategoryNames, make_listing
from prodcat.synth.noise import mislabel
from prodcat.synth.random_streams import image_stream, stream
from prodcat.synth.shops import OneOffSellers, make_shops
from prodcat.taxonomy import Taxonomy


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
    validate(config)
    localized = dict(localized or {})
    categories = select_categories(taxonomy, config)
    counts = class_counts(len(categories), config)
    categories = categories[: len(counts)]
    names = CategoryNames(taxonomy, localized)

    # Pair structure (ambiguous mode): the anchor decides shop and collections, so nothing but
    # the image depends on which member of a pair a product belongs to.
    pair_of: dict[str, tuple[str, ...]] = {}
    for pair in consecutive_pairs(categories) if is_paired(config) else [(c,) for c in categories]:
        for cid in pair:
            pair_of[cid] = pair

    shops = make_shops(taxonomy, [pair_of[c][0] for c in categories], config)
    shops_by_top: dict[str, list[int]] = {}
    for index, shop in enumerate(shops):
        for top in shop.tops:
            shops_by_top.setdefault(top, []).append(index)
    shop_weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(shops))]

    labels = [cid for cid, count in zip(categories, counts) for _ in range(count)]
    order_rng = stream(config.seed, "order")
    order_rng.shuffle(labels)

    styles = image_styles(categories, pair_of, config) if config.images else {}
    image_rng = image_stream(config.seed)

    text_rng = stream(config.seed, "text")
    lang_rng = stream(config.seed, "language")
    overlap_rng, terse_rng = stream(config.seed, "overlap"), stream(config.seed, "terse")
    sellers = OneOffSellers(config, shops)
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
        product = make_listing(
            text_rng, taxonomy, names, cid, group, language, shop, config.noise,
            product_id=f"syn{config.seed}-{index:0{width}d}", terse=terse,
        )
        if config.images:
            product.image = render_image(styles[cid], image_rng)
        products.append(product)
    mislabel(taxonomy, products, categories, config)
    return products

