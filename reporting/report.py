"""The run report: one self-contained HTML page (and its PNGs) on how a run's model does.

Everything is read back from the run's record in ML Metadata: the Evaluator's TFMA evaluation
(per-slice metrics, and the gates' verdicts from its validation result and eval config), the
blessing, the Trainer's model and the eval split of ExampleGen's Examples. The model is run once
more over the eval split (its `serving_default` signature on the very tf.Examples the Evaluator
scored) to get the per-level confidences along the greedy path, from which the report draws:

- precision vs coverage per level as one confidence threshold is swept, and hierarchical
  precision vs coverage (the served operating point is marked);
- the gates and each slice's metrics (overall, true level-1 category, sensitive subtree,
  language, shop), numbers exactly as TFMA stored them;
- the level-1 confusion matrix, the worst categories by F1 and example mistakes.

PNGs are embedded as data URIs and also written beside `index.html`; every piece of text from the
data (titles are untrusted) is HTML-escaped, and the page forbids scripts and remote loads.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import datetime
import html
import json
import math
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from prodcat import features as F
from prodcat.taxonomy import Taxonomy

REPORT_DIRNAME = "report"
INDEX = "index.html"
MANIFEST = "report.json"
SECTIONS = ("gates", "precision-coverage", "slices", "confusion", "worst-categories", "mistakes")
CURVE_THRESHOLDS = (0.3, 0.5, 0.7, 0.9)
WORST_CATEGORIES = 10
MISTAKE_CATEGORIES = 5
MISTAKES_PER_CATEGORY = 3
MAX_SLICE_ROWS = 40
PREDICT_BATCH = 256

# Slice columns of the Evaluator's EvalConfig, in the order the report shows them.
SLICE_GROUPS = (
    ("", "overall", "Overall"),
    (F.SLICE_LEVEL1, "level1", "True level-1 category"),
    (F.SLICE_SENSITIVE, "sensitive", "True sensitive subtree"),
    (F.LANGUAGE, "language", "Language"),
    (F.SHOP, "shop", "Shop"),
)
EMPTY_SLICE_VALUE = {F.SLICE_SENSITIVE: "(not sensitive)", F.LANGUAGE: "(unknown)", F.SHOP: "(none)"}


class NoEvaluationError(LookupError):
    """The run has no (finished) evaluation: there is nothing to report."""


# ----------------------------------------------------------------------------- what a report reads
@dataclasses.dataclass(frozen=True)
class EvalRecord:
    """One eval product: its truth and the model's greedy path with per-level confidences."""

    product_id: str
    title: str
    true_path: tuple[str, ...]        # category ids, level 1 first
    full_path: tuple[str, ...]        # the greedy (or beam) path to its end, ids
    confidences: tuple[float, ...]    # one per level of full_path
    served_depth: int                 # how many levels of full_path serving returns (thresholds)
    language: str = ""
    shop: str = ""

    @property
    def served_path(self) -> tuple[str, ...]:
        return self.full_path[: self.served_depth]

    @property
    def served_category(self) -> str | None:
        return self.full_path[self.served_depth - 1] if self.served_depth else None


@dataclasses.dataclass(frozen=True)
class SliceMetrics:
    column: str                       # "" for the overall slice
    value: str
    metrics: dict[str, float]         # the candidate model's values
    diffs: dict[str, float]           # change vs the baseline model, when there was one

    @property
    def slice_id(self) -> str:
        return f"{self.column}={self.value}" if self.column else "overall"


@dataclasses.dataclass(frozen=True)
class GateVerdict:
    slice_id: str
    metric: str
    is_diff: bool
    bound: str
    value: float | None
    verdict: str                      # "pass", "fail", or "n/a" (e.g. no baseline to compare with)
    message: str = ""


@dataclasses.dataclass
class ReportData:
    run_id: str
    taxonomy: Taxonomy
    records: list[EvalRecord]
    slices: list[SliceMetrics]
    gates: list[GateVerdict]
    blessed: bool | None
    evaluation_uri: str = ""
    model_dir: str = ""
    examples_uri: str = ""
    missing_slices: list[str] = dataclasses.field(default_factory=list)
    floors: tuple[float, ...] = ()
    generated_at: str = ""


# ----------------------------------------------------------------------------- reading the run
@dataclasses.dataclass(frozen=True)
class RunArtifacts:
    run_id: str
    evaluation_uri: str
    blessing_uri: str | None
    model_dir: str
    examples_uri: str


