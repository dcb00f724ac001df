"""The rendered page of made-up runs: untrusted text escaped, no scripts, every section, image and file, the demo-data note."""

from __future__ import annotations

import json
from pathlib import Path

from report_fixtures import EVIL, IMAGES, SECTIONS, _data, _parse, _records, html_escaped

from prodcat.reporting import report as R
from prodcat.reporting.report_data import EvalRecord
from prodcat.taxonomy import Taxonomy


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
