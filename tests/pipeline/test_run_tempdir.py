"""A pipeline run leaves nothing in the temp directory: TFX's per-component sdist included."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from prodcat.pipeline.local_runner import run_scoped_tempdir


def test_temp_files_of_a_run_are_removed_and_the_temp_dir_restored() -> None:
    before = tempfile.gettempdir()
    with run_scoped_tempdir() as scoped:
        made = Path(tempfile.mkdtemp())
        assert made.parent == scoped
        (made / "partial").write_bytes(b"x" * 1024)
    assert not scoped.exists(), "the run's temp directory outlives the run"
    assert tempfile.gettempdir() == before


def test_the_tfx_beam_dependency_package_lands_in_the_scoped_dir() -> None:
    """What filled disks: every Beam component repackages TFX into a temp dir it never removes."""
    from tfx.utils import dependency_utils

    with run_scoped_tempdir() as scoped:
        sdist = Path(dependency_utils.build_ephemeral_package())
        assert sdist.is_file() and scoped in sdist.parents
    assert not sdist.exists()


def test_the_hub_cache_keeps_its_place_outside_the_run(monkeypatch) -> None:
    monkeypatch.delenv("TFHUB_CACHE_DIR", raising=False)
    outer = tempfile.gettempdir()
    with run_scoped_tempdir():
        assert os.environ["TFHUB_CACHE_DIR"] == os.path.join(outer, "tfhub_modules")
    assert "TFHUB_CACHE_DIR" not in os.environ
    monkeypatch.setenv("TFHUB_CACHE_DIR", "/data/hub")
    with run_scoped_tempdir():
        assert os.environ["TFHUB_CACHE_DIR"] == "/data/hub"
    assert os.environ["TFHUB_CACHE_DIR"] == "/data/hub"
