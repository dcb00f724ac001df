"""Shopify's Standard Product Taxonomy -> Google Product Taxonomy, with Shopify's own mapping.

Shopify stores export `Product Category` as a Shopify path ("Apparel & Accessories > Clothing >
Activewear > Activewear Tops > T-Shirts"), often in the store's language, and Shopify's tree
differs from Google's below the top levels. Shopify publishes the correspondence
(`data/integrations/google/<version>/mappings/from_shopify.yml` in Shopify/product-taxonomy:
one rule per Shopify category, each naming Google ids) and its category list per language
(`dist/<locale>/categories.txt`, `gid://shopify/TaxonomyCategory/<id> : A > B`). With both, a
Shopify label becomes a Google id instead of an unmapped record.

A localized path that two Shopify categories share (a translation that merges siblings) is
ambiguous and maps to nothing; a rule with several Google ids takes the first, as the mapping
lists its best match first.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import yaml

from prodcat.taxonomy import shopify_category_line, strip_shopify_gid


def fold_path(path: str) -> str:
    """A path compared case- and spacing-insensitively (stores export either)."""
    return ">".join(" ".join(part.split()).casefold() for part in path.split(">"))


class ShopifyMappingError(ValueError):
    """A mapping or category file that is not in Shopify's format; the message names the file."""


class ShopifyToGoogle:
    """Shopify category (id, gid or path in any language read) -> Google category id."""

    def __init__(self, rules: dict[str, str], paths: dict[str, str]) -> None:
        self.rules = rules   # Shopify id -> Google id
        self.paths = paths   # folded Shopify path -> Shopify id

    @classmethod
    def from_files(cls, mapping: str | os.PathLike, categories: Iterable[str | os.PathLike] = ()) -> ShopifyToGoogle:
        """Reads the mapping YAML and Shopify category files (`categories.txt`, any locale)."""
        return cls(read_mapping_rules(mapping), read_category_paths(categories))

    def google_id(self, label: str) -> str | None:
        label = label.strip()
        short = strip_shopify_gid(label)
        shopify_id = short if short in self.rules else self.paths.get(fold_path(label))
        return self.rules.get(shopify_id) if shopify_id else None


def read_mapping_rules(path: str | os.PathLike) -> dict[str, str]:
    """Shopify id -> first Google id of its rule, from Shopify's `from_shopify.yml`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        if hasattr(yaml, "CSafeLoader"):  # libyaml: the 1.3 MB mapping in under 2 s instead of about 10
            document = yaml.load(text, Loader=yaml.CSafeLoader)
        else:
            document = yaml.load(text, Loader=yaml.SafeLoader)
        rules = {}
        for rule in document["rules"]:
            outputs = rule["output"]["product_category_id"]
            if outputs:
                rules[str(rule["input"]["product_category_id"])] = str(outputs[0])
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError) as err:
        raise ShopifyMappingError(f"{path}: not a Shopify -> Google mapping file "
                                  f"(rules: [{{input: {{product_category_id}}, output: {{product_category_id: [...]}}}}]): {err!r}") from None
    return rules


def read_category_paths(files: Iterable[str | os.PathLike]) -> dict[str, str]:
    """Folded path -> Shopify id over every file; paths naming two categories are dropped."""
    paths: dict[str, str] = {}
    ambiguous: set[str] = set()
    for name in files:
        try:
            lines = Path(name).read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise ShopifyMappingError(f"{name}: cannot read the Shopify category file ({err})") from None
        found = 0
        for line in lines:
            parsed = shopify_category_line(line)
            if parsed is None:
                continue
            shopify_id, key = parsed[0], fold_path(parsed[1])
            found += 1
            if paths.setdefault(key, shopify_id) != shopify_id:
                ambiguous.add(key)
        if not found:
            raise ShopifyMappingError(f"{name}: no 'gid://shopify/TaxonomyCategory/ID : A > B' lines")
    for key in ambiguous:
        del paths[key]
    return paths
