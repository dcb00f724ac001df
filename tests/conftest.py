"""Fixtures shared by all tests: the read-only reference data beside the repo, tiny trees."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from prodcat.taxonomy import Taxonomy  # importing prodcat first selects Keras 2 for every test

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PRODCAT_SHARED", REPO.parent / "shared"))

# A made-up tree in Google's `ID - A > B > C` format (not Google's data).
TINY_GOOGLE = """\
# Google_Product_Taxonomy_Version: test
1 - Toys
2 - Toys > Kites
3 - Toys > Kites > Stunt Kites
4 - Garden
5 - Garden > Pots & Planters
"""


def _shared_file(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"reference data not found at {path}: tests read ../shared beside the repo (or $PRODCAT_SHARED)")
    return path


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared read-only data; missing data is a failure, not a skip."""
    _shared_file("datasets")
    return SHARED


@pytest.fixture(scope="session")
def google_taxonomy_path() -> Path:
    return _shared_file("taxonomy", "google_product_taxonomy.en-US.txt")


@pytest.fixture(scope="session")
def google_taxonomy(google_taxonomy_path: Path) -> Taxonomy:
    return Taxonomy.from_google_file(google_taxonomy_path)


@pytest.fixture(scope="session")
def german_taxonomy() -> Taxonomy:
    return Taxonomy.from_google_file(_shared_file("taxonomy", "google_product_taxonomy.de-DE.2015-02-19.txt"))


@pytest.fixture
def tiny_google() -> Taxonomy:
    return Taxonomy.from_google_text(TINY_GOOGLE)


@dataclasses.dataclass(frozen=True)
class DemoRun:
    """A finished run of the real pipeline: generated products over the real Google taxonomy."""

    config: object  # prodcat.config.Config
    prepared: object  # prodcat.pipeline.local_runner.PreparedRun

    @property
    def products_path(self) -> Path:
        return Path(self.prepared.inputs.data_root) / "products.jsonl"

    @property
    def serving_base(self) -> Path:
        return self.config.serving_base


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory, google_taxonomy_path: Path) -> DemoRun:
    """Runs the whole TFX pipeline once per test session (a few minutes on 2 cores).

    With $PRODCAT_TEST_DEMO_RUN_DIR set, the run lives there and is kept between sessions: ML
    Metadata's cache then reuses every component whose code and inputs did not change.
    """
    from prodcat.config import Config, DemoConfig, ModelConfig
    from prodcat.pipeline import local_runner

    kept = os.environ.get("PRODCAT_TEST_DEMO_RUN_DIR")
    config = Config(
        output_dir=kept or str(tmp_path_factory.mktemp("demo_run")), taxonomy=str(google_taxonomy_path),
        demo=DemoConfig(n_products=900, n_categories=15, n_shops=6, seed=3),
        model=ModelConfig(epochs=5),
    )
    prepared = local_runner.prepare(config)
    local_runner.run(prepared)
    return DemoRun(config, prepared)
