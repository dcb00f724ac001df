"""Where a taxonomy comes from: a path, a URL, $PRODCAT_TAXONOMY, or Google's file, downloaded once.

`load_taxonomy` is how the CLI, the pipeline and the importers get their tree. This module is also
the import path of the tree's names, which most of prodcat uses: `Taxonomy` is
`prodcat.category_tree`, and `Category`, `TaxonomyError` and the file formats are
`prodcat.taxonomy_format`.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

from prodcat.category_tree import Taxonomy
from prodcat.taxonomy_format import (
    PATH_SEPARATOR,
    SHOPIFY_GID_PREFIX,
    Category,
    TaxonomyError,
    shopify_category_line,
    strip_shopify_gid,
)

__all__ = [
    "CACHE_ENV", "GOOGLE_TAXONOMY_URL", "PATH_SEPARATOR", "SHOPIFY_GID_PREFIX", "TAXONOMY_ENV", "Category", "Taxonomy",
    "TaxonomyError", "default_cache_dir", "load_taxonomy", "shopify_category_line", "strip_shopify_gid",
]

GOOGLE_TAXONOMY_URL = "https://www.google.com/basepages/producttype/taxonomy-with-ids.{locale}.txt"
TAXONOMY_ENV = "PRODCAT_TAXONOMY"
CACHE_ENV = "PRODCAT_CACHE"


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "prodcat")


def load_taxonomy(source: str | os.PathLike | None = None, locale: str = "en-US") -> Taxonomy:
    """Loads a taxonomy (Google's or Shopify's format) from a path, a URL, $PRODCAT_TAXONOMY, or
    Google's official file.

    Without a source, the official file is downloaded once into the user cache; later calls read
    the cached copy.
    """
    source = source or os.environ.get(TAXONOMY_ENV) or None
    if source is None:
        cached = default_cache_dir() / f"taxonomy-with-ids.{locale}.txt"
        if not cached.exists():
            _download(GOOGLE_TAXONOMY_URL.format(locale=locale), cached)
        return Taxonomy.from_file(cached)
    text_source = str(source)
    if text_source.startswith(("http://", "https://")):
        digest = hashlib.sha256(text_source.encode()).hexdigest()[:12]
        cached = default_cache_dir() / f"taxonomy-{digest}.txt"
        if not cached.exists():
            _download(text_source, cached)
        return Taxonomy.from_file(cached)
    path = Path(text_source).expanduser()
    if not path.exists():
        raise TaxonomyError(f"taxonomy file not found: {path}")
    return Taxonomy.from_file(path)


def _download(url: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (https URL)
            tmp.write_bytes(response.read())
    except OSError as err:
        raise TaxonomyError(
            f"could not download the taxonomy from {url} ({err}); pass a local file with "
            f"--taxonomy or set ${TAXONOMY_ENV}"
        ) from err
    os.replace(tmp, dest)
