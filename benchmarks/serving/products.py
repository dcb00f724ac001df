"""The products the benchmark sends: the user's file, else the demo data next to the model, else synthetic.

Real products (the demo run's) give the model realistic inputs; generated ones keep the benchmark
usable without a run's data. The same list goes to the server and to `prodcat predict`, so the
ratios compare like with like.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from pathlib import Path
from typing import Any


def find_demo_products(model_base_path: str | os.PathLike) -> Path | None:
    """The newest `demo_data/*/products.jsonl` of the `prodcat run --output` dir holding the model."""
    path = Path(model_base_path).resolve()
    for parent in [path, *path.parents][:4]:
        candidates = sorted((parent / "demo_data").glob("*/products.jsonl"), key=lambda p: p.stat().st_mtime)
        if candidates:
            return candidates[-1]
    return None


def load_products(
    n: int, products_path: str | os.PathLike | None = None, model_base_path: str | os.PathLike | None = None, seed: int = 0,
) -> tuple[list[Any], str]:
    """`n` products (prodcat.records.Product) and where they came from.

    From `products_path`, else the demo data next to the model, else prodcat.synth over the
    taxonomy of $PRODCAT_TAXONOMY. A file with fewer than `n` products is cycled (ids suffixed
    `~k`, since ids must be unique).
    """
    from prodcat.readers import read_products

    path = Path(products_path) if products_path else (find_demo_products(model_base_path) if model_base_path else None)
    if path is not None:
        pool = read_products(path)
        source = str(path)
        if not pool:
            raise ValueError(f"{path}: no products")
    else:
        from prodcat.synth import SynthConfig, generate
        from prodcat.taxonomy import load_taxonomy

        pool = generate(load_taxonomy(), SynthConfig(n_products=max(n, 100), seed=seed))
        source = f"prodcat.synth (seed {seed}) over {os.environ.get('PRODCAT_TAXONOMY') or 'the default taxonomy'}"
    products = pool[:n]
    for k in itertools.count(1):
        if len(products) >= n:
            break
        products += [dataclasses.replace(p, id=f"{p.id}~{k}") for p in pool[: n - len(products)]]
    if len(pool) < n:
        source += f" ({len(pool)} products, cycled)"
    return products, source
