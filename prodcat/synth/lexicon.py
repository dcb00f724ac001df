"""Per-language template words of a listing: colours, materials, sizes, phrasing of sets and packs.

Category words come from the taxonomy (localized when a localized tree is given); everything else
in a title or description comes from here, so a listing reads like one language throughout.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Language:
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
LEXICON: dict[str, Language] = {
    "en": Language(
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
    "de": Language(
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
    "es": Language(
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
    "fr": Language(
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
    "it": Language(
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
FALLBACK_LANGUAGE = "en"  # template words for a language the lexicon does not cover

# Words of a category name that are not words of the category ("Pots & Planters").
CONNECTORS = frozenset({"&", "and", "und", "et", "y", "e", "o", "or", "oder", "ou", "-", "/", "+"})
# Words too common to be a tag or a terse title's one category word.
STOPWORDS = frozenset({
    "for", "with", "the", "of", "für", "mit", "von", "zur", "zum", "der", "die", "das", "des", "den",
    "para", "con", "del", "las", "los", "pour", "avec", "les", "des", "aux", "per", "di", "da", "dei",
    "delle", "degli", "della",
})


def lexicon_for(language: str) -> Language:
    """The template words of `language`, English ones for a language the lexicon lacks."""
    return LEXICON.get(language, LEXICON[FALLBACK_LANGUAGE])


def lexicon_languages() -> tuple[str, ...]:
    """Languages with built-in template words; others fall back to English templates."""
    return tuple(LEXICON)
