"""The run report's HTML page: the analyses arranged for `templates/report.html.j2` and rendered
with Jinja2, autoescaped (titles, shop names and TFMA messages are untrusted text)."""

from __future__ import annotations

import base64
import dataclasses
import functools
import html
import math
from collections.abc import Sequence

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from prodcat import features as F
from prodcat.reporting import report_analysis as analysis
from prodcat.reporting.report_data import GateVerdict, ReportData, SliceMetrics
from prodcat.review.sampling import Estimate
from prodcat.taxonomy import Taxonomy

TEMPLATE = "report.html.j2"
# (anchor, title) of the page's sections, in order.
SECTIONS = (("gates", "Gates"), ("audit", "Audited precision"), ("precision-coverage", "Precision–coverage"), ("slices", "Slices"),
            ("confusion", "Level-1 confusion"), ("worst-categories", "Worst categories"),
            ("mistakes", "Example mistakes"))
WORST_CATEGORIES = 10
MAX_SLICE_ROWS = 40
# Slice columns of the Evaluator's EvalConfig, in the order the report shows them: (column, key, heading).
SLICE_GROUPS = (
    ("", "overall", "Overall"),
    (F.SLICE_LEVEL1, "level1", "True level-1 category"),
    (F.SLICE_SENSITIVE, "sensitive", "True sensitive subtree"),
    (F.LANGUAGE, "language", "Language"),
    (F.SHOP, "shop", "Shop"),
)
EMPTY_SLICE_VALUE = {F.SLICE_SENSITIVE: "(not sensitive)", F.LANGUAGE: "(unknown)", F.SHOP: "(none)"}


@dataclasses.dataclass(frozen=True)
class SliceCell:
    """One metric of one slice, with the gates that judge it."""

    metric: str
    value: float | None
    text: str
    css: str                          # the gate's verdict ("pass", "fail", "na"), "" when not gated
    gate: GateVerdict | None
    diff: GateVerdict | None          # the change-vs-baseline gate, when it has a value


@dataclasses.dataclass(frozen=True)
class SliceTable:
    """The slices of one column (shop, language, ...), largest first."""

    key: str
    heading: str
    rows: list[tuple[SliceMetrics, str, list[SliceCell]]]  # (slice, label, cells)
    hidden: int                       # smaller slices not shown


def render_html(data: ReportData, images: dict[str, bytes], depth: int, matrix: np.ndarray,
                row_names: Sequence[str], col_names: Sequence[str]) -> str:
    """The page: `images` (PNG bytes by file name) are embedded as data URIs."""
    columns = slice_columns(depth, data.slices)
    return _environment().get_template(TEMPLATE).render(
        data=data, sections=SECTIONS, depth=depth,
        images={name.removesuffix(".png"): "data:image/png;base64," + base64.b64encode(png).decode("ascii")
                for name, png in images.items()},
        failed=sum(g.verdict == "fail" for g in data.gates),
        curve_levels=range(1, min(depth, analysis.labelled_depth(data.records)) + 1),
        curve_table=analysis.curve_table(data.records, depth) if data.records else [],
        columns=columns, slice_tables=slice_tables(data, columns),
        confusions=analysis.top_confusions(matrix, row_names, col_names),
        worst=analysis.category_scores(data.records)[:WORST_CATEGORIES],
        mistakes=analysis.mistake_groups(data.records),
        mistake_kind=analysis.mistake_kind, shown_confidence=analysis.shown_confidence,
        names=functools.partial(path_names, data.taxonomy), ancestors=data.taxonomy.ancestors,
    )


def slice_columns(depth: int, slices: Sequence[SliceMetrics]) -> list[tuple[str, str]]:
    """(metric name, column heading) of the per-slice tables."""
    columns = [("example_count", "products"), ("coverage", "coverage"), ("hierarchical_precision", "h-precision"),
               ("hierarchical_recall", "h-recall"), ("hierarchical_f1", "h-F1"), ("leaf_accuracy", "leaf acc.")]
    overall = next((s for s in slices if not s.column), None)
    for k in range(1, depth + 1):
        if overall is None or not math.isnan(overall.metrics.get(f"accuracy_level_{k}", math.nan)):
            columns.append((f"accuracy_level_{k}", f"L{k} acc."))
    columns += [("sensitive_hierarchical_precision", "sensitive h-precision"),
                ("sensitive_predicted_precision", "sensitive pred. precision")]
    return columns


def slice_tables(data: ReportData, columns: Sequence[tuple[str, str]]) -> list[SliceTable]:
    """One table per slice column (known groups first), largest slices first, gated cells marked."""
    gates = {(g.slice_id, g.metric): g for g in data.gates if not g.is_diff}
    diff_gates = {(g.slice_id, g.metric): g for g in data.gates if g.is_diff}
    known = {column for column, _, _ in SLICE_GROUPS}
    groups = list(SLICE_GROUPS) + [(c, c, c) for c in sorted({s.column for s in data.slices} - known)]
    tables = []
    for column, key, heading in groups:
        rows = sorted((s for s in data.slices if s.column == column),
                      key=lambda s: (-s.metrics.get("example_count", 0.0), s.value))
        if not rows:
            continue
        shown = []
        for s in rows[:MAX_SLICE_ROWS]:
            label = "overall" if not s.column else (s.value or EMPTY_SLICE_VALUE.get(s.column, "(empty)"))
            cells = []
            for metric, _ in columns:
                value, gate, diff = s.metrics.get(metric), gates.get((s.slice_id, metric)), diff_gates.get((s.slice_id, metric))
                css = "" if gate is None else verdict_css(gate.verdict)
                diff = diff if diff is not None and diff.value is not None else None
                if diff is not None and diff.verdict == "fail":
                    css = "fail"
                text = str(int(value)) if metric == "example_count" and value is not None else num(value)
                cells.append(SliceCell(metric, value, text, css, gate, diff))
            shown.append((s, label, cells))
        tables.append(SliceTable(key, heading, shown, len(rows) - len(shown)))
    return tables


def verdict_css(verdict: str) -> str:
    """The cell class of a gate verdict: green, red, or grey when the gate does not apply."""
    return {"pass": "pass", "fail": "fail"}.get(verdict, "na")


def audit_interval(estimate: Estimate | None) -> str:
    """An audited figure as `0.912 [0.871, 0.941] n=120`; blank when nothing was judged."""
    if estimate is None or estimate.value is None:
        return ""
    return f"{estimate.value:.3f} [{estimate.low:.3f}, {estimate.high:.3f}] n={estimate.n}"


def num(value: float | None, digits: int = 3) -> str:
    """A figure as shown: rounded, "–" when there is none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def path_names(taxonomy: Taxonomy, ids: Sequence[str]) -> str:
    """Category ids as the names a reader knows ("A > B > C")."""
    return " > ".join(taxonomy[cid].name if cid in taxonomy else cid for cid in ids)


def _escape(value: object) -> Markup:
    """Every value the template prints, escaped as `html.escape` does (quotes as &quot; and
    &#x27;, as the page always spelled them); markup the template built itself passes through."""
    return value if isinstance(value, Markup) else Markup(html.escape(str(value), quote=True))


@functools.cache
def _environment() -> Environment:
    environment = Environment(loader=PackageLoader("prodcat.reporting", "templates"),
                              autoescape=select_autoescape(("html", "html.j2")), finalize=_escape,
                              undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters.update(num=num, verdict_css=verdict_css, repr=repr)
    environment.globals.update(audit_interval=audit_interval)
    return environment
