"""Dataset importers: public product datasets -> canonical product JSONL + taxonomy + report.

    import_dataset("mwpd", Path("/data/mwpd2020_gs1"), Path("out/mwpd"))

writes `products.jsonl`, `taxonomy.txt` (own-tree datasets), `unmapped.jsonl`, `splits.json`
(datasets with splits) and `import_report.json` into the output directory.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prodcat.importers.base import ImportResult
from prodcat.importers.flipkart import import_flipkart
from prodcat.importers.mwpd import import_mwpd
from prodcat.importers.myntra import import_myntra
from prodcat.importers.shopify import import_shopify
from prodcat.importers.shopify_mapping import ShopifyToGoogle
from prodcat.taxonomy import Taxonomy

IMPORTERS: dict[str, Callable[..., ImportResult]] = {
    "mwpd": import_mwpd,
    "shopify": import_shopify,
    "flipkart": import_flipkart,
    "myntra": import_myntra,
}

__all__ = ["IMPORTERS", "ImportResult", "import_dataset"]


def import_dataset(
    name: str, src: str | os.PathLike, out: str | os.PathLike, taxonomy: Taxonomy | None = None,
    shopify_mapping: ShopifyToGoogle | None = None,
) -> dict[str, Any]:
    """Imports dataset `name` from `src` into the directory `out`; returns the import report.

    `taxonomy` is the Google taxonomy for shopify (default: `load_taxonomy()`); for own-tree
    datasets it is optional and, when given, labels outside it are reported as unmapped.
    `shopify_mapping` (shopify only) turns Shopify categories that are not Google paths into Google ids.
    Raises ValueError for an unknown name or a `src` that does not hold that dataset.
    """
    if name not in IMPORTERS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(sorted(IMPORTERS))}")
    src = Path(src)
    if not src.exists():
        raise ValueError(f"{name}: source {src} does not exist")
    start = time.perf_counter()
    if shopify_mapping is not None and name != "shopify":
        raise ValueError(f"{name}: a Shopify category mapping applies only to the shopify importer")
    options = {"shopify_mapping": shopify_mapping} if shopify_mapping is not None else {}
    result = IMPORTERS[name](src, taxonomy=taxonomy, **options)
    result.elapsed_seconds = time.perf_counter() - start
    return result.write(out)
