"""`prodcat review`'s input errors: one line naming what is wrong, exit status 2, never a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from prodcat.cli import main


def _error(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


def test_review_without_a_queue_or_model_says_what_it_needs(capsys: pytest.CaptureFixture) -> None:
    assert _error(["review"], capsys) == ("prodcat: error: review needs --model (to build a queue) or --queue-file "
                                          "(a queue built before)")


def test_a_missing_or_broken_queue_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert "missing.json: cannot read the queue" in _error(["review", "--queue-file", str(tmp_path / "missing.json"),
                                                            "--log", str(tmp_path / "log.sqlite")], capsys)
    (tmp_path / "broken.json").write_text("{}", encoding="utf-8")
    assert "broken.json: not a review queue" in _error(["review", "--queue-file", str(tmp_path / "broken.json"),
                                                         "--log", str(tmp_path / "log.sqlite")], capsys)


def test_a_missing_model_is_named_before_anything_loads(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert "no saved_model.pb here" in _error(["review", "--model", str(tmp_path / "nope")], capsys)


def test_a_port_in_use_is_one_line(review_queue: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        message = _error(["review", "--queue-file", str(review_queue), "--log", str(tmp_path / "log.sqlite"),
                          "--port", str(port)], capsys)
    assert message.startswith(f"prodcat: error: cannot listen on 127.0.0.1:{port}: ")
