"""The review log: one decision per item, idempotent request ids, nothing lost when the writer dies."""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prodcat.review.items import QueueMeta
from prodcat.review.log import Decision, DecisionError, ReviewLog, now, read_log


def decision(product_id: str, request_id: str | None = None, category_id: str | None = "3", verdict: str = "accept") -> Decision:
    return Decision(request_id or f"req-{product_id}", "audit", "17", product_id, verdict, category_id, "3", "Toys",
                    "ana", now(), {"id": product_id, "title": "t"})


def test_decisions_are_kept_in_order_with_everything_needed_later(tmp_path: Path) -> None:
    log = ReviewLog(tmp_path / "review.sqlite")
    log.record(decision("a"))
    log.record(decision("b", category_id=None, verdict="cannot_tell"))
    log.close()
    got = list(read_log(tmp_path / "review.sqlite"))
    assert [(d.product_id, d.verdict, d.category_id, d.reviewer, d.model_version, d.queue) for d in got] == [
        ("a", "accept", "3", "ana", "17", "audit"), ("b", "cannot_tell", None, "ana", "17", "audit")]
    assert got[0].product == {"id": "a", "title": "t"}


def test_a_resubmitted_request_is_recorded_once(tmp_path: Path) -> None:
    log = ReviewLog(tmp_path / "review.sqlite")
    first, created = log.record(decision("a"))
    again, created_again = log.record(dataclasses.replace(decision("a"), category_id="4"))
    assert created and not created_again and again.category_id == "3"
    assert len(log.decisions()) == 1


def test_a_second_decision_for_a_decided_item_or_a_reused_request_id_is_refused(tmp_path: Path) -> None:
    log = ReviewLog(tmp_path / "review.sqlite")
    log.record(decision("a"))
    with pytest.raises(DecisionError, match="'a' of queue 'audit' is already decided"):
        log.record(decision("a", request_id="another"))
    with pytest.raises(DecisionError, match="already used for product 'a'"):
        log.record(decision("b", request_id="req-a"))
    with pytest.raises(DecisionError, match="verdict 'maybe'"):
        log.record(decision("c", verdict="maybe"))
    assert [d.product_id for d in log.decisions()] == ["a"]


def test_queue_facts_are_kept_beside_the_decisions(tmp_path: Path) -> None:
    log = ReviewLog(tmp_path / "review.sqlite")
    meta = QueueMeta("audit", "/m/17", "17", 100, 90, {"Toys": 90}, {"Toys": 40}, 0.1, 0.95)
    log.record_queue(meta)
    log.record_queue(meta)
    assert log.queue_metas() == [meta]


def test_a_missing_log_is_an_error_not_an_empty_log(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no review log"):
        list(read_log(tmp_path / "typo.sqlite"))


WRITER = """
import sys
from prodcat.review.log import Decision, ReviewLog, now
log = ReviewLog(sys.argv[1])
n = 0
while True:
    log.record(Decision(f"r{n}", "audit", "17", f"p{n}", "accept", "3", "3", None, "ana", now(), {"id": f"p{n}"}))
    print(n, flush=True)  # acknowledged only after the commit returned
    n += 1
"""


def test_a_writer_killed_mid_stream_loses_no_acknowledged_decision(tmp_path: Path) -> None:
    path = tmp_path / "review.sqlite"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    acknowledged = -1
    deadline = time.monotonic() + 60
    while acknowledged < 50 and time.monotonic() < deadline:
        acknowledged = int(writer.stdout.readline())
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    assert acknowledged >= 50
    rows = sqlite3.connect(path).execute("SELECT product_id FROM decisions ORDER BY seq").fetchall()
    ids = [r[0] for r in rows]
    assert ids[: acknowledged + 1] == [f"p{n}" for n in range(acknowledged + 1)]
    assert len(ids) == len(set(ids))
    log = ReviewLog(path)  # the log opens and takes decisions after the crash
    log.record(decision("after"))
    assert log.decisions()[-1].product_id == "after"
