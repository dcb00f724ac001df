"""Shared by the test_report_*.py files: made-up eval records and report data, and a parser of report pages."""

from __future__ import annotations

import html.parser
import math
import random

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


def html_escaped(text: str) -> str:
    import html

    return html.escape(text, quote=True)
