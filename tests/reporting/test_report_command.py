"""`prodcat report`: on nothing to report, and on the demo run (its sections, TFMA's numbers, reuse, headless Chromium)."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from report_fixtures import IMAGES, SECTIONS, _parse

from prodcat.cli import main
from prodcat.reporting.report_charts import LEVEL_COLOURS


def _empty_store(path: Path) -> None:
    from ml_metadata.proto import metadata_store_pb2

    from ml_metadata.metadata_store import metadata_store

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    store = metadata_store.MetadataStore(config)
    type_id = store.put_context_type(metadata_store_pb2.ContextType(name="pipeline_run"))
    store.put_contexts([metadata_store_pb2.Context(type_id=type_id, name="run-without-evaluation")])


def test_report_command_says_plainly_when_there_is_nothing_to_report(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "neither a run's output directory nor a config file" in capsys.readouterr().err
    assert main(["report", str(tmp_path)]) == 2
    assert "no ML Metadata database" in capsys.readouterr().err
    _empty_store(tmp_path / "metadata.sqlite")
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "run-without-evaluation" in err and "has no evaluation" in err and "Traceback" not in err
    assert not (tmp_path / "report").exists()


# ----------------------------------------------------------------------------- the demo run
@pytest.fixture(scope="module")
def demo_report(demo_run, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """`prodcat report` on the demo run's output directory, into a directory of its own."""
    out = tmp_path_factory.mktemp("report")
    started = time.time()
    assert main(["report", str(demo_run.config.output_path), "--output", str(out)]) == 0
    return out / "index.html", time.time() - started


@pytest.mark.e2e
def test_each_local_run_writes_its_report_and_the_summary_names_it(demo_run) -> None:
    from prodcat.reporting.summary import describe_split, format_summary, latest_run_summary

    summary = latest_run_summary(demo_run.config.metadata_path)
    index = demo_run.config.output_path / "report" / "index.html"
    assert summary.report == str(index) and index.is_file()
    assert summary.run_id in json.loads((index.parent / "report.json").read_text(encoding="utf-8"))["runs"]
    assert f"  report: {index}" in format_summary(summary, None, 7)
    # The newest run in the store may be another test's (test_gates re-runs on degraded files).
    assert summary.split and summary.split["by"] in ("shop", "product", "files"), "ExampleGen records its split"
    assert f"    {describe_split(summary.split)}\n" in format_summary(summary, None, 7)


@pytest.mark.e2e
def test_a_rerun_of_the_same_model_and_evaluation_reuses_the_report(demo_run, demo_report, tmp_path: Path) -> None:
    """A re-run with everything from the cache would decode the eval split again for the same page."""
    from prodcat.reporting.report import reuse_report
    from prodcat.reporting.report_run import run_inputs
    from prodcat.reporting.summary import latest_run_summary

    index, _ = demo_report
    out = tmp_path / "report"
    shutil.copytree(index.parent, out)
    manifest_path = out / "report.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["runs"] = ["an earlier run"]
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    page = (out / "index.html").read_bytes()
    metadata = demo_run.config.metadata_path
    assert reuse_report(out, *run_inputs(metadata)) == out / "index.html"
    assert json.loads(manifest_path.read_text(encoding="utf-8"))["runs"] == [
        "an earlier run", latest_run_summary(metadata).run_id]
    assert (out / "index.html").read_bytes() == page
    manifest["model"] = "/another/model"
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    assert reuse_report(out, *run_inputs(metadata)) is None


@pytest.mark.e2e
def test_demo_report_has_every_section_and_its_images(demo_report) -> None:
    index, seconds = demo_report
    page = _parse(index.read_text(encoding="utf-8"))
    assert set(SECTIONS) <= page.ids() and set(IMAGES) <= page.ids()
    images = [a["src"] for t, a in page.tags if t == "img"]
    assert len(images) >= 3 and all(src.startswith("data:image/png;base64,") for src in images)
    for name in IMAGES:
        assert (index.parent / f"{name}.png").stat().st_size > 5000
    manifest = json.loads((index.parent / "report.json").read_text(encoding="utf-8"))
    assert 100 < manifest["products"] < 300
    assert seconds < 300, f"prodcat report took {seconds:.0f} s"


@pytest.mark.e2e
def test_slice_tables_show_exactly_tfmas_numbers(demo_report) -> None:
    import tensorflow_model_analysis as tfma

    index, _ = demo_report
    manifest = json.loads((index.parent / "report.json").read_text(encoding="utf-8"))
    expected: dict[tuple[str, str], float] = {}
    for metrics_for_slice in tfma.load_metrics(manifest["evaluation"]):
        keys = metrics_for_slice.slice_key.single_slice_keys
        slice_id = "overall" if not keys else " & ".join(k.column for k in keys) + "=" + " & ".join(
            k.bytes_value.decode() for k in keys)
        for item in metrics_for_slice.metric_keys_and_values:
            if item.key.model_name in ("", "candidate") and not item.key.is_diff and item.value.HasField("double_value"):
                expected[(slice_id, item.key.name)] = item.value.double_value.value
    cells = _parse(index.read_text(encoding="utf-8")).cells
    slices_shown = {s for s, _, _ in cells}
    assert {"overall"} < slices_shown
    for prefix in ("slice_level1_xf=", "language=", "shop="):
        assert any(s.startswith(prefix) for s in slices_shown), prefix
    assert len(cells) > 50
    for slice_id, metric, value in cells:
        want = expected[(slice_id, metric)]
        got = float(value)
        assert got == want or (math.isnan(got) and math.isnan(want)), (slice_id, metric, got, want)


def _chromium() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Chromium is needed to check that the report renders: install it with "
                    "`sudo apt-get install -y chromium` (Debian/Ubuntu; .ci/run does this), or set $CHROMIUM")
    return path


def _headless(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


@pytest.mark.e2e
def test_report_renders_in_headless_chromium(demo_report, tmp_path: Path) -> None:
    from PIL import Image

    index, _ = demo_report
    chromium = _chromium()
    shot = tmp_path / "report.png"
    result = _headless(chromium, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2400",
                       index.as_uri())
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 2400)
    pixels = np.asarray(image).reshape(-1, 3)
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    assert len(colours) > 50 and counts.max() / len(pixels) < 0.9, "a blank or near-blank page"
    # The charts were drawn, not blocked: the curves' colours (which the page's CSS does not use) are on it.
    curve_colours = [tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in LEVEL_COLOURS[:5]]
    near = [(np.abs(pixels.astype(int) - colour).max(axis=1) < 20).sum() for colour in curve_colours]
    assert sum(near) > 300, near
    if os.environ.get("PRODCAT_TEST_KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["PRODCAT_TEST_KEEP_SCREENSHOT"])

    dom = _headless(chromium, tmp_path / "profile", "--dump-dom", index.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = _parse(dom.stdout)
    assert set(SECTIONS) <= page.ids() and set(IMAGES) <= page.ids()
    assert sum(1 for t, a in page.tags if t == "img" and a["src"].startswith("data:image/png;base64,")) >= 3
    assert sum(1 for t, _ in page.tags if t == "tr") > 20