def find_run_artifacts(metadata_path: str | os.PathLike, run_id: str | None = None) -> RunArtifacts:
    """The evaluation, blessing, model and examples of a run (the newest one by default)."""
    metadata_path = Path(metadata_path)
    if not metadata_path.is_file():
        raise FileNotFoundError(f"no ML Metadata database at {metadata_path}: run the pipeline first (prodcat run)")
    from prodcat.reporting.summary import latest_run_summary

    summary = latest_run_summary(metadata_path, run_id)
    evaluator = summary.component("Evaluator")
    evaluation = (evaluator.outputs.get("evaluation") or [None])[0] if evaluator else None
    if evaluator is None or evaluator.state not in ("complete", "cached") or not evaluation \
            or not Path(evaluation).is_dir() or not any(Path(evaluation).iterdir()):
        state = f" (Evaluator {evaluator.state})" if evaluator else ""
        raise NoEvaluationError(f"run {summary.run_id} in {metadata_path} has no evaluation{state}: nothing to report")
    trainer = summary.component("Trainer")
    example_gen = summary.component("ProductExampleGen")
    model_dir = _model_dir(trainer.outputs.get("model", []) if trainer else [], summary.pushed_version_dir)
    if model_dir is None:
        raise NoEvaluationError(f"run {summary.run_id}: neither the Trainer's model nor a pushed model is on disk")
    examples = (example_gen.outputs.get("examples") or [None])[0] if example_gen else None
    if not examples or not Path(examples, "Split-eval").is_dir():
        raise NoEvaluationError(f"run {summary.run_id}: the eval split of its Examples is not on disk")
    blessing = (evaluator.outputs.get("blessing") or [None])[0]
    return RunArtifacts(summary.run_id, evaluation, blessing, model_dir, examples)


def _model_dir(model_uris: Sequence[str], pushed: str | None) -> str | None:
    from tfx.utils import path_utils

    for uri in model_uris:
        for candidate in (Path(path_utils.serving_model_path(uri)), Path(uri)):
            if (candidate / "saved_model.pb").is_file():
                return str(candidate)
    if pushed and Path(pushed, "saved_model.pb").is_file():
        return pushed
    return None


def load_slices(evaluation_uri: str) -> tuple[list[SliceMetrics], str]:
    """Every slice's metrics for the candidate model, as `tfma.load_metrics` gives them."""
    import tensorflow_model_analysis as tfma

    candidate = _candidate_name(evaluation_uri)
    slices = []
    for metrics_for_slice in tfma.load_metrics(evaluation_uri):
        column, value = _slice_column_value(metrics_for_slice.slice_key)
        metrics: dict[str, float] = {}
        diffs: dict[str, float] = {}
        for item in metrics_for_slice.metric_keys_and_values:
            key = item.key
            if key.model_name and key.model_name != candidate:
                continue
            if not item.value.HasField("double_value"):
                continue
            target = diffs if key.is_diff else metrics
            target.setdefault(key.name, item.value.double_value.value)
        slices.append(SliceMetrics(column, value, metrics, diffs))
    return slices, candidate


def _candidate_name(evaluation_uri: str) -> str:
    eval_config = _eval_config(evaluation_uri)
    if eval_config is not None:
        for spec in eval_config.model_specs:
            if not spec.is_baseline:
                return spec.name
    return "candidate"


def _eval_config(evaluation_uri: str) -> Any:
    from tensorflow_model_analysis.writers import eval_config_writer

    try:
        return eval_config_writer.load_eval_run(evaluation_uri)[0]
    except (OSError, ValueError, IndexError):
        return None


def _slice_column_value(slice_key: Any) -> tuple[str, str]:
    """("", "") for the overall slice; one (column, value) for single-feature slices."""
    keys = list(slice_key.single_slice_keys)
    if not keys:
        return "", ""
    parts = []
    for key in keys:
        kind = key.WhichOneof("kind")
        raw = getattr(key, kind) if kind else b""
        parts.append((key.column, raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)))
    return " & ".join(c for c, _ in parts), " & ".join(v for _, v in parts)


def load_gates(evaluation_uri: str, slices: Sequence[SliceMetrics]) -> tuple[list[GateVerdict], list[str]]:
    """Each gate of the eval config on each slice it applies to, with TFMA's verdict.

    The thresholds come from the EvalConfig stored with the evaluation; a gate failed when the
    validation result lists it among the failures, passed when it has a value and is not listed,
    and does not apply ("n/a") without a value (e.g. a change threshold on a run with no baseline).
    """
    import tensorflow_model_analysis as tfma

    try:
        result = tfma.load_validation_result(evaluation_uri)
    except (OSError, ValueError, IndexError):
        result = None
    failures: dict[tuple[str, str, bool], str] = {}
    if result is not None:
        for per_slice in result.metric_validations_per_slice:
            column, value = _slice_column_value(per_slice.slice_key)
            slice_id = f"{column}={value}" if column else "overall"
            for failure in per_slice.failures:
                failures[(slice_id, failure.metric_key.name, failure.metric_key.is_diff)] = failure.message
    verdicts: list[GateVerdict] = []
    seen: set[tuple[str, str, bool]] = set()
    eval_config = _eval_config(evaluation_uri)
    for metric, spec, threshold in _thresholds(eval_config):
        for part, is_diff in (("value_threshold", False), ("change_threshold", True)):
            if not threshold.HasField(part):
                continue
            bound = _bound_text(getattr(threshold, part), is_diff)
            for slice_metrics in slices:
                if spec is not None and not _spec_matches(spec, slice_metrics):
                    continue
                key = (slice_metrics.slice_id, metric, is_diff)
                if key in seen:
                    continue
                seen.add(key)
                value = (slice_metrics.diffs if is_diff else slice_metrics.metrics).get(metric)
                if key in failures:
                    verdict = "fail"
                elif value is None or math.isnan(value):
                    verdict = "n/a"
                else:
                    verdict = "pass"
                verdicts.append(GateVerdict(slice_metrics.slice_id, metric, is_diff, bound, value, verdict,
                                            failures.get(key, "")))
    for (slice_id, metric, is_diff), message in failures.items():  # failures of gates the report could not place
        if (slice_id, metric, is_diff) not in seen:
            verdicts.append(GateVerdict(slice_id, metric, is_diff, "", None, "fail", message))
    missing = [str(spec).strip().replace("\n", " ") or "overall" for spec in (result.missing_slices if result else [])]
    return verdicts, missing


