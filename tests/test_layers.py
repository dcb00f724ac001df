"""The layering contracts (pyproject's [tool.importlinter]) hold, cover every domain module, and bite."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomli

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CONTRACTS = tomli.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def _lint(cwd: Path, config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "lint-imports"), "--config", str(config)], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_the_layering_contracts_hold() -> None:
    result = subprocess.run(["bash", str(REPO / "scripts" / "lint-imports.sh")], capture_output=True, text=True,
                            timeout=120, env=dict(os.environ, VENV_BIN=str(BIN)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_domain_contract_lists_every_domain_module() -> None:
    """A new module in prodcat/ must be named in the domain contract, or it escapes the rules."""
    domain = next(c for c in CONTRACTS if c["name"].startswith("The domain"))
    on_disk = {f"prodcat.{p.stem}" for p in (REPO / "prodcat").glob("*.py")} | {
        f"prodcat.{p.parent.name}" for p in (REPO / "prodcat").glob("*/__init__.py")}
    assert on_disk - {"prodcat.__init__", "prodcat.cli"} == set(domain["source_modules"])


@pytest.fixture(scope="module")
def built_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lib = tmp_path_factory.mktemp("lint") / "lib"
    subprocess.run([sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "build_py", "--build-lib", str(lib)],
                   cwd=REPO, check=True, capture_output=True, timeout=120)
    return lib


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("prodcat/trainer/leak.py", "from prodcat.serving import predict", "Each folder imports only the folders below it"),
    ("prodcat/serving/leak.py", "import prodcat.trainer.run", "Each folder imports only the folders below it"),
    ("prodcat/components/leak.py", "from prodcat.pipeline import pipeline", "Each folder imports only the folders below it"),
    ("prodcat/reporting/leak.py", "import prodcat.benchmarks.quality", "Each folder imports only the folders below it"),
    ("prodcat/taxonomy.py", "def later():\n    import tensorflow", "The domain (prodcat/) imports no TensorFlow, TFX or ML Metadata, and nothing above it"),
    ("prodcat/records.py", "from ml_metadata import metadata_store", "The domain (prodcat/) imports no TensorFlow, TFX or ML Metadata, and nothing above it"),
    ("prodcat/contract/signatures.py", "import tensorflow_serving", "The serving contract's signatures module is TF-free"),
])
def test_each_rule_fails_on_a_violation(built_package: Path, tmp_path: Path, module: str, line: str, contract: str) -> None:
    tree = tmp_path / "lib"
    shutil.copytree(built_package, tree)
    path = tree / module
    path.write_text((path.read_text() if path.exists() else "") + "\n" + line + "\n")
    result = _lint(tree, REPO / "pyproject.toml")
    assert result.returncode != 0
    broken_section = " ".join(result.stdout.split("Broken contracts", 1)[-1].split())  # names wrap at 80 columns
    assert contract in broken_section, result.stdout
    imported = re.search(r"(?:from|import) ([\w.]+)", line).group(1)
    assert f"-> {imported}" in broken_section, result.stdout
