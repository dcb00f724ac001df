"""`prodcat tune-thresholds` over a finished run, the re-export and the pipeline component.

The e2e tests use the demo run (tests/conftest.py): what the tuned thresholds achieve on the eval
split, re-exported, must be what the new serving graph gives on that split, scored by the
Evaluator's own counting code.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from prodcat.cli import main
from prodcat.config import Config, ThresholdConfig, ThresholdOverride, load_config


# ------------------------------------------------------------------ fast: errors and the config file
def test_a_directory_that_is_not_a_run_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["tune-thresholds", "--run", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no metadata.sqlite" in err and "Traceback" not in err
    assert main(["tune-thresholds", "--run", str(tmp_path / "missing")]) == 2
    assert "no such run directory" in capsys.readouterr().err


def test_a_run_without_a_model_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = str(tmp_path / "metadata.sqlite")
    connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    metadata_store.MetadataStore(connection)  # an empty store, as a run that failed before training leaves
    assert main(["tune-thresholds", "--run", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no trained model" in err and "Traceback" not in err


def test_a_target_outside_0_1_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["tune-thresholds", "--run", str(tmp_path), "--target-precision", "90"]) == 2
    assert "(0, 1]" in capsys.readouterr().err


def test_written_config_keeps_an_existing_file_and_completes_a_new_one(tmp_path: Path) -> None:
    from prodcat.reporting.tuning import write_config

    tuned = ThresholdConfig(per_level=(0.42, 0.6), temperatures=(1.2, 1.1),
                            overrides=(ThresholdOverride(path="Mature", min_confidence=0.93),))
    existing = tmp_path / "mine.yaml"
    existing.write_text(yaml.safe_dump({"pipeline_name": "shop-a", "model": {"epochs": 3},
                                        "thresholds": {"beam_width": 4, "per_level": [0.3]}}))
    write_config(existing, tuned, Config())
    config = load_config(existing)
    assert config.pipeline_name == "shop-a" and config.model.epochs == 3 and config.thresholds.beam_width == 4
    assert config.thresholds.per_level == (0.42, 0.6) and config.thresholds.temperatures == (1.2, 1.1)
    assert config.thresholds.overrides == tuned.overrides

    fresh = tmp_path / "new" / "tuned.json"
    write_config(fresh, tuned, Config(pipeline_name="the-run"))
    config = load_config(fresh)
    assert config.pipeline_name == "the-run" and config.thresholds == tuned
    assert not list(fresh.parent.glob(".*.tmp"))


# ------------------------------------------------------------------ e2e: on the demo run
def served_scores(model_dir: Path, eval_files: list[str], taxonomy) -> dict[str, float]:  # noqa: ANN001
    """The new model's serving_default on the eval split, scored like the Evaluator does."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    from prodcat import features as F
    from prodcat.components.hierarchical_metrics import HierarchicalCounts

    records = [r.numpy() for r in tf.data.TFRecordDataset(eval_files, compression_type="GZIP")]
    outputs = tf.saved_model.load(str(model_dir)).signatures["serving_default"](examples=tf.constant(records))
    counts = HierarchicalCounts()
    for row, record in enumerate(records):
        true_id = tf.train.Example.FromString(record).features.feature[F.CATEGORY].bytes_list.value[0].decode()
        if true_id not in taxonomy:
            continue
        ids = [v.decode() for v in outputs[F.OUT_LEVEL_IDS][row].numpy()]
        counts.add(taxonomy.ancestors(true_id), ids[:int(outputs[F.OUT_DEPTH][row])], ids[:int(outputs[F.OUT_FULL_DEPTH][row])])
    return counts.results(taxonomy.depth)


def assert_same_scores(served: dict[str, float], expected: dict[str, float | None], depth: int) -> None:
    keys = ["hierarchical_precision", "hierarchical_recall", "coverage"] + [f"coverage_level_{k}" for k in range(1, depth + 1)]
    for key in keys:
        want = expected[key]
        if want is None or np.isnan(want):
            assert np.isnan(served[key]), key
        else:
            assert served[key] == pytest.approx(want, abs=1e-12), key


@pytest.fixture(scope="module")
def run_artifacts(demo_run):  # noqa: ANN001, ANN201
    from prodcat.reporting.tuning import find_run_artifacts

    return find_run_artifacts(demo_run.config.output_path)


