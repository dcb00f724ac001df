"""`prodcat predict --text`: one product title, its decoded path and what the thresholds serve."""

from __future__ import annotations

import re

import pytest

from prodcat.cli import main


def test_one_title_prints_each_level_and_the_served_depth(demo_run, capsys: pytest.CaptureFixture) -> None:
    assert main(["predict", "--model", str(demo_run.serving_base), "--text", "Hundebett aus Plüsch"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Hundebett aus Plüsch"
    served = re.fullmatch(r"  served: .* \(depth (\d) of (\d)\)", out[1])
    assert served, out[1]
    depth, full = int(served.group(1)), int(served.group(2))
    levels = out[2:]
    assert len(levels) == full >= 1 and 0 <= depth <= full
    for k, line in enumerate(levels, start=1):
        match = re.fullmatch(rf"  level {k}  .+  (0\.\d{{3}}|1\.000)  (served|withheld)", line)
        assert match, line
        assert match.group(2) == ("served" if k <= depth else "withheld")


def test_bad_use_is_one_line(tmp_path, capsys: pytest.CaptureFixture) -> None:
    assert main(["predict", "--model", str(tmp_path)]) == 2
    assert "needs --input and --output (or --text TITLE" in capsys.readouterr().err
    assert main(["predict", "--model", str(tmp_path), "--text", ""]) == 2
    assert "field 'title' is missing or empty" in capsys.readouterr().err
