"""The README's REST (curl) and gRPC (Python, tensorflow-serving-api) examples, run as written
against `prodcat serve` on the demo model; only the ports are the test's own."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import portpicker
import pytest

from prodcat.serving.server import ModelServer, ServerOptions

REPO = Path(__file__).resolve().parents[2]


def readme_example(name: str) -> str:
    """The fenced code block after `<!-- test: NAME -->` in README.md."""
    match = re.search(rf"<!-- test: {name} -->\n```\w+\n(.*?)```", (REPO / "README.md").read_text(encoding="utf-8"), re.S)
    assert match, f"README.md has no example marked <!-- test: {name} -->"
    return match.group(1)


@pytest.fixture(scope="module")
def server(demo_run) -> Iterator[ModelServer]:
    options = ServerOptions(model_base_path=str(demo_run.serving_base), port=portpicker.pick_unused_port(),
                            rest_api_port=portpicker.pick_unused_port())
    with ModelServer(options) as running:
        yield running


@pytest.mark.slow
def test_the_rest_example(server: ModelServer) -> None:
    command = readme_example("rest").replace("127.0.0.1:8501", f"127.0.0.1:{server.rest_port}")
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    predictions = json.loads(result.stdout)["predictions"]
    assert len(predictions) == 2
    for answer in predictions:
        assert answer["full_depth"] >= 1 and len(answer["level_confidences"]) == len(answer["level_ids"])
        assert answer["category_path"].startswith(answer["level_names"][0]) or answer["depth"] == 0


@pytest.mark.slow
def test_the_grpc_example(server: ModelServer, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(readme_example("grpc").replace("127.0.0.1:8500", f"127.0.0.1:{server.port}"), encoding="utf-8")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2 and all(re.fullmatch(r"\d ?.*", line) for line in lines), lines
