"""Reviewed decisions as labelled products: they override the data's label, add products it lacks,
and name their logs (with hashes) for ML Metadata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prodcat.records import DEFAULT_READ_OPTIONS, RecordError
from prodcat.readers import iter_products
from prodcat.review.corrections import REVIEWED_FILE, apply_reviews, log_digest
from prodcat.review.log import Decision, ReviewLog
from prodcat.taxonomy import Taxonomy
from prodcat.config.data import REVIEW_PROVENANCE_FILE


def _data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    rows = [{"id": "p1", "title": "stunt kite", "category": "3"}, {"id": "p2", "title": "pot", "category": "6"},
            {"id": "p3", "title": "box kite", "category": "Toys > Kites > Box Kites"}]
    (data / "products.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return data / "products.jsonl"


def _log(path: Path, *decisions: tuple[str, str | None, str]) -> Path:
    log = ReviewLog(path)
    for n, (product_id, category, at) in enumerate(decisions):
        verdict = "cannot_tell" if category is None else "correct"
        log.record(Decision(f"{path.stem}-{product_id}-{at}", "withheld", "17", product_id, verdict, category, None, None, "ana", at,
                            {"id": product_id, "title": f"reviewed {product_id}", "shop": "New Shop"}))
    log.close()
    return path


def test_reviewed_labels_override_the_data_and_add_missing_products(tree: Taxonomy, tmp_path: Path) -> None:
    data = _data(tmp_path)
    first = _log(tmp_path / "a.sqlite", ("p1", "4", "2026-12-01T10:00:00+00:00"), ("p2", None, "2026-12-01T10:01:00+00:00"),
                 ("new", "6", "2026-12-01T10:02:00+00:00"))
    second = _log(tmp_path / "b.sqlite", ("p1", "5", "2026-12-02T09:00:00+00:00"),  # later: wins
                  ("p3", "2", "2026-12-02T09:00:00+00:00"))  # an ancestor of p3's label: agrees with it
    out = apply_reviews(str(data.parent), [data], [first, second], tree, tmp_path / "reviewed", DEFAULT_READ_OPTIONS)
    root = Path(out.data_root)
    products = {p.id: p for f in sorted(root.glob("*.jsonl")) for p in iter_products(f)}
    assert {pid: p.category for pid, p in products.items()} == {"p1": "5", "p2": "6", "p3": "Toys > Kites > Box Kites",
                                                                 "new": "6"}
    assert products["p1"].title == "stunt kite"  # the data's record, relabelled
    assert products["new"].shop == "New Shop" and (root / REVIEWED_FILE).is_file()
    assert (out.overridden, out.added) == (1, 1)
    provenance = json.loads((root / REVIEW_PROVENANCE_FILE).read_text())
    assert provenance["logs"] == [{"path": str(first.resolve()), "sha256": log_digest(first)},
                                  {"path": str(second.resolve()), "sha256": log_digest(second)}]
    assert apply_reviews(str(data.parent), [data], [first, second], tree, tmp_path / "reviewed",
                         DEFAULT_READ_OPTIONS).data_root == out.data_root  # reused: same data, same logs
    _log(first, ("p3", "3", "2026-12-03T09:00:00+00:00"))  # later, Stunt not Box Kites: a conflict
    changed = apply_reviews(str(data.parent), [data], [first, second], tree, tmp_path / "reviewed", DEFAULT_READ_OPTIONS)
    assert changed.data_root != out.data_root and changed.overridden == 2


def test_a_reviewed_category_the_taxonomy_lacks_is_a_one_line_error(tree: Taxonomy, tmp_path: Path) -> None:
    log = _log(tmp_path / "a.sqlite", ("p1", "999", "2026-12-01T10:00:00+00:00"))
    with pytest.raises(RecordError, match="category '999' of reviewed product 'p1' is not in the run's taxonomy"):
        apply_reviews(str(tmp_path), [_data(tmp_path)], [log], tree, tmp_path / "reviewed", DEFAULT_READ_OPTIONS)


def test_a_logs_digest_is_of_its_decisions_not_of_its_file(tmp_path: Path) -> None:
    import sqlite3

    log = _log(tmp_path / "a.sqlite", ("p1", "4", "2026-12-01T10:00:00+00:00"))
    before = log_digest(log)
    db = sqlite3.connect(log)
    db.execute("VACUUM")  # rewrites the file, decisions unchanged
    db.close()
    assert log_digest(log) == before
    _log(log, ("p2", "6", "2026-12-01T11:00:00+00:00"))
    assert log_digest(log) != before


def test_review_logs_in_a_config_file_are_relative_to_it(tmp_path: Path) -> None:
    from prodcat.config import load_config

    (tmp_path / "configs").mkdir()
    path = tmp_path / "configs" / "reviewed.yaml"
    path.write_text("review:\n  logs: [../review/review.sqlite, /abs/log.sqlite]\n", encoding="utf-8")
    assert load_config(path).review.logs == (str(tmp_path / "review" / "review.sqlite"), "/abs/log.sqlite")
