"""Audited precision from audit decisions, against counts and intervals worked out by hand."""

from __future__ import annotations

import pytest

from prodcat.review.items import QueueMeta
from prodcat.review.log import Decision, ReviewLog, now
from prodcat.review.sampling import stratified, wilson
from prodcat.review.stats import audit_stats, format_stats, log_stats
from prodcat.taxonomy import Taxonomy

META = QueueMeta("audit", "/m/17", "17", products=1000, served=900, strata={"Toys": 800, "sensitive: Mature": 100},
                 sampled={"Toys": 10, "sensitive: Mature": 10}, margin=0.3, confidence=0.95)


def _decision(n: int, served: str, truth: str | None, stratum: str, queue: str = "audit", version: str = "17") -> Decision:
    verdict = "cannot_tell" if truth is None else ("accept" if truth == served else "correct")
    return Decision(f"r{n}", queue, version, f"p{n}", verdict, truth, served, stratum, "ana", now(), {"id": f"p{n}"})


def _decisions() -> list[Decision]:
    toys = [("3", "3")] * 6 + [("3", "4")] * 2 + [("2", "3")] + [("3", None)]  # 7 right, 2 wrong, 1 cannot tell
    mature = [("8", "8")] * 5 + [("8", "6")] * 5  # 5 right, 5 wrong (wrong at level 1)
    out = [_decision(n, s, t, "Toys") for n, (s, t) in enumerate(toys)]
    out += [_decision(100 + n, s, t, "sensitive: Mature") for n, (s, t) in enumerate(mature)]
    out += [_decision(200, "3", "6", "Toys", queue="withheld"), _decision(201, "3", "6", "Toys", version="16")]
    return out


def test_precision_per_stratum_level_and_overall(tree: Taxonomy) -> None:
    stats = audit_stats(META, _decisions(), tree)
    assert (stats.judged, stats.cannot_tell, stats.sampled, stats.coverage) == (19, 1, 20, 0.9)
    # served "Kites" (2) with truth Stunt Kites (3) is right: the served path is a prefix of the truth
    assert stats.per_stratum["Toys"] == wilson(7, 9) and stats.per_stratum["sensitive: Mature"] == wilson(5, 10)
    assert stats.precision == stratified({"Toys": (7, 9), "sensitive: Mature": (5, 10)}, META.strata)
    assert stats.precision.value == pytest.approx(800 / 900 * 7 / 9 + 100 / 900 * 0.5)
    # level 1: Toys all right (9/9), Mature 5/10; level 2: Toys 9/9, Mature 5/10; level 3: Toys 6 of 8 served that deep
    assert stats.per_level[1] == stratified({"Toys": (9, 9), "sensitive: Mature": (5, 10)}, META.strata)
    assert stats.per_level[3] == stratified({"Toys": (6, 8)}, META.strata)
    assert stats.per_level[3].value == pytest.approx(0.75)


def test_stats_of_a_log_and_their_text(tree: Taxonomy, tmp_path) -> None:
    log = ReviewLog(tmp_path / "review.sqlite")
    log.record_queue(META)
    for decision in _decisions():
        log.record(decision)
    [stats] = log_stats(log, lambda meta: tree)
    text = format_stats([stats])
    assert "audit of model 17: 19 judged of 20 sampled (1 cannot tell), 95% intervals" in text
    assert "measured at coverage 0.900" in text
    low, high = wilson(7, 9).low, wilson(7, 9).high
    assert f"Toys               0.778 [{low:.3f}, {high:.3f}] (n=9)" in text
    assert format_stats([]).startswith("no audit queue")


def test_prodcat_review_stats_prints_intervals_and_fails_in_one_line_on_a_missing_log(
        tree: Taxonomy, tmp_path, capsys: pytest.CaptureFixture) -> None:
    from prodcat.cli import main
    from review_fixtures import fake_model

    model = fake_model(tmp_path / "model")
    log = ReviewLog(tmp_path / "review.sqlite")
    log.record_queue(QueueMeta(**{**META.__dict__, "model_dir": str(model)}))
    for decision in _decisions():
        log.record(decision)
    log.close()
    assert main(["review", "stats", "--log", str(tmp_path / "review.sqlite")]) == 0
    assert "precision of served categories: 0.747 [" in capsys.readouterr().out
    assert main(["review", "stats", "--log", str(tmp_path / "typo.sqlite")]) == 2
    assert capsys.readouterr().err.strip() == f"prodcat: error: {tmp_path / 'typo.sqlite'}: no review log here"
