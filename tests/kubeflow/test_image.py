"""The Docker image every Kubeflow task runs in can install prodcat from what the Dockerfile copies.

No Docker engine here, so the image is not built; this checks the one step that depends on the
repository layout: `uv pip install .` after the Dockerfile's `COPY` lines, which needs every
folder that pyproject's `package-dir` maps (a missing one fails the build with setuptools'
"package directory '...' does not exist"). The local Kubeflow run (test_kfp_local.py) runs the
tasks with the checkout's venv and so cannot notice a folder the image lacks.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import tomli

REPO = Path(__file__).resolve().parents[2]


def _build_stage_copies() -> list[str]:
    """Sources of the `COPY` lines before the project is installed (`RUN uv pip install ... .`)."""
    lines = REPO.joinpath("Dockerfile").read_text().replace("\\\n", " ").splitlines()
    install = next(i for i, line in enumerate(lines) if line.startswith("RUN uv pip install") and "." in line.split())
    sources = []
    for line in lines[:install]:
        words = line.split()
        if words and words[0] == "COPY" and not any(w.startswith("--from") for w in words):
            sources += words[1:-1]
    return sources


def _package_folders() -> set[str]:
    package_dir = tomli.loads(REPO.joinpath("pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    return {folder.split("/")[0] for folder in package_dir.values()}


def test_the_image_copies_every_folder_of_the_package() -> None:
    copied = {source.rstrip("/") for source in _build_stage_copies()}
    assert _package_folders() - copied == set()
    ignored = {line.strip() for line in REPO.joinpath(".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert copied & ignored == set(), "the build context (.dockerignore) leaves out what the Dockerfile copies"


def test_the_package_builds_from_the_copied_files_alone(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for source in _build_stage_copies():
        path = REPO / source.rstrip("/")
        if path.is_dir():
            shutil.copytree(path, src / path.name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / path.name)
    result = subprocess.run([sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "build_py",
                             "--build-lib", str(tmp_path / "lib")], cwd=src, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    built = {p.relative_to(tmp_path / "lib").parts[1] for p in (tmp_path / "lib" / "prodcat").glob("*/__init__.py")}
    assert {"contract", "trainer", "serving", "kubeflow", "pipeline", "components"} <= built
