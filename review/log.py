"""The review log: every decision a reviewer makes, in one SQLite file that survives a crash.

Each decision is one transaction, committed (and synced: `synchronous=FULL`) before the reviewer
sees the next product, so a killed server loses nothing it acknowledged. A decision is unique
per (queue, model version, product), and carries the request id of the page it was made on: a
resubmitted request (a retry, a double click, the browser re-posting) returns the decision already
recorded instead of adding a second one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prodcat.review.items import QueueMeta

VERDICTS = ("accept", "correct", "cannot_tell")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  request_id TEXT NOT NULL UNIQUE,
  queue TEXT NOT NULL,
  model_version TEXT NOT NULL,
  product_id TEXT NOT NULL,
  verdict TEXT NOT NULL CHECK (verdict IN ('accept', 'correct', 'cannot_tell')),
  category_id TEXT,
  served_id TEXT,
  stratum TEXT,
  reviewer TEXT NOT NULL,
  decided_at TEXT NOT NULL,
  product_json TEXT NOT NULL,
  UNIQUE (queue, model_version, product_id)
);
CREATE TABLE IF NOT EXISTS queues (
  queue TEXT NOT NULL,
  model_version TEXT NOT NULL,
  meta_json TEXT NOT NULL,
  PRIMARY KEY (queue, model_version)
);
"""


class DecisionError(ValueError):
    """A decision the log refuses (already decided, a reused request id); nothing was written."""


@dataclasses.dataclass(frozen=True)
class Decision:
    request_id: str
    queue: str
    model_version: str
    product_id: str
    verdict: str
    category_id: str | None  # None: the reviewer could not tell
    served_id: str | None
    stratum: str | None
    reviewer: str
    decided_at: str
    product: dict[str, Any]

    @property
    def key(self) -> tuple[str, str, str]:
        return self.queue, self.model_version, self.product_id


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class ReviewLog:
    """An open review log; one per web app (SQLite serializes the writers of several)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def record_queue(self, meta: QueueMeta) -> None:
        """Keeps the facts of a queue (stratum sizes, coverage) beside its decisions, for `stats`."""
        self._db.execute("INSERT OR REPLACE INTO queues VALUES (?, ?, ?)",
                         (meta.queue, meta.model_version, json.dumps(dataclasses.asdict(meta))))

    def queue_metas(self) -> list[QueueMeta]:
        rows = self._db.execute("SELECT meta_json FROM queues ORDER BY queue, model_version").fetchall()
        return [QueueMeta(**json.loads(row[0])) for row in rows]

    def record(self, decision: Decision) -> tuple[Decision, bool]:
        """Appends a decision in its own transaction: (the decision as logged, whether it is new).

        The same request id again returns the logged decision (idempotent); another decision for
        an item already decided, or a request id reused for another item, is a `DecisionError`.
        """
        if decision.verdict not in VERDICTS:
            raise DecisionError(f"verdict {decision.verdict!r} is not one of {', '.join(VERDICTS)}")
        with self._transaction():
            existing = self._one("request_id = ?", (decision.request_id,))
            if existing is not None:
                if existing.key != decision.key:
                    raise DecisionError(f"request id {decision.request_id!r} was already used for product "
                                        f"{existing.product_id!r}")
                return existing, False
            if self._one("queue = ? AND model_version = ? AND product_id = ?", decision.key) is not None:
                raise DecisionError(f"product {decision.product_id!r} of queue {decision.queue!r} is already decided")
            self._db.execute(
                "INSERT INTO decisions (request_id, queue, model_version, product_id, verdict, category_id, served_id,"
                " stratum, reviewer, decided_at, product_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (decision.request_id, decision.queue, decision.model_version, decision.product_id, decision.verdict,
                 decision.category_id, decision.served_id, decision.stratum, decision.reviewer, decision.decided_at,
                 json.dumps(decision.product, ensure_ascii=False)))
        return decision, True

    def decisions(self, queue: str | None = None, model_version: str | None = None) -> list[Decision]:
        """Decisions in the order they were made (optionally of one queue / model version)."""
        clauses, params = [], []
        for column, value in (("queue", queue), ("model_version", model_version)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        return [_decision(row) for row in self._db.execute(f"SELECT * FROM decisions{where} ORDER BY seq", params)]

    def decided(self, queue: str, model_version: str) -> set[str]:
        """Product ids of a queue already decided (the web app skips them)."""
        rows = self._db.execute("SELECT product_id FROM decisions WHERE queue = ? AND model_version = ?",
                                (queue, model_version))
        return {row[0] for row in rows}

    def _one(self, where: str, params: tuple[str, ...]) -> Decision | None:
        row = self._db.execute(f"SELECT * FROM decisions WHERE {where}", params).fetchone()
        return _decision(row) if row else None

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error): the check and the insert see one state."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if kind else "COMMIT")


def _decision(row: tuple) -> Decision:
    (_, request_id, queue, version, product_id, verdict, category_id, served_id, stratum, reviewer, decided_at,
     product_json) = row
    return Decision(request_id, queue, version, product_id, verdict, category_id, served_id, stratum, reviewer,
                    decided_at, json.loads(product_json))


def read_log(path: str | os.PathLike) -> Iterator[Decision]:
    """The decisions of a log file that must exist (a typo must not read as an empty log)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no review log here")
    log = ReviewLog(path)
    try:
        yield from log.decisions()
    finally:
        log.close()
