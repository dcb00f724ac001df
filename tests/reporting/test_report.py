"""The run report: its analyses, HTML safety, `prodcat report`, and how it renders in a real browser.

The fast tests build reports from made-up eval records; the e2e ones read the demo run (the real
pipeline) back from ML Metadata and open the page in headless Chromium.
"""

from __future__ import annotations

import html.parser
import json
import math
import os
import random
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from prodcat.cli import main
from prodcat.reporting import report as R
from prodcat.reporting import report_analysis as A
from prodcat.reporting.report_charts import LEVEL_COLOURS
from prodcat.reporting.report_data import EvalRecord, GateVerdict, ReportData, SliceMetrics
from prodcat.taxonomy import Taxonomy

SECTIONS = ("gates", "precision-coverage", "slices", "confusion", "worst-categories", "mistakes")
IMAGES = ("precision_coverage_levels", "precision_coverage_hierarchical", "confusion_level1")
EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes" \'single\''


class _Page(html.parser.HTMLParser):
    """Tags, ids and the data-* cells of a report page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.cells: list[tuple[str, str, str]] = []  # (slice, metric, exact value)
        self._slice = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attributes))
        if tag == "tr" and "data-slice" in attributes:
            self._slice = attributes["data-slice"]
        if tag == "td" and "data-value" in attributes:
            self.cells.append((self._slice, attributes["data-metric"], attributes["data-value"]))

    def ids(self) -> set[str]:
        return {a["id"] for _, a in self.tags if "id" in a}


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


# ----------------------------------------------------------------------------- made-up runs
def _records(taxonomy: Taxonomy, n: int, seed: int = 0) -> list[EvalRecord]:
    """Eval records over the tiny tree with random greedy paths, confidences and served depths."""
    rng = random.Random(seed)
    leaves = [c.id for c in taxonomy.categories]
    records = []
    for i in range(n):
        true_id = rng.choice(leaves)
        predicted = true_id if rng.random() < 0.6 else rng.choice(leaves)
        path = taxonomy.ancestors(predicted)
        while taxonomy.children(path[-1]) and rng.random() < 0.5:
            path.append(rng.choice(taxonomy.children(path[-1])))
        confidences = tuple(round(rng.random(), 2) for _ in path)
        served = next((k for k, c in enumerate(confidences) if c < 0.3), len(path))
        records.append(EvalRecord(f"p{i}", f"product {i}", tuple(taxonomy.ancestors(true_id)), tuple(path),
                                    confidences, served, language=rng.choice(["en", "de"]), shop=f"shop{i % 3}"))
    return records


def _data(taxonomy: Taxonomy, records: list[EvalRecord]) -> ReportData:
    slices = [
        SliceMetrics("", "", {"example_count": float(len(records)), "coverage": 0.8, "hierarchical_f1": 0.7,
                                "hierarchical_precision": 0.75, "accuracy_level_1": 0.9}, {"hierarchical_f1": -0.01}),
        SliceMetrics("shop", EVIL, {"example_count": 3.0, "coverage": 1.0 / 3.0}, {}),
        SliceMetrics("language", "de", {"example_count": 5.0, "coverage": math.nan}, {}),
    ]
    gates = [GateVerdict("overall", "hierarchical_f1", False, "≥ 0.5", 0.7, "pass"),
             GateVerdict("overall", "hierarchical_f1", True, "change vs baseline ≥ -0.02", -0.01, "pass"),
             GateVerdict("overall", "coverage", False, "≥ 0.9", 0.8, "fail", EVIL)]
    return ReportData("run-1", taxonomy, records, slices, gates, blessed=False, evaluation_uri="/e", model_dir="/m")


def test_untrusted_text_is_escaped_and_the_page_cannot_run_scripts(tiny_google: Taxonomy, tmp_path: Path) -> None:
    records = [EvalRecord("p0", EVIL, ("1", "2"), ("4",), (0.99,), 1)]  # a confident mistake: shown
    records += [EvalRecord(f"ok{i}", "pot", ("4", "5"), ("4", "5"), (0.9, 0.9), 2) for i in range(10)]
    index = R.render_report(_data(tiny_google, records), tmp_path / "report")
    text = index.read_text(encoding="utf-8")
    assert 'data-product="p0"><td class="title">' + html_escaped(EVIL) + "</td>" in text
    page = _parse(text)
    assert not [t for t, _ in page.tags if t in ("script", "iframe", "object", "embed")]
    assert all(a.get("src", "").startswith("data:image/png;base64,") for t, a in page.tags if t == "img")
    assert not [a for _, a in page.tags if any(k.startswith("on") for k in a)], "no event handler attributes"
    assert html_escaped(EVIL) in text  # the title, the shop slice, the gate message: all as text
    assert "<script>" not in text and "<img src=x" not in text
    assert "default-src 'none'" in text  # and the page's CSP forbids scripts and remote loads anyway


def html_escaped(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def test_report_sections_images_and_files(tiny_google: Taxonomy, tmp_path: Path) -> None:
    index = R.render_report(_data(tiny_google, _records(tiny_google, 80)), tmp_path / "r")
    page = _parse(index.read_text(encoding="utf-8"))
    assert set(SECTIONS) <= page.ids() and set(IMAGES) <= page.ids()
    for name in IMAGES:
        assert (tmp_path / "r" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    manifest = json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8"))
    assert manifest["run_id"] == "run-1" and manifest["products"] == 80


def test_a_model_of_the_demo_data_says_so_at_the_top(tiny_google: Taxonomy, tmp_path: Path) -> None:
    import dataclasses

    from prodcat.config import Config
    from prodcat.reporting.report_data import synthetic_data_note

    note = synthetic_data_note(Config())
    assert note.startswith("Demo data: 3,000 synthetic products") and "knows only those categories" in note
    assert synthetic_data_note(Config(data="products.jsonl")) == ""
    data = dataclasses.replace(_data(tiny_google, _records(tiny_google, 20)), data_note=note)
    page = R.render_report(data, tmp_path / "r").read_text(encoding="utf-8")
    assert f'<p class="note" id="data-note"><strong>{html_escaped(note)}</strong></p>' in page
    plain = R.render_report(_data(tiny_google, _records(tiny_google, 20)), tmp_path / "plain").read_text(encoding="utf-8")
    assert 'id="data-note"' not in plain


def _serve(record: EvalRecord, threshold: float) -> tuple[str, ...]:
    """What serving would return with one floor for every level."""
    depth = next((k for k, c in enumerate(record.confidences) if c < threshold), len(record.full_path))
    return record.full_path[:depth]


def test_curves_equal_a_direct_count_of_what_serving_would_return(tiny_google: Taxonomy) -> None:
    records = _records(tiny_google, 300, seed=7)
    depth = A.used_depth(records)
    for level, thresholds, coverage, precision in A.level_curves(records, depth):
        for t, cov, prec in list(zip(thresholds, coverage, precision))[::7]:
            served = [(r, _serve(r, t)) for r in records]
            covered = [(r, s) for r, s in served if len(s) >= level]
            assert cov == pytest.approx(len(covered) / len(records))
            right = sum(len(r.true_path) >= level and r.true_path[level - 1] == s[level - 1] for r, s in covered)
            assert prec == pytest.approx(right / len(covered))
    grid = np.array([0.0, 0.25, 0.5, 0.75, 0.95])
    thresholds, coverage, precision, recall = A.hierarchical_curve(records, depth, grid)
    for t, cov, prec, rec in zip(thresholds, coverage, precision, recall):
        served = [(r, set(_serve(r, t))) for r in records]
        overlap = sum(len(set(r.true_path) & s) for r, s in served)
        assert cov == pytest.approx(sum(bool(s) for _, s in served) / len(records))
        assert prec == pytest.approx(overlap / sum(len(s) for _, s in served))
        assert rec == pytest.approx(overlap / sum(len(r.true_path) for r in records))


def test_worst_categories_and_mistakes(tiny_google: Taxonomy) -> None:
    wrong = EvalRecord("a", "kite", ("1", "2", "3"), ("4", "5"), (0.9, 0.8), 2)
    shallow = EvalRecord("b", "kite 2", ("1", "2", "3"), ("1", "2", "3"), (0.9, 0.8, 0.1), 2)
    right = EvalRecord("c", "pot", ("4", "5"), ("4", "5"), (0.9, 0.9), 2)
    deep = EvalRecord("d", "pot 2", ("4",), ("4", "5"), (0.9, 0.9), 2)
    scores = {s.category_id: s for s in A.category_scores([wrong, shallow, right])}
    assert (scores["3"].support, scores["3"].f1) == (2, 0.0)
    assert scores["5"].precision == 0.5 and scores["5"].recall == 1.0
    assert A.category_scores([wrong, shallow, right])[0].category_id == "3"
    assert [A.mistake_kind(r) for r in (wrong, shallow, right)] == ["wrong category", "stopped early", "correct"]
    assert A.mistake_kind(deep) == "too specific"
    assert A.example_mistakes([shallow, wrong, right], "3") == [wrong, shallow]
    assert A.example_mistakes([shallow, wrong, right], "3", exclude={"a"}) == [shallow]


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
    from prodcat.reporting.summary import format_summary, latest_run_summary

    summary = latest_run_summary(demo_run.config.metadata_path)
    index = demo_run.config.output_path / "report" / "index.html"
    assert summary.report == str(index) and index.is_file()
    assert summary.run_id in json.loads((index.parent / "report.json").read_text(encoding="utf-8"))["runs"]
    assert f"  report: {index}" in format_summary(summary, None, 7)


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