def _thresholds(eval_config: Any) -> Iterable[tuple[str, Any, Any]]:
    """(metric name, slicing spec or None for every slice, MetricThreshold) from an EvalConfig."""
    if eval_config is None:
        return
    for spec in eval_config.metrics_specs:
        for metric, threshold in spec.thresholds.items():
            yield metric, None, threshold
        for metric, per_slice in spec.per_slice_thresholds.items():
            for item in per_slice.thresholds:
                for slicing_spec in item.slicing_specs:
                    yield metric, slicing_spec, item.threshold


def _spec_matches(spec: Any, slice_metrics: SliceMetrics) -> bool:
    columns = set(spec.feature_keys) | set(spec.feature_values)
    if not columns:
        return not slice_metrics.column
    if columns != set(slice_metrics.column.split(" & ")):
        return False
    return len(columns) > 1 or all(slice_metrics.value == value for value in spec.feature_values.values())


def _bound_text(threshold: Any, is_diff: bool) -> str:
    parts = []
    if is_diff:
        for kind in ("absolute", "relative"):
            if threshold.HasField(kind):
                value = getattr(threshold, kind).value
                higher = threshold.direction != 1  # MetricDirection: 2 HIGHER_IS_BETTER, 1 LOWER_IS_BETTER
                parts.append(f"{'relative ' if kind == 'relative' else ''}change vs baseline "
                             f"{'≥' if higher else '≤'} {value:+.4g}")
        return ", ".join(parts)
    if threshold.HasField("lower_bound"):
        parts.append(f"≥ {threshold.lower_bound.value:.4g}")
    if threshold.HasField("upper_bound"):
        parts.append(f"≤ {threshold.upper_bound.value:.4g}")
    return " and ".join(parts)


def read_eval_examples(examples_uri: str) -> list[tuple[bytes, dict[str, Any]]]:
    """The eval split's serialized tf.Examples with their fields, in file order."""
    import tensorflow as tf

    from prodcat.contract.examples import example_to_mapping

    files = sorted(str(p) for p in Path(examples_uri, "Split-eval").iterdir() if p.is_file())
    if not files:
        raise NoEvaluationError(f"{examples_uri}/Split-eval holds no examples")
    compression = "GZIP" if all(f.endswith(".gz") for f in files) else ""
    out = []
    for serialized in tf.data.TFRecordDataset(files, compression_type=compression).as_numpy_iterator():
        out.append((serialized, example_to_mapping(serialized)))
    return out


