"""`prodcat run`'s live progress: the runner's component announcements become prodcat's lines,
library chatter is dropped, errors and prodcat's own lines pass (the real run: test_faults_kill_resume)."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pandas as pd
import tensorflow_data_validation as tfdv
from ml_metadata.proto import metadata_store_pb2
from tfx.utils import io_utils

from prodcat.components import nodes
from prodcat.pipeline.progress import ComponentProgress, beam_stage_label, component_facts, reporting_progress


def _record(name: str, level: int, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_component_start_and_end_lines_in_the_order_components_start(tmp_path: Path) -> None:
    stream = io.StringIO()
    handler = ComponentProgress(["A", "B"], tmp_path / "no-metadata.sqlite", stream)
    try:
        for node in ("A", "B"):
            handler.emit(_record("absl", logging.INFO, "Component %s is running.", node))
            handler.emit(_record("absl", logging.INFO, "Running launcher for %s", node))  # chatter: dropped
            handler.emit(_record("absl", logging.INFO, "Component %s is finished.", node))
    finally:
        handler.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "prodcat: [1/2] A ..." and lines[2] == "prodcat: [2/2] B ..."
    assert lines[1].startswith("prodcat: [1/2] A ") and " in " in lines[1] and " s" in lines[1]
    assert len(lines) == 4, lines


def test_errors_and_prodcats_own_lines_pass_warnings_of_libraries_do_not(tmp_path: Path) -> None:
    stream = io.StringIO()
    handler = ComponentProgress([], tmp_path / "m.sqlite", stream)
    try:
        handler.emit(_record("absl", logging.WARNING, "some library warning"))
        handler.emit(_record("apache_beam", logging.ERROR, "the worker died"))
        handler.emit(_record("prodcat.trainer", logging.INFO, "epoch %d of %d: loss %.4f", 1, 3, 0.5))
        handler.emit(_record("prodcat.status", logging.INFO, "epoch 1 of 3, step 2/10"))  # a terminal's status only
    finally:
        handler.close()
    assert stream.getvalue().splitlines() == ["prodcat: the worker died", "prodcat: epoch 1 of 3: loss 0.5000"]


def _artifact(uri: Path, type_name: str = "Examples", **custom: int) -> metadata_store_pb2.Artifact:
    artifact = metadata_store_pb2.Artifact(uri=str(uri), type=type_name)
    for name, value in custom.items():
        artifact.custom_properties[name].int_value = value
    return artifact


def test_key_figures_of_finished_components(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "Format-Serving" / "assets.extra").mkdir(parents=True)
    (model / "Format-Serving" / "assets.extra" / "training_summary.json").write_text(json.dumps({"epochs_run": 7}))
    assert component_facts(nodes.TRAINER, {"model": [_artifact(model)]}) == "7 epochs"
    blessing = tmp_path / "blessing"  # the verdict is the artifact's `blessed` property, as the Evaluator records it
    assert component_facts(nodes.EVALUATOR, {"blessing": [_artifact(blessing, "ModelBlessing", blessed=0)]}).startswith(
        "NOT blessed")
    assert component_facts(nodes.EVALUATOR, {"blessing": [_artifact(blessing, "ModelBlessing", blessed=1)]}) == "blessed"
    assert component_facts(nodes.PUSHER, {"pushed_model": [_artifact(tmp_path, pushed=0)]}) == "not pushed"
    assert component_facts(nodes.PUSHER, {"pushed_model": [_artifact(tmp_path, pushed=1)]}) == "pushed"
    examples = tmp_path / "examples"
    (examples / "Rejects").mkdir(parents=True)
    (examples / "Rejects" / "rejects-0.jsonl").write_text('{"a": 1}\n{"b": 2}\n')
    assert component_facts(nodes.EXAMPLE_GEN, {"examples": [_artifact(examples)]}) == "2 rejected records"
    statistics = _artifact(tmp_path / "statistics", "ExampleStatistics")
    statistics.properties["split_names"].string_value = '["train", "eval"]'
    for split, rows in (("train", 3), ("eval", 2)):  # where and how StatisticsGen writes them
        io_utils.write_bytes_file(str(tmp_path / "statistics" / f"Split-{split}" / "FeatureStats.pb"),
                                  tfdv.generate_statistics_from_dataframe(pd.DataFrame({"title": ["x"] * rows}))
                                  .SerializeToString())
    assert component_facts(nodes.STATISTICS_GEN, {"statistics": [statistics]}) == "train 3 products, eval 2 products"
    assert component_facts("SomethingElse", {}) == ""


def test_the_progress_handler_is_removed_and_absl_restored_after_the_run(tmp_path: Path) -> None:
    from absl import logging as absl_logging

    root = logging.getLogger()
    handlers, verbosity = root.handlers[:], absl_logging.get_verbosity()
    with reporting_progress(["A"], tmp_path / "m.sqlite", verbose=False):
        assert isinstance(root.handlers[0], ComponentProgress) and len(root.handlers) == 1
        assert absl_logging.get_verbosity() == absl_logging.INFO
    assert root.handlers == handlers and absl_logging.get_verbosity() == verbosity
    with reporting_progress(["A"], tmp_path / "m.sqlite", verbose=True):
        assert root.handlers == handlers


def test_beam_stage_labels_name_the_top_level_transforms_of_a_fused_stage() -> None:
    fused = ("((ref_AppliedPTransform_AnalyzeDataset-CreateSavedModel-BindTensors_3)"
             "+(ref_AppliedPTransform_AnalyzeDataset-Count_4))+(ref_AppliedPTransform_WriteMetadata_9)")
    assert beam_stage_label(fused) == "AnalyzeDataset, WriteMetadata"
    assert beam_stage_label("(Group/Read)+(ref_AppliedPTransform_Count_16)") == "Group, Count"
    assert beam_stage_label("((ref_PCollection_PCollection_153_split/Read)+(ref_AppliedPTransform_TFXIOReadAndDecode-"
                            "Decode_84))+(ref_AppliedPTransform_Transform-Apply_90)") == "TFXIOReadAndDecode, Transform"
    assert beam_stage_label("ReadProducts/Impulse") == "ReadProducts"  # unfused
    assert beam_stage_label("((ExtractEvaluateAndWriteResults/ExtractAndEvaluate/EvaluateMetrics/CombinePerSlice/"
                            "Precombine") == "ExtractEvaluateAndWriteResults"


def test_a_beam_component_shows_the_stage_it_runs(tmp_path: Path, monkeypatch, capsys) -> None:
    """A real in-process Beam job under the progress handler: the heartbeat names its stages."""
    import time

    import apache_beam as beam

    from prodcat.pipeline import progress

    monkeypatch.setattr(progress, "HEARTBEAT_SECONDS", 0.0)
    with reporting_progress(["Transform"], tmp_path / "m.sqlite", verbose=False):
        logging.getLogger("absl").info("Component %s is running.", "Transform")
        with beam.Pipeline() as pipeline:
            (pipeline | "ReadProducts" >> beam.Create(range(50)) | "ByRemainder" >> beam.Map(lambda x: (x % 3, x))
             | "Group" >> beam.GroupByKey() | "CountPerGroup" >> beam.Map(lambda kv: len(kv[1])))
        time.sleep(1.5)
    beats = [line for line in capsys.readouterr().err.splitlines() if "still running" in line]
    assert beats and "Transform still running" in beats[-1], beats
    assert "Beam stage " in beats[-1] and ("Group" in beats[-1] or "CountPerGroup" in beats[-1]), beats
    assert not logging.getLogger(progress.BEAM_BUNDLE_LOGGER).isEnabledFor(logging.DEBUG)  # restored
