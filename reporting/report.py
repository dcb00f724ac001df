"""The run report: one self-contained HTML page (and its PNGs) on how a run's model does.

Everything is read back from the run's record in ML Metadata (`report_run`): the Evaluator's
TFMA evaluation (per-slice metrics, and the gates' verdicts from its validation result and eval
config), the blessing, and the model the run pushed decoded over the eval split the Evaluator
scored, with the thresholds it ships with (`trainer.retune.eval_predictions`, the routine
threshold tuning uses). From the per-level confidences along each product's path the report
draws (`report_analysis`, `report_charts`):

- precision vs coverage per level as one confidence threshold is swept, and hierarchical
  precision vs coverage (the served operating point is marked);
- the gates and each slice's metrics (overall, true level-1 category, sensitive subtree,
  language, shop), numbers exactly as TFMA stored them;
- the level-1 confusion matrix, the worst categories by F1 and example mistakes.

The page is rendered from a Jinja2 template (`report_page`, `templates/`): PNGs are embedded
as data URIs and also written beside `index.html`; every piece of text from the data (titles
are untrusted) is HTML-escaped, and the page forbids scripts and remote loads.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from prodcat.reporting.report_analysis import hierarchical_curve, level1_confusion, level_curves, used_depth
from prodcat.reporting.report_data import ReportData, SliceMetrics
from prodcat.reporting.report_page import render_html

if TYPE_CHECKING:  # report_run loads TensorFlow, which `report_for_summary` must not
    from prodcat.reporting.report_run import ReportInputs
    from prodcat.reporting.summary import RunSummary

REPORT_DIRNAME = "report"
INDEX = "index.html"
MANIFEST = "report.json"


def write_report(metadata_path: str | os.PathLike, output_dir: str | os.PathLike | None = None,
                 run_id: str | None = None, found: tuple[RunSummary, ReportInputs] | None = None) -> Path:
    """Writes `<output_dir>/index.html` (default: `report/` beside the metadata) and its PNGs
    (`found`: the run's `report_run.run_inputs`, when the caller has them already)."""
    from prodcat.reporting.report_charts import require_matplotlib
    from prodcat.reporting.report_run import collect  # TensorFlow: not loaded by `report_for_summary`

    require_matplotlib()
    data = collect(metadata_path, run_id, found)
    out = Path(output_dir) if output_dir is not None else Path(metadata_path).resolve().parent / REPORT_DIRNAME
    return render_report(data, out)


def render_report(data: ReportData, out: Path) -> Path:
    """Renders `data` into `out/index.html` + PNGs + report.json; returns the HTML's path."""
    from prodcat.reporting import report_charts as charts

    data.generated_at = data.generated_at or datetime.datetime.now().isoformat(timespec="seconds")
    depth = used_depth(data.records)
    overall = next((s for s in data.slices if not s.column), SliceMetrics("", "", {}, {}))
    curves = level_curves(data.records, depth)
    _, h_coverage, h_precision, h_recall = hierarchical_curve(data.records, depth)
    served_levels = [(k, overall.metrics.get(f"coverage_level_{k}", math.nan),
                      overall.metrics.get(f"precision_level_{k}", math.nan)) for k, *_ in curves]
    matrix, row_names, col_names = level1_confusion(data.records, data.taxonomy) if data.records else (
        np.zeros((0, 0), dtype=int), [], [])
    images = {
        "precision_coverage_levels.png": charts.precision_coverage_levels(
            [(k, coverage, precision) for k, _, coverage, precision in curves], served_levels),
        "precision_coverage_hierarchical.png": charts.precision_coverage_hierarchical(
            h_coverage, h_precision, h_recall,
            (overall.metrics.get("coverage", math.nan), overall.metrics.get("hierarchical_precision", math.nan))),
    }
    if matrix.size:
        images["confusion_level1.png"] = charts.confusion_heatmap(matrix, row_names, col_names)
    page = render_html(data, images, depth, matrix, row_names, col_names)
    out.mkdir(parents=True, exist_ok=True)
    for name, png in images.items():
        _write_atomic(out / name, png)
    _write_atomic(out / MANIFEST, json.dumps({
        "run_id": data.run_id, "generated_at": data.generated_at, "evaluation": data.evaluation_uri,
        "model": data.model_dir, "examples": data.examples_uri, "products": len(data.records),
        "blessed": data.blessed, "files": [INDEX, *images], "runs": [data.run_id],
    }, indent=2).encode("utf-8"))
    index = out / INDEX
    _write_atomic(index, page.encode("utf-8"))
    return index


def _write_atomic(path: Path, content: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)


def write_run_report(config: Any) -> Path | None:
    """End of a local run: the report of the run that just finished, in `<output>/report/`.

    The model is already evaluated and pushed by then, so a report that cannot be written is
    said on stderr, not raised.
    """
    from prodcat.reporting.report_run import run_inputs

    out = config.output_path / REPORT_DIRNAME
    try:
        found = run_inputs(config.metadata_path)
        return reuse_report(out, *found) or write_report(config.metadata_path, out, found=found)
    except Exception as err:  # noqa: BLE001  (the run itself succeeded)
        print(f"prodcat: run report not written: {type(err).__name__}: {err}", file=sys.stderr)
        return None


def reuse_report(out: Path, summary: RunSummary, inputs: ReportInputs) -> Path | None:
    """The report already in `out`, now also the run of `summary`, when that run took the model and
    the evaluation it describes (`inputs`, `report_run.run_inputs`) from TFX's cache (a re-run with
    nothing changed): the page would be the same, and decoding the eval split again is most of a
    cached run's time. None otherwise."""
    manifest = _manifest(out)
    if manifest is None or not (out / INDEX).is_file():
        return None
    if (manifest.get("evaluation"), manifest.get("model")) != (inputs.evaluation_uri, inputs.model_dir):
        return None
    runs = manifest.setdefault("runs", [manifest.get("run_id")])
    if summary.run_id not in runs:
        runs.append(summary.run_id)
    _write_atomic(out / MANIFEST, json.dumps(manifest, indent=2).encode("utf-8"))
    return out / INDEX


def _manifest(directory: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def report_for_summary(metadata_path: str | os.PathLike, run_id: str) -> str | None:
    """The report of `run_id` beside the metadata, if one was written (or reused) for that run."""
    directory = Path(metadata_path).resolve().parent / REPORT_DIRNAME
    manifest = _manifest(directory) or {}
    runs = manifest.get("runs") or [manifest.get("run_id")]
    return str(directory / INDEX) if run_id in runs and (directory / INDEX).is_file() else None


__all__ = ["write_report", "render_report", "write_run_report", "reuse_report", "report_for_summary", "REPORT_DIRNAME"]
