"""The synthetic listings are reproducible (seed, images, processes), and the demo dataset files round-trip."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from synth_fixtures import _digest
from synth_fixtures import google, tiny  # noqa: F401 (fixtures)

from prodcat.readers import read_products
from prodcat.synth import SynthConfig, generate, write_demo_dataset
from prodcat.taxonomy import Taxonomy


def test_same_seed_same_output_different_seed_differs(google: Taxonomy) -> None:
    config = SynthConfig(n_products=300, images=True)
    first, second = generate(google, config), generate(google, config)
    assert _digest(first) == _digest(second)
    assert [p.image for p in first] == [p.image for p in second]
    other = generate(google, dataclasses.replace(config, seed=1))
    assert _digest(other) != _digest(first)
    assert {p.category for p in other} != {p.category for p in first}


def test_images_do_not_change_the_text(google: Taxonomy) -> None:
    config = SynthConfig(n_products=200)
    plain = generate(google, config)
    with_images = generate(google, dataclasses.replace(config, images=True))
    assert _digest(plain) == _digest([dataclasses.replace(p, image=None) for p in with_images])


def test_deterministic_across_processes(tmp_path: Path) -> None:
    """No dependence on PYTHONHASHSEED (set iteration, hash())."""
    script = (
        "import sys\n"
        "from prodcat.taxonomy import Taxonomy\n"
        "from prodcat.synth import SynthConfig, write_demo_dataset\n"
        "tax = Taxonomy.from_paths(['A > A1 > X', 'A > A2', 'B > B1', 'B > B2 > Y', 'C > C1'])\n"
        "write_demo_dataset(tax, sys.argv[1], SynthConfig(n_products=60, images=True, ambiguous_titles=True))\n"
    )
    digests = []
    for hash_seed in ("1", "2"):
        out = tmp_path / hash_seed
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-c", script, str(out)], check=True, env=env, cwd=Path(__file__).parents[2])
        files = sorted(p for p in out.rglob("*") if p.is_file())
        digests.append(hashlib.sha256(b"".join(p.name.encode() + p.read_bytes() for p in files)).hexdigest())
    assert digests[0] == digests[1]


def test_write_demo_dataset_round_trip(tiny: Taxonomy, tmp_path: Path) -> None:
    config = SynthConfig(n_products=40, images=True)
    path = write_demo_dataset(tiny, tmp_path / "demo", config)
    assert path == tmp_path / "demo" / "products.jsonl"
    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert all(row["image"] == f"images/{row['id']}.png" for row in raw)
    assert not list((tmp_path / "demo").rglob("*.tmp"))
    loaded = read_products(path)
    expected = generate(tiny, config)
    assert [p.id for p in loaded] == [p.id for p in expected]
    assert [p.image for p in loaded] == [p.image for p in expected]
    assert [(p.title, p.category, p.language, p.shop) for p in loaded] == [
        (p.title, p.category, p.language, p.shop) for p in expected
    ]
    text_only = write_demo_dataset(tiny, tmp_path / "text", SynthConfig(n_products=20))
    assert all(p.image is None for p in read_products(text_only))