@pytest.mark.e2e
def test_cli_tunes_writes_and_reexports_what_it_reports(demo_run, run_artifacts, tmp_path: Path) -> None:  # noqa: ANN001
    versions_before = sorted(p.name for p in demo_run.serving_base.iterdir())
    written, serving, result_file = tmp_path / "tuned.yaml", tmp_path / "serving", tmp_path / "result.json"
    code = main(["tune-thresholds", "--run", str(demo_run.config.output_path), "--target-precision", "0.95",
                 "--calibrate", "--write", str(written), "--export", "--serving-base", str(serving),
                 "--json", str(result_file)])
    assert code == 0
    result = json.loads(result_file.read_text())
    assert result["reached"] and result["achieved"]["hierarchical_precision"] >= 0.95
    assert result["eval_files"] == run_artifacts.eval_files
    assert set(result["curves"]) >= {"1", "2"} and len(result["curves"]["1"]) == 101

    config = load_config(written)  # the run's whole config, tuned thresholds in it
    assert list(config.thresholds.per_level) == result["thresholds"]["per_level"]
    assert list(config.thresholds.temperatures) == result["thresholds"]["temperatures"]
    assert len(result["calibration"]) == demo_run.prepared.taxonomy.depth
    assert config.pipeline_name == demo_run.config.pipeline_name
    assert config.output_path == demo_run.config.output_path, "retraining with it continues this run, not the demo"

    (version,) = [p for p in serving.iterdir()]
    assert version.name.isdigit() and (version / "saved_model.pb").exists(), "a complete version, no staging left"
    exported = json.loads((version / "assets.extra" / "prodcat_config.json").read_text())
    assert exported["thresholds"] == config.thresholds.model_dump(mode="json")
    assert (version / "assets.extra" / "threshold_tuning.json").exists()
    assert (version / "assets.extra" / "tf_serving_warmup_requests").exists()

    served = served_scores(version, run_artifacts.eval_files, demo_run.prepared.taxonomy)
    assert_same_scores(served, result["achieved"], demo_run.prepared.taxonomy.depth)
    assert sorted(p.name for p in demo_run.serving_base.iterdir()) == versions_before, "the run's own serving dir is untouched"


@pytest.mark.e2e
def test_eval_predictions_are_what_the_exported_model_serves(run_artifacts) -> None:  # noqa: ANN001
    """The one eval-split pass threshold tuning and the run report share: paths, confidences, served
    depths and the asked-for fields of the labelled products, as the model's serving_default gives them."""
    import tensorflow as tf

    from prodcat import features as F
    from prodcat.trainer import retune

    model = retune.load_model(run_artifacts.model_dir, run_artifacts.transform_graph_dir)
    split = retune.eval_predictions(model, run_artifacts.eval_files, fields=(F.TITLE, F.SHOP))
    records = [r.numpy() for r in tf.data.TFRecordDataset(run_artifacts.eval_files, compression_type="GZIP")]
    outputs = tf.saved_model.load(run_artifacts.model_dir).signatures["serving_default"](examples=tf.constant(records))
    rows = []
    for row, record in enumerate(records):
        feature = tf.train.Example.FromString(record).features.feature
        if feature[F.CATEGORY].bytes_list.value[0].decode() in model.taxonomy:
            rows.append((row, feature[F.TITLE].bytes_list.value[0].decode(), feature[F.SHOP].bytes_list.value[0].decode()))
    assert len(split) == len(rows) > 100
    assert split.fields[F.TITLE] == [title for _, title, _ in rows] and split.fields[F.SHOP] == [shop for *_, shop in rows]
    served = outputs[F.OUT_DEPTH].numpy()
    full = outputs[F.OUT_FULL_DEPTH].numpy()
    for i, (row, _, _) in enumerate(rows):
        assert split.path_ids[i] == [v.decode() for v in outputs[F.OUT_LEVEL_IDS][row].numpy()[:full[row]]]
        assert split.served_depths[i] == served[row]
        np.testing.assert_allclose(split.confidences[i], outputs[F.OUT_LEVEL_CONFIDENCES][row].numpy(), atol=1e-6)


