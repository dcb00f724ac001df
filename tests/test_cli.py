"""The CLI contract: commands, exit codes, and clean one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from prodcat.cli import build_parser, main


def test_help_lists_the_commands() -> None:
    text = build_parser().format_help()
    for command in ("import", "run", "predict", "taxonomy", "synth"):
        assert command in text


def test_taxonomy_command(google_taxonomy_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["taxonomy", str(google_taxonomy_path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["categories"] == 5595 and info["depth"] == 7 and info["per_level"][0] == 21


def test_run_with_a_bad_record_fails_fast_naming_file_line_and_field(tmp_path: Path, google_taxonomy_path: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "products.jsonl"
    data.write_text('{"id": "a", "title": "Dog bed", "category": "1"}\n{"id": "b", "title": "", "category": "1"}\n',
                    encoding="utf-8")
    code = main(["run", "--data", str(data), "--taxonomy", str(google_taxonomy_path), "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{data}:2: field 'title' is missing or empty" in err
    assert "Traceback" not in err


def test_run_in_fail_mode_names_the_first_bad_record_and_the_total_and_writes_nothing(
        tmp_path: Path, google_taxonomy_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "products.jsonl"
    data.write_text('{"id": "a", "title": "Dog bed", "category": "1"}\n{"id": "b", "title": 42, "category": "1"}\n'
                    '{"id": "c", "title": "Cat tree", "category": "no such category"}\n{"id": "a", "title": "again"}\n',
                    encoding="utf-8")
    out = tmp_path / "out"
    code = main(["run", "--data", str(data), "--taxonomy", str(google_taxonomy_path), "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"{data}:2: field 'title' expected a string, got int" in err and "the first of 3 bad records" in err
    assert not out.exists()


def test_run_with_an_unknown_category_fails_fast(tmp_path: Path, google_taxonomy_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "products.csv"
    data.write_text("id,title,category\na,Dog bed,Animals & Pet Supplies > Unicorns\n", encoding="utf-8")
    code = main(["run", "--data", str(data), "--taxonomy", str(google_taxonomy_path), "--output", str(tmp_path / "out")])
    assert code == 2
    assert "'Animals & Pet Supplies > Unicorns' is not in the taxonomy" in capsys.readouterr().err


def test_bad_config_is_reported_with_the_setting(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("model: {epochs: 0, hidden_unit: [3]}\n", encoding="utf-8")
    assert main(["run", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "model.epochs" in err and "model.hidden_unit" in err


def test_run_settings_from_the_command_line_win_over_the_config_file(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from prodcat.pipeline import local_runner

    config = tmp_path / "c.yaml"
    config.write_text("model: {epochs: 4, seed: 3}\n", encoding="utf-8")
    seen = []

    def prepare(config):  # noqa: ANN001, ANN202  (stops the run once the config is known)
        seen.append(config)
        raise ValueError("stopped after reading the config")

    monkeypatch.setattr(local_runner, "prepare", prepare)
    assert main(["run", "--config", str(config), "--set", "model.seed=7", "--set", "model.unseen_class_offset=null"]) == 2
    assert (seen[0].model.epochs, seen[0].model.seed, seen[0].model.unseen_class_offset) == (4, 7, None)
    assert main(["run", "--set", "model.epoch=3"]) == 2
    assert capsys.readouterr().err.endswith("prodcat: error: --set model.epoch: Extra inputs are not permitted\n")
    assert len(seen) == 1  # a wrong setting stops before anything runs


def test_predict_with_a_missing_model_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "p.jsonl").write_text('{"id": "a", "title": "x"}\n', encoding="utf-8")
    code = main(["predict", "--model", str(tmp_path), "--input", str(tmp_path / "p.jsonl"), "--output", str(tmp_path / "o.jsonl")])
    assert code == 2
    assert "no saved_model.pb" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize(("input_name", "content", "message"), [
    ("missing.jsonl", None, "file not found"),
    ("p.xlsx", "id,title\n", "unsupported format '.xlsx'"),
    ("p.jsonl", '{"id": "a", "title": ""}\n', "field 'title' is missing or empty"),
    ("p.jsonl", "", "no products to predict"),
    ("p.jsonl", '{"id": "a", "title": "' + "x" * 10_000_000 + '"}\n', "is 10,000,000 characters long (max 65,536"),
])
def test_predict_checks_its_input_before_loading_the_model(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                           input_name: str, content: str | None, message: str) -> None:
    """A broken model directory would fail the load: the input's error must come first."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "saved_model.pb").write_bytes(b"not a SavedModel")
    if content is not None:
        (tmp_path / input_name).write_text(content, encoding="utf-8")
    code = main(["predict", "--model", str(model), "--input", str(tmp_path / input_name), "--output", str(tmp_path / "o.jsonl")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o.jsonl").exists()


def test_import_writes_canonical_products(tmp_path: Path) -> None:
    src = tmp_path / "products_export.csv"
    src.write_text("Handle,Title,Body (HTML),Vendor,Type,Tags,Google Shopping / Google Product Category\n"
                   "kite,Red Kite,<p>Nice</p>,Skyco,Kite,,1239\n", encoding="utf-8")
    out = tmp_path / "out"
    tiny = tmp_path / "tax.txt"
    tiny.write_text("1239 - Toys & Games\n", encoding="utf-8")
    assert main(["import", "shopify", str(src), "--out", str(out), "--taxonomy", str(tiny)]) == 0
    [line] = (out / "products.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["category"] == "1239"


def test_installed_console_script_runs() -> None:
    result = subprocess.run([str(Path(sys.executable).parent / "prodcat"), "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "predict" in result.stdout