def predict_eval_split(model_dir: str, examples: Sequence[tuple[bytes, dict[str, Any]]],
                       taxonomy: Taxonomy, batch_size: int = PREDICT_BATCH) -> list[EvalRecord]:
    """Runs the model's `serving_default` signature (what the Evaluator scored) over the examples."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the model's text encoder uses its SentencePiece ops)

    from prodcat.contract.signatures import predictions_from_outputs
    from prodcat.contract.signatures import EXAMPLES_SIGNATURE

    model = tf.saved_model.load(model_dir)
    signature = model.signatures[EXAMPLES_SIGNATURE]
    (input_name,) = signature.structured_input_signature[1].keys()
    records = []
    for start in range(0, len(examples), batch_size):
        batch = examples[start:start + batch_size]
        outputs = {k: v.numpy() for k, v in signature(**{input_name: tf.constant([s for s, _ in batch])}).items()}
        fields = [m for _, m in batch]
        predictions = predictions_from_outputs([str(m.get(F.ID, "")) for m in fields], outputs, full_depth=True)
        served = np.asarray(outputs[F.OUT_DEPTH]).reshape(-1)
        for mapping, prediction, depth in zip(fields, predictions, served):
            true_id = mapping.get(F.CATEGORY, "")
            if true_id not in taxonomy:  # unlabelled: nothing to score (as in the Evaluator)
                continue
            records.append(EvalRecord(
                product_id=prediction.id, title=str(mapping.get(F.TITLE, "")),
                true_path=tuple(taxonomy.ancestors(true_id)),
                full_path=tuple(level.id for level in prediction.levels),
                confidences=tuple(level.confidence for level in prediction.levels),
                served_depth=int(depth), language=str(mapping.get(F.LANGUAGE, "")), shop=str(mapping.get(F.SHOP, "")),
            ))
    return records


def model_taxonomy_and_floors(model_dir: str, fallback: Taxonomy | None = None) -> tuple[Taxonomy, tuple[float, ...]]:
    """The taxonomy the model was trained with and its per-level confidence floors (assets.extra)."""
    extra = Path(model_dir, "assets.extra")
    taxonomy = Taxonomy.from_google_file(extra / "taxonomy.txt") if (extra / "taxonomy.txt").is_file() else fallback
    if taxonomy is None:
        raise NoEvaluationError(f"{model_dir}: no assets.extra/taxonomy.txt")
    floors: tuple[float, ...] = ()
    config_file = extra / "prodcat_config.json"
    if config_file.is_file():
        try:
            per_level = json.loads(config_file.read_text(encoding="utf-8"))["thresholds"]["per_level"]
            floors = tuple(float(per_level[min(k, len(per_level)) - 1]) for k in range(1, taxonomy.depth + 1))
        except (KeyError, TypeError, ValueError, IndexError):
            floors = ()
    return taxonomy, floors


def collect(metadata_path: str | os.PathLike, run_id: str | None = None) -> ReportData:
    """Everything the report shows, for the newest run (or `run_id`) of a metadata store."""
    artifacts = find_run_artifacts(metadata_path, run_id)
    slices, _ = load_slices(artifacts.evaluation_uri)
    if not slices:
        raise NoEvaluationError(f"run {artifacts.run_id}: the evaluation at {artifacts.evaluation_uri} holds no metrics")
    gates, missing = load_gates(artifacts.evaluation_uri, slices)
    taxonomy, floors = model_taxonomy_and_floors(artifacts.model_dir)
    records = predict_eval_split(artifacts.model_dir, read_eval_examples(artifacts.examples_uri), taxonomy)
    blessed = None
    if artifacts.blessing_uri and Path(artifacts.blessing_uri).is_dir():
        blessed = Path(artifacts.blessing_uri, "BLESSED").exists()
    return ReportData(
        run_id=artifacts.run_id, taxonomy=taxonomy, records=records, slices=slices, gates=gates, blessed=blessed,
        evaluation_uri=artifacts.evaluation_uri, model_dir=artifacts.model_dir, examples_uri=artifacts.examples_uri,
        missing_slices=missing, floors=floors,
    )


# ----------------------------------------------------------------------------- analyses
def _correct_matrix(records: Sequence[EvalRecord], depth: int) -> tuple[np.ndarray, np.ndarray]:
    """[n, depth] prefix-minimum confidence (-1 past the path's end) and level correctness."""
    n = len(records)
    score = np.full((n, depth), -1.0)
    correct = np.zeros((n, depth), dtype=bool)
    for i, r in enumerate(records):
        running = math.inf
        for k, (node, confidence) in enumerate(zip(r.full_path[:depth], r.confidences)):
            running = min(running, confidence)
            score[i, k] = running
            correct[i, k] = len(r.true_path) > k and r.true_path[k] == node
    return score, correct


def level_curves(records: Sequence[EvalRecord], depth: int) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Per level k: (k, thresholds, coverage, precision) as one threshold t is swept over all levels.

    A product is covered at level k when the confidence of every level of its path up to k
    reaches t (serving stops at the first level below its floor); coverage counts all eval
    products, precision the covered ones whose level-k category is the true one (as TFMA's
    coverage_level_k / precision_level_k).
    """
    score, correct = _correct_matrix(records, depth)
    n = max(len(records), 1)
    curves = []
    for k in range(min(depth, labelled_depth(records))):
        order = np.argsort(-score[:, k], kind="stable")
        s, c = score[order, k], correct[order, k]
        valid = s >= 0
        s, c = s[valid], c[valid]
        if not len(s):
            continue
        covered = np.arange(1, len(s) + 1)
        right = np.cumsum(c)
        last = np.r_[s[1:] != s[:-1], True]  # one point per distinct threshold (ties included together)
        curves.append((k + 1, s[last], covered[last] / n, right[last] / covered[last]))
    return curves


def hierarchical_curve(records: Sequence[EvalRecord], depth: int,
                       thresholds: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, coverage, hierarchical precision, hierarchical recall) as one threshold is swept."""
    score, correct = _correct_matrix(records, depth)
    if thresholds is None:
        distinct = np.unique(score[score >= 0])
        thresholds = distinct if len(distinct) <= 400 else np.quantile(distinct, np.linspace(0, 1, 400))
    thresholds = np.sort(np.asarray(thresholds, dtype=float))[::-1]
    flat_score, flat_correct = score.reshape(-1), correct.reshape(-1)
    order = np.argsort(-flat_score, kind="stable")
    sorted_score = flat_score[order]
    cumulative_right = np.r_[0, np.cumsum(flat_correct[order])]
    level1 = np.sort(score[:, 0])
    true_nodes = max(sum(len(r.true_path) for r in records), 1)
    n = max(len(records), 1)
    # number of (product, level) pairs with score >= t, for descending sorted_score
    served_nodes = np.searchsorted(-sorted_score, -thresholds, side="right")
    right = cumulative_right[served_nodes]
    precision = np.divide(right, served_nodes, out=np.full(len(thresholds), np.nan), where=served_nodes > 0)
    coverage = (len(level1) - np.searchsorted(level1, thresholds, side="left")) / n
    return thresholds, coverage, precision, right / true_nodes


def curve_table(records: Sequence[EvalRecord], depth: int,
                thresholds: Sequence[float] = CURVE_THRESHOLDS) -> list[tuple[float, list[tuple[float, float]], tuple[float, float]]]:
    """At a few thresholds: per level (coverage, precision), and (coverage, hierarchical precision)."""
    score, correct = _correct_matrix(records, depth)
    n = max(len(records), 1)
    rows = []
    _, h_coverage, h_precision, _ = hierarchical_curve(records, depth, np.asarray(thresholds, dtype=float))
    for i, t in enumerate(sorted(thresholds, reverse=True)):
        levels = []
        for k in range(min(depth, labelled_depth(records))):
            covered = score[:, k] >= t
            levels.append((covered.sum() / n, correct[covered, k].mean() if covered.any() else float("nan")))
        rows.append((t, levels, (float(h_coverage[i]), float(h_precision[i]))))
    return sorted(rows)


def labelled_depth(records: Sequence[EvalRecord]) -> int:
    """The deepest level any eval product's label reaches (deeper levels have nothing to be right about)."""
    return max([len(r.true_path) for r in records] + [1])


def used_depth(records: Sequence[EvalRecord]) -> int:
    """The deepest level any eval product's label or greedy path reaches."""
    return max([len(r.true_path) for r in records] + [len(r.full_path) for r in records] + [1])


def level1_confusion(records: Sequence[EvalRecord], taxonomy: Taxonomy) -> tuple[np.ndarray, list[str], list[str]]:
    """Counts of (true level-1, predicted level-1 on the greedy path); rows/columns ordered by name."""
    counts = collections.Counter((r.true_path[0], r.full_path[0] if r.full_path else "") for r in records)
    true_ids = sorted({t for t, _ in counts}, key=lambda cid: taxonomy[cid].name)
    predicted_ids = sorted({p for _, p in counts}, key=lambda cid: taxonomy[cid].name if cid else "~")
    ids = true_ids + [p for p in predicted_ids if p not in true_ids]
    matrix = np.zeros((len(true_ids), len(ids)), dtype=int)
    for (t, p), count in counts.items():
        matrix[true_ids.index(t), ids.index(p)] = count
    names = [taxonomy[cid].name if cid else "(none)" for cid in ids]
    return matrix, [taxonomy[cid].name for cid in true_ids], names


@dataclasses.dataclass(frozen=True)
class CategoryScore:
    category_id: str
    support: int          # eval products labelled with it
    predicted: int        # eval products served it
    correct: int
    precision: float
    recall: float
    f1: float


def category_scores(records: Sequence[EvalRecord]) -> list[CategoryScore]:
    """Per labelled category, precision/recall/F1 of the served category (exact match), worst first."""
    support = collections.Counter(r.true_path[-1] for r in records)
    predicted = collections.Counter(r.served_category for r in records if r.served_category)
    correct = collections.Counter(r.true_path[-1] for r in records if r.served_category == r.true_path[-1])
    scores = []
    for cid, n in support.items():
        p = correct[cid] / predicted[cid] if predicted[cid] else float("nan")
        r = correct[cid] / n
        f1 = 2 * correct[cid] / (n + predicted[cid])
        scores.append(CategoryScore(cid, n, predicted[cid], correct[cid], p, r, f1))
    return sorted(scores, key=lambda s: (s.f1, -s.support, s.category_id))


def mistake_kind(record: EvalRecord) -> str:
    served = record.served_path
    if not served:
        return "no prediction"
    if tuple(record.true_path[: len(served)]) != tuple(served):
        return "too specific" if tuple(served[: len(record.true_path)]) == tuple(record.true_path) else "wrong category"
    if len(served) < len(record.true_path):
        return "stopped early"
    return "correct"


def example_mistakes(records: Sequence[EvalRecord], category_id: str, limit: int = MISTAKES_PER_CATEGORY,
                     exclude: frozenset[str] | set[str] = frozenset()) -> list[EvalRecord]:
    """Mistakes involving a category (labelled with it, or wrongly served it): confident wrong
    categories first, then too specific ones, then products served too shallow or not at all;
    products in `exclude` (already shown) are skipped."""
    rank = {"wrong category": 0, "too specific": 1, "stopped early": 2, "no prediction": 3}
    involved = [r for r in records if (r.true_path[-1] == category_id or r.served_category == category_id)
                and mistake_kind(r) != "correct" and r.product_id not in exclude]
    involved.sort(key=lambda r: (rank[mistake_kind(r)], -_shown_confidence(r), r.product_id))
    return involved[:limit]


def _shown_confidence(record: EvalRecord) -> float:
    if record.served_depth:
        return record.confidences[record.served_depth - 1]
    return record.confidences[0] if record.confidences else 0.0


# ----------------------------------------------------------------------------- writing
def write_report(metadata_path: str | os.PathLike, output_dir: str | os.PathLike | None = None,
                 run_id: str | None = None) -> Path:
    """Writes `<output_dir>/index.html` (default: `report/` beside the metadata) and its PNGs."""
    from prodcat.reporting.report_charts import require_matplotlib

    require_matplotlib()
    data = collect(metadata_path, run_id)
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
        "blessed": data.blessed, "files": [INDEX, *images],
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
    try:
        return write_report(config.metadata_path, config.output_path / REPORT_DIRNAME)
    except Exception as err:  # noqa: BLE001  (the run itself succeeded)
        print(f"prodcat: run report not written: {type(err).__name__}: {err}", file=sys.stderr)
        return None


def report_for_summary(metadata_path: str | os.PathLike, run_id: str) -> str | None:
    """The report of `run_id` beside the metadata, if one was written for that run."""
    directory = Path(metadata_path).resolve().parent / REPORT_DIRNAME
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return str(directory / INDEX) if manifest.get("run_id") == run_id and (directory / INDEX).is_file() else None


# ----------------------------------------------------------------------------- HTML
def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _path_names(taxonomy: Taxonomy, ids: Sequence[str]) -> str:
    return " > ".join(taxonomy[cid].name if cid in taxonomy else cid for cid in ids)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2b45;color:#fff;padding:18px 28px}
header h1{margin:0 0 6px;font-size:22px}
header .meta{font-size:13px;color:#c9d3e6;word-break:break-all}
nav{background:#fff;border-bottom:1px solid #dde1e8;padding:8px 28px;font-size:14px}
nav a{margin-right:16px;color:#1d4fa8;text-decoration:none}
main{padding:8px 28px 40px;max-width:1400px}
section{background:#fff;border:1px solid #dde1e8;border-radius:6px;margin:18px 0;padding:14px 18px}
h2{font-size:18px;margin:4px 0 10px}
h3{font-size:15px;margin:16px 0 6px}
p.note{font-size:13px;color:#555;margin:4px 0 10px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border:1px solid #dde1e8;padding:4px 8px;text-align:right;vertical-align:top}
th{background:#eef1f6;font-weight:600}
td.text,th.text{text-align:left}
td.pass{background:#dff3e4}
td.fail{background:#fbdcdc;font-weight:600}
td.na{background:#f1f1f1;color:#777}
.badge{display:inline-block;padding:3px 10px;border-radius:12px;font-weight:700;font-size:13px}
.badge.pass{background:#2e8540;color:#fff}
.badge.fail{background:#c62828;color:#fff}
.badge.na{background:#888;color:#fff}
img.chart{max-width:100%;height:auto;border:1px solid #eee;margin:6px 12px 6px 0}
.charts img.chart{max-width:calc(50% - 14px)}
.charts{display:flex;flex-wrap:wrap}
.unserved{color:#999}
.title{max-width:420px;text-align:left;overflow-wrap:anywhere}
"""


def render_html(data: ReportData, images: dict[str, bytes], depth: int, matrix: np.ndarray,
                row_names: Sequence[str], col_names: Sequence[str]) -> str:
    verdict = {True: ("pass", "blessed"), False: ("fail", "not blessed"), None: ("na", "blessing unknown")}[data.blessed]
    failed = [g for g in data.gates if g.verdict == "fail"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # No scripts, no remote loads: the page shows data only (images are data: URIs).
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="prodcat-run" content="{_e(data.run_id)}">',
        f"<title>prodcat run report – {_e(data.run_id)}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<header>",
        f"<h1>prodcat run report <span class=\"badge {verdict[0]}\" id=\"blessing\">{_e(verdict[1])}</span></h1>",
        f'<div class="meta">run {_e(data.run_id)} · {len(data.records)} eval products · '
        f"{len(failed)} failed gate(s) · generated {_e(data.generated_at)}<br>"
        f"model {_e(data.model_dir)}<br>evaluation {_e(data.evaluation_uri)}<br>examples {_e(data.examples_uri)}</div>",
        "</header>",
        "<nav>" + "".join(f'<a href="#{s}">{_e(t)}</a>' for s, t in zip(SECTIONS, (
            "Gates", "Precision–coverage", "Slices", "Level-1 confusion", "Worst categories", "Example mistakes"))) + "</nav>",
        "<main>",
        _gates_section(data),
        _curves_section(data, images, depth),
        _slices_section(data, depth),
        _confusion_section(images, matrix, row_names, col_names),
        _worst_section(data),
        _mistakes_section(data),
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"


def _img(images: dict[str, bytes], name: str, alt: str) -> str:
    if name not in images:
        return '<p class="note">(no data to draw)</p>'
    return f'<img class="chart" id="{_e(name.removesuffix(".png"))}" src="{_data_uri(images[name])}" alt="{_e(alt)}">'


def _gates_section(data: ReportData) -> str:
    rows = []
    for gate in data.gates:
        name = gate.metric + (" (change vs blessed baseline)" if gate.is_diff else "")
        css = {"pass": "pass", "fail": "fail"}.get(gate.verdict, "na")
        label = {"pass": "pass", "fail": "FAIL"}.get(gate.verdict, "n/a (no baseline)" if gate.is_diff else "n/a")
        rows.append(f'<tr data-gate="{_e(gate.slice_id)}|{_e(gate.metric)}|{int(gate.is_diff)}">'
                    f'<td class="text">{_e(gate.slice_id)}</td><td class="text">{_e(name)}</td>'
                    f"<td>{_e(_num(gate.value, 4))}</td><td class=\"text\">{_e(gate.bound)}</td>"
                    f'<td class="{css}">{_e(label)}</td><td class="text">{_e(gate.message)}</td></tr>')
    body = ("<table><tr><th class=\"text\">slice</th><th class=\"text\">metric</th><th>value</th>"
            "<th class=\"text\">required</th><th>verdict</th><th class=\"text\">TFMA message</th></tr>"
            + "".join(rows) + "</table>") if rows else '<p class="note">The evaluation has no gates.</p>'
    missing = "".join(f'<p class="note">missing slice: {_e(m)}</p>' for m in data.missing_slices)
    blessing = {True: "The Evaluator blessed this model.", False: "The Evaluator did not bless this model: it is not pushed.",
                None: "No blessing recorded."}[data.blessed]
    return (f'<section id="gates"><h2>Gates</h2><p class="note">{_e(blessing)} Thresholds from the evaluation\'s '
            f"EvalConfig; verdicts from TFMA's validation result.</p>{body}{missing}</section>")


def _curves_section(data: ReportData, images: dict[str, bytes], depth: int) -> str:
    table = curve_table(data.records, depth) if data.records else []
    head = "".join(f"<th>L{k} coverage</th><th>L{k} precision</th>"
                   for k in range(1, min(depth, labelled_depth(data.records)) + 1))
    rows = "".join(
        f"<tr><td>{t:.2f}</td>" + "".join(f"<td>{_num(c)}</td><td>{_num(p)}</td>" for c, p in levels)
        + f"<td>{_num(h[0])}</td><td>{_num(h[1])}</td></tr>" for t, levels, h in table)
    floors = ", ".join(f"L{k} {f:g}" for k, f in enumerate(data.floors[:depth], start=1))
    return (
        '<section id="precision-coverage"><h2>Precision–coverage</h2>'
        '<p class="note">One confidence threshold is swept over the eval split. A product is covered at level k '
        "when the confidence of each level of its greedy path up to k reaches the threshold (serving stops at the "
        "first level below its floor); coverage counts all eval products, precision the covered ones whose level-k "
        "category is right. Dots: what serving returns with the configured floors"
        + (f" ({_e(floors)}; sensitive subtrees stricter)" if floors else "") + ", from TFMA.</p>"
        '<div class="charts">'
        + _img(images, "precision_coverage_levels.png", "precision vs coverage per level")
        + _img(images, "precision_coverage_hierarchical.png", "hierarchical precision vs coverage")
        + "</div>"
        + (f"<h3>At a few thresholds</h3><table><tr><th>threshold</th>{head}<th>coverage</th>"
           f"<th>hierarchical precision</th></tr>{rows}</table>" if rows else "")
        + "</section>")


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


def _slices_section(data: ReportData, depth: int) -> str:
    columns = slice_columns(depth, data.slices)
    gates = {(g.slice_id, g.metric): g for g in data.gates if not g.is_diff}
    diff_gates = {(g.slice_id, g.metric): g for g in data.gates if g.is_diff}
    known = {column for column, _, _ in SLICE_GROUPS}
    groups = list(SLICE_GROUPS) + [(c, c, c) for c in sorted({s.column for s in data.slices} - known)]
    out = ['<section id="slices"><h2>Slices</h2><p class="note">Metrics of the candidate model per slice, as TFMA '
           "stored them (shown rounded; data-value holds the exact number). Gated cells are green (pass) or red "
           "(fail); the gates apply to the slices their thresholds name.</p>"]
    for column, key, heading in groups:
        rows = sorted((s for s in data.slices if s.column == column),
                      key=lambda s: (-s.metrics.get("example_count", 0.0), s.value))
        if not rows:
            continue
        shown = rows[:MAX_SLICE_ROWS]
        head = "".join(f"<th>{_e(h)}</th>" for _, h in columns)
        out.append(f'<h3>{_e(heading)}</h3><table class="slices" data-group="{_e(key)}">'
                   f'<tr><th class="text">slice</th>{head}</tr>')
        for s in shown:
            label = "overall" if not s.column else (s.value or EMPTY_SLICE_VALUE.get(s.column, "(empty)"))
            cells = []
            for metric, _ in columns:
                value = s.metrics.get(metric)
                gate = gates.get((s.slice_id, metric))
                css = "" if gate is None else {"pass": "pass", "fail": "fail"}.get(gate.verdict, "na")
                title = "" if gate is None else f' title="{_e(gate.bound)}: {_e(gate.verdict)}"'
                text = _e(str(int(value)) if metric == "example_count" and value is not None else _num(value))
                diff_gate = diff_gates.get((s.slice_id, metric))
                if diff_gate is not None and diff_gate.value is not None:
                    text += f' <small>({diff_gate.value:+.3f} vs baseline{", FAIL" if diff_gate.verdict == "fail" else ""})</small>'
                    if diff_gate.verdict == "fail":
                        css = "fail"
                attrs = f' data-metric="{_e(metric)}"' + (f' data-value="{_e(repr(value))}"' if value is not None else "")
                cells.append(f'<td class="{css}"{attrs}{title}>{text}</td>')
            out.append(f'<tr data-slice="{_e(s.slice_id)}"><td class="text">{_e(label)}</td>{"".join(cells)}</tr>')
        out.append("</table>")
        if len(rows) > len(shown):
            out.append(f'<p class="note">{len(rows) - len(shown)} more {_e(heading.lower())} slices not shown '
                       "(the largest are).</p>")
    out.append("</section>")
    return "".join(out)


def _confusion_section(images: dict[str, bytes], matrix: np.ndarray, row_names: Sequence[str],
                       col_names: Sequence[str]) -> str:
    pairs = sorted(((int(matrix[i, j]), row_names[i], col_names[j]) for i in range(matrix.shape[0])
                    for j in range(matrix.shape[1]) if matrix[i, j] and row_names[i] != col_names[j]), reverse=True)[:10]
    rows = "".join(f'<tr><td class="text">{_e(t)}</td><td class="text">{_e(p)}</td><td>{n}</td></tr>' for n, t, p in pairs)
    return ('<section id="confusion"><h2>Level-1 confusion</h2><p class="note">True level-1 category (rows) against '
            "the level-1 category of the greedy path (columns), over the eval split; colour is the share of the row.</p>"
            + _img(images, "confusion_level1.png", "level-1 confusion matrix")
            + ("<h3>Most frequent confusions</h3><table><tr><th class=\"text\">true</th><th class=\"text\">predicted</th>"
               f"<th>products</th></tr>{rows}</table>" if rows else '<p class="note">No level-1 confusion.</p>')
            + "</section>")


def _worst_section(data: ReportData) -> str:
    scores = category_scores(data.records)[:WORST_CATEGORIES]
    rows = "".join(
        f'<tr data-category="{_e(s.category_id)}"><td class="text">{_e(_path_names(data.taxonomy, data.taxonomy.ancestors(s.category_id)))}</td>'
        f"<td>{s.support}</td><td>{s.predicted}</td><td>{s.correct}</td><td>{_num(s.precision)}</td>"
        f"<td>{_num(s.recall)}</td><td>{_num(s.f1)}</td></tr>" for s in scores)
    return ('<section id="worst-categories"><h2>Worst categories</h2><p class="note">Labelled categories of the eval '
            "split by F1 of the served category (exact match; a prediction that stops above the label counts as a "
            "miss), lowest first; support = eval products labelled with it.</p>"
            + ("<table><tr><th class=\"text\">category</th><th>support</th><th>served as it</th><th>right</th>"
               f"<th>precision</th><th>recall</th><th>F1</th></tr>{rows}</table>" if rows else
               '<p class="note">No labelled eval products.</p>')
            + "</section>")


def _mistakes_section(data: ReportData) -> str:
    taxonomy = data.taxonomy
    out = ['<section id="mistakes"><h2>Example mistakes</h2><p class="note">For the worst categories, products '
           "labelled with the category or wrongly served it (each product once): confident wrong categories first. "
           "The served path is in black, the rest of the greedy path (below the confidence floors) in grey; the "
           "confidence is that of the last served level (of level 1 when nothing is served).</p>"]
    shown = 0
    listed: set[str] = set()
    for score in category_scores(data.records):
        if shown >= MISTAKE_CATEGORIES:
            break
        mistakes = example_mistakes(data.records, score.category_id, exclude=listed)
        if not mistakes:
            continue
        shown += 1
        listed.update(r.product_id for r in mistakes)
        out.append(f"<h3>{_e(_path_names(taxonomy, taxonomy.ancestors(score.category_id)))} "
                   f"<small>(F1 {_num(score.f1)}, support {score.support})</small></h3>")
        out.append('<table class="mistakes"><tr><th class="text">title</th><th class="text">true path</th>'
                   '<th class="text">predicted path</th><th>confidence</th><th class="text">kind</th></tr>')
        for r in mistakes:
            served = _e(_path_names(taxonomy, r.served_path)) if r.served_depth else "<em>(no prediction)</em>"
            rest = r.full_path[r.served_depth:]
            unserved = (f' <span class="unserved">› {_e(_path_names(taxonomy, rest))}</span>' if rest else "")
            confidences = " / ".join(f"{c:.2f}" for c in r.confidences)
            out.append(f'<tr data-product="{_e(r.product_id)}"><td class="title">{_e(r.title)}</td>'
                       f'<td class="text">{_e(_path_names(taxonomy, r.true_path))}</td>'
                       f'<td class="text">{served}{unserved}</td>'
                       f'<td title="per level: {_e(confidences)}">{_shown_confidence(r):.2f}</td>'
                       f'<td class="text">{_e(mistake_kind(r))}</td></tr>')
        out.append("</table>")
    if not shown:
        out.append('<p class="note">No mistakes on the eval split.</p>')
    out.append("</section>")
    return "".join(out)


__all__ = ["NoEvaluationError", "write_report", "render_report", "write_run_report", "collect", "ReportData",
           "EvalRecord", "SliceMetrics", "GateVerdict", "report_for_summary", "REPORT_DIRNAME"]
