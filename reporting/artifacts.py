"""What a run's artifacts hold, read with TFX's, TFDV's and TFMA's own helpers.

Every view of a run (`prodcat runs`, `lineage`, the end-of-run summary, the live progress lines)
reads the same few facts from the same artifacts: products per split (StatisticsGen), the
anomalies ExampleValidator found, the Evaluator's metrics, gate failures and verdict, and the
records ExampleGen rejected. They are read here, once, from the artifact as ML Metadata records
it, so a split's folder or a blessing's marker is found the way TFX writes it.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from ml_metadata.proto import metadata_store_pb2

# An artifact as ML Metadata stores it, or as TFX hands it to an executor.
AnyArtifact = Any  # metadata_store_pb2.Artifact | tfx.types.Artifact


def tfx_artifact(artifact: AnyArtifact) -> Any:
    """The TFX Artifact (its split names, custom properties and version) for an MLMD record."""
    from tfx.types import artifact_utils, standard_artifacts

    if not isinstance(artifact, metadata_store_pb2.Artifact):
        return artifact
    artifact_class = getattr(standard_artifacts, artifact.type, None)  # a standard type, with its properties
    if artifact_class is None:
        return artifact_utils.deserialize_artifact(metadata_store_pb2.ArtifactType(name=artifact.type), artifact)
    typed = artifact_class()
    typed.set_mlmd_artifact(artifact)
    return typed


def split_counts(statistics: AnyArtifact) -> dict[str, int]:
    """Examples per split, from a StatisticsGen artifact."""
    from tfx.components.statistics_gen import stats_artifact_utils
    from tfx.types import artifact_utils

    artifact = tfx_artifact(statistics)
    counts: dict[str, int] = {}
    for split in artifact_utils.decode_split_names(artifact.split_names or "[]"):
        try:
            stats = stats_artifact_utils.load_statistics(artifact, split).proto()
        except (OSError, ValueError):  # a split whose statistics are gone (a cleaned-up run)
            continue
        counts[split] = int(sum(d.num_examples for d in stats.datasets))
    return counts


@dataclasses.dataclass(frozen=True)
class DataAnomaly:
    """One finding of ExampleValidator: where, how serious, and what it means."""

    split: str
    feature: str  # "" for a finding about the whole split
    severity: str  # ERROR, WARNING or UNKNOWN (tensorflow_metadata's AnomalyInfo.Severity)
    short_description: str
    description: str

    def line(self) -> str:
        where = f"{self.split}, feature '{self.feature}'" if self.feature else f"{self.split}, whole split"
        short, meaning = self.short_description.strip(), self.description.strip()
        if not meaning or meaning == short:
            text = short
        elif meaning.startswith(short):  # e.g. "New column (column in data but not in schema)"
            text = meaning
        else:
            text = f"{short}: {meaning}"
        return f"[{self.severity}] {where}: {text}"


def data_anomalies(anomalies: AnyArtifact) -> list[DataAnomaly]:
    """ExampleValidator's findings, per validated split. A feature can fail several checks at
    once; each reason is listed with its own description."""
    from tensorflow_data_validation.utils.anomalies_util import load_anomalies_binary
    from tensorflow_metadata.proto.v0 import anomalies_pb2
    from tfx.components.example_validator.executor import DEFAULT_FILE_NAME
    from tfx.types import artifact_utils

    artifact = tfx_artifact(anomalies)
    found: list[DataAnomaly] = []
    for split in artifact_utils.decode_split_names(artifact.split_names or "[]"):
        path = os.path.join(artifact_utils.get_split_uri([artifact], split), DEFAULT_FILE_NAME)
        if not os.path.isfile(path):
            continue
        result = load_anomalies_binary(path)
        infos = sorted(result.anomaly_info.items())
        if result.HasField("dataset_anomaly_info"):
            infos.append(("", result.dataset_anomaly_info))
        for feature, info in infos:
            severity = anomalies_pb2.AnomalyInfo.Severity.Name(info.severity)
            reasons = [(r.short_description, r.description) for r in info.reason] or [
                (info.short_description, info.description)]
            found += [DataAnomaly(split, feature, severity, short or "anomaly", long) for short, long in reasons]
        if result.data_missing:
            found.append(DataAnomaly(split, "", "ERROR", "No data", "the split has no examples to validate"))
    return found


def is_blessed(blessing: AnyArtifact) -> bool:
    """The Evaluator's verdict, as it records it on its ModelBlessing artifact."""
    from tfx.components.evaluator import constants

    artifact = tfx_artifact(blessing)
    return artifact.get_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY) == constants.BLESSED_VALUE


def evaluation_metrics(evaluation_uri: str, model_name: str = "candidate") -> dict[str, float]:
    """Overall-slice metric values of the candidate model from a TFMA evaluation artifact."""
    import tensorflow_model_analysis as tfma

    values: dict[str, float] = {}
    for metrics_for_slice in tfma.load_metrics(evaluation_uri):
        if metrics_for_slice.slice_key.single_slice_keys:
            continue
        for item in metrics_for_slice.metric_keys_and_values:
            key = item.key
            if key.is_diff or (key.model_name and key.model_name != model_name):
                continue
            if item.value.HasField("double_value"):
                values[key.name] = item.value.double_value.value
    return values


def validation_failures(evaluation_uri: str) -> list[str]:
    """Why the Evaluator did not bless a model, one line per failed gate (empty when blessed)."""
    import tensorflow_model_analysis as tfma

    try:
        result = tfma.load_validation_result(evaluation_uri)
    except (OSError, ValueError, IndexError):
        return []
    lines = []
    for per_slice in result.metric_validations_per_slice:
        where = "overall" if not per_slice.slice_key.single_slice_keys else " & ".join(
            f"{k.column}={k.bytes_value.decode() or k.int64_value or k.float_value}" for k in per_slice.slice_key.single_slice_keys)
        for failure in per_slice.failures:
            name = failure.metric_key.name + (" (change vs blessed baseline)" if failure.metric_key.is_diff else "")
            value = failure.metric_value.double_value.value if failure.HasField("metric_value") else float("nan")
            threshold = failure.metric_threshold
            bound = (threshold.value_threshold.lower_bound.value if threshold.HasField("value_threshold")
                     else threshold.change_threshold.absolute.value)
            lines.append(f"{where}: {name} = {value:.4f}, required >= {bound:.4f}" + (
                f" ({failure.message})" if failure.message else ""))
    lines += [f"missing slice: {spec}" for spec in result.missing_slices]
    return lines


def count_rejects(examples_uri: str, folder: str | None = None) -> int:
    """Lines in ExampleGen's rejects files (or, with `folder`, another of its JSONL report folders)."""
    from prodcat.components.product_example_gen import REJECTS_DIR

    rejects = Path(examples_uri, folder or REJECTS_DIR)
    if not rejects.is_dir():
        return 0
    return sum(1 for f in rejects.glob("*.jsonl") for line in f.open(encoding="utf-8") if line.strip())


def anomalies_by_split(anomalies: AnyArtifact) -> dict[str, list[str]]:
    """Per validated split, its anomalies as `feature: short description` (an empty list: none)."""
    from tfx.types import artifact_utils

    artifact = tfx_artifact(anomalies)
    found: dict[str, list[str]] = {split: [] for split in artifact_utils.decode_split_names(artifact.split_names or "[]")}
    for anomaly in data_anomalies(artifact):
        found[anomaly.split].append(f"{anomaly.feature or '(dataset)'}: {anomaly.short_description}")
    return found
