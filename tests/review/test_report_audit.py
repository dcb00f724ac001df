"""The run report shows reviewers' audited precision beside the offline figures, or says there is no audit."""

from __future__ import annotations

from pathlib import Path

from prodcat.reporting import report as R
from prodcat.reporting.report_data import EvalRecord, ReportData, SliceMetrics
from prodcat.review.items import QueueMeta
from prodcat.review.log import Decision, now
from prodcat.review.stats import audit_stats
from prodcat.taxonomy import Taxonomy


def _data(tree: Taxonomy, audits: list) -> ReportData:
    records = [EvalRecord(f"p{n}", "kite", ("1", "2", "3"), ("1", "2", "3" if n % 4 else "4"), (0.9, 0.9, 0.9), 3)
               for n in range(20)]
    overall = SliceMetrics("", "", {"example_count": 20.0, "coverage": 1.0, "hierarchical_precision": 0.9167,
                                    "precision_level_1": 1.0, "precision_level_3": 0.75}, {})
    return ReportData("run-1", tree, records, [overall], [], blessed=True, audits=audits)


def test_the_report_shows_audited_precision_beside_the_offline_figures(tree: Taxonomy, tmp_path: Path) -> None:
    meta = QueueMeta("audit", "/m/16", "16", 200, 180, {"Toys": 180}, {"Toys": 10}, 0.3, 0.95)
    decisions = [Decision(f"r{n}", "audit", "16", f"p{n}", "accept", "3" if n < 8 else "4", "3", "Toys", "ana", now(),
                          {"id": f"p{n}"}) for n in range(10)]
    stats = audit_stats(meta, decisions, tree)
    page = R.render_report(_data(tree, [stats]), tmp_path / "r").read_text(encoding="utf-8")
    section = page.split('<section id="audit">', 1)[1].split("</section>", 1)[0]
    assert "audited, model 16" in section
    row = section.split('data-audit="precision"', 1)[1].split("</tr>", 1)[0]
    assert "<td>0.917</td>" in row  # offline hierarchical precision of this model
    assert f"0.800 [{stats.precision.low:.3f}, {stats.precision.high:.3f}] n=10" in row
    assert "0.900" in section and "Toys" in section  # audited coverage, and the stratum table


def test_without_an_audit_the_report_says_how_to_get_one(tree: Taxonomy, tmp_path: Path) -> None:
    page = R.render_report(_data(tree, []), tmp_path / "r").read_text(encoding="utf-8")
    assert "No audit yet" in page.split('<section id="audit">', 1)[1].split("</section>", 1)[0]
