"""The run summary surfaces ExampleValidator's anomalies, read from the real executor's artifact."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import tensorflow_data_validation as tfdv
from tfx.components.example_validator.executor import Executor
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import io_utils

from prodcat.reporting.artifacts import DataAnomaly, data_anomalies
from prodcat.reporting.summary import RunSummary, format_summary


def test_anomalies_are_listed_with_feature_severity_and_meaning(tmp_path: Path) -> None:
    good = pd.DataFrame({"title": ["kite", "pot", "kite"], "language": ["en", "de", "en"]})
    bad = pd.DataFrame({"title": ["kite", None, None], "language": ["en", "xx", "en"], "price": [1.0, 2.0, 3.0]})
    statistics = standard_artifacts.ExampleStatistics()
    statistics.uri = str(tmp_path / "statistics")
    statistics.split_names = json.dumps(["train", "eval"])
    for split, frame in (("train", good), ("eval", bad)):
        io_utils.write_bytes_file(str(tmp_path / "statistics" / f"Split-{split}" / "FeatureStats.pb"),
                                  tfdv.generate_statistics_from_dataframe(frame).SerializeToString())
    schema = standard_artifacts.Schema()
    schema.uri = str(tmp_path / "schema")
    io_utils.write_pbtxt_file(str(tmp_path / "schema" / "schema.pbtxt"),
                              tfdv.infer_schema(tfdv.generate_statistics_from_dataframe(good)))
    anomalies = standard_artifacts.ExampleAnomalies()
    anomalies.uri = str(tmp_path / "anomalies")
    Executor().Do({standard_component_specs.STATISTICS_KEY: [statistics], standard_component_specs.SCHEMA_KEY: [schema]},
                  {standard_component_specs.ANOMALIES_KEY: [anomalies]}, {standard_component_specs.EXCLUDE_SPLITS_KEY: "[]"})

    found = data_anomalies(anomalies)
    assert {(a.split, a.feature, a.short_description) for a in found} >= {
        ("eval", "price", "New column"), ("eval", "title", "Column dropped"),
        ("eval", "language", "Unexpected string values")}
    assert all(a.split == "eval" and a.severity in ("ERROR", "WARNING") and a.description for a in found)

    text = format_summary(RunSummary("run", [], {}, None, None, anomalies=found), None, 3)
    assert f"data validation (ExampleValidator vs the schema): {len(found)} anomalies" in text
    assert "[ERROR] eval, feature 'title': Column dropped: The feature was present in fewer examples than expected" in text
    assert "[ERROR] eval, feature 'language': Unexpected string values: Examples contain values missing from the schema: xx" in text


def test_summary_without_anomalies_or_validator() -> None:
    clean = format_summary(RunSummary("run", [], {}, None, None, anomalies=[]), None, 3)
    assert "data validation (ExampleValidator vs the schema): no anomalies" in clean
    assert "data validation" not in format_summary(RunSummary("run", [], {}, None, None), None, 3)
    one = DataAnomaly("train", "", "WARNING", "Low num examples", "The dataset has fewer examples than expected")
    assert one.line() == "[WARNING] train, whole split: Low num examples: The dataset has fewer examples than expected"
