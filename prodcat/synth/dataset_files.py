"""`write_demo_dataset`: generated listings as files a pipeline reads, written so none is ever partial.

`prodcat run` writes its demo data once into a content-addressed directory and reuses it, so a
reader must never find a half-written dataset there.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

from prodcat.readers import write_jsonl
from prodcat.records import Product
from prodcat.synth.config import SynthConfig
from prodcat.synth.generator import generate
from prodcat.taxonomy import Taxonomy


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