@pytest.mark.e2e
def test_offline_scoring_is_what_the_serving_graph_does(demo_run, run_artifacts, tmp_path: Path) -> None:  # noqa: ANN001
    """Non-trivial thresholds (each level cut near its median confidence), a subtree floor and
    temperatures: the numpy scoring used by the search matches the re-exported graph exactly."""
    from prodcat.trainer import retune
    from prodcat.thresholds import search, tuning

    model = retune.load_model(run_artifacts.model_dir, run_artifacts.transform_graph_dir)
    predictions = retune.eval_predictions(model, run_artifacts.eval_files, with_probs=True)
    temperatures = (1.5, 0.7, 1.0, 2.0)
    paths, confidences = retune.decoder_for(model, predictions)(temperatures)

    def cut(values: np.ndarray) -> float:  # a threshold between two neighbouring confidences near the median
        values = np.unique(values[values > 0])
        if len(values) < 2:
            return 0.0
        middle = len(values) // 2
        return search.readable_threshold(float(values[middle - 1]), float(values[middle]))

    depth = int((confidences > 0).any(axis=0).sum())
    mature = [c for path, row in zip(paths, confidences) for k, c in enumerate(row[:len(path)])
              if model.taxonomy.is_under(path[k], model.taxonomy.by_path("Mature").id)]
    thresholds = model.thresholds.model_copy(update={
        "per_level": tuple(cut(confidences[:, k]) for k in range(depth)), "temperatures": temperatures,
        "overrides": (ThresholdOverride(path="Mature", min_confidence=cut(np.array(mature))),)})
    data = search.TuningData.build(model.taxonomy, predictions.true_ids, paths, confidences, thresholds,
                                   predictions.unfamiliar)
    expected = tuning.evaluate(model.taxonomy, data, thresholds)
    assert 0.2 < expected.coverage < 0.98 and expected.covered < expected.products, "the cut is not trivial"

    retune.export_model(model, thresholds, str(tmp_path / "model"))
    served = served_scores(tmp_path / "model", run_artifacts.eval_files, model.taxonomy)
    assert_same_scores(served, expected.as_dict(), model.taxonomy.depth)


@pytest.mark.e2e
def test_pipeline_component_exports_the_tuned_model_and_its_report(demo_run, run_artifacts, tmp_path: Path) -> None:  # noqa: ANN001
    from tfx.types import artifact_utils, standard_artifacts

    from prodcat.components.threshold_tuner import REPORT_FILE, TUNER_CODE, ThresholdTuner, ThresholdTuning
    from prodcat.config import ThresholdTuningConfig
    from prodcat.module_config import ModuleConfig

    def artifact(kind, uri: Path | str):  # noqa: ANN001, ANN202
        instance = kind()
        instance.uri = str(uri)
        return instance

    examples = artifact(standard_artifacts.Examples, Path(run_artifacts.eval_files[0]).parent.parent)
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    inputs = {"model": [artifact(standard_artifacts.Model, Path(run_artifacts.model_dir).parent)], "examples": [examples],
              "transform_graph": [artifact(standard_artifacts.TransformGraph, run_artifacts.transform_graph_dir)]}
    tuned, report = artifact(standard_artifacts.Model, tmp_path / "tuned"), artifact(ThresholdTuning, tmp_path / "report")
    config = demo_run.config.model_copy(update={"thresholds": demo_run.config.thresholds.model_copy(update={
        "tune": ThresholdTuningConfig(enabled=True, target_precision=0.9)})})  # the demo has 5% mislabelled rows
    custom = json.dumps(ModuleConfig(config, demo_run.prepared.inputs.taxonomy_path).to_custom_config(TUNER_CODE))
    ThresholdTuner.EXECUTOR_SPEC.executor_class().Do(inputs, {"tuned_model": [tuned], "report": [report]},
                                                       {"custom_config": custom})

    result = json.loads((tmp_path / "report" / REPORT_FILE).read_text())
    assert result["reached"] and result["target_precision"] == 0.9
    assert tuned.get_float_custom_property("coverage") == pytest.approx(result["achieved"]["coverage"])
    model_dir = tmp_path / "tuned" / "Format-Serving"
    exported = json.loads((model_dir / "assets.extra" / "prodcat_config.json").read_text())
    assert exported["thresholds"]["per_level"] == result["thresholds"]["per_level"]
    served = served_scores(model_dir, run_artifacts.eval_files, demo_run.prepared.taxonomy)
    assert_same_scores(served, result["achieved"], demo_run.prepared.taxonomy.depth)
