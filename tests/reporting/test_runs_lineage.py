"""`prodcat runs` and `prodcat lineage`: pipeline runs and a served model's lineage, read from ML Metadata."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from prodcat.cli import main
from prodcat.reporting.mlmd import MetadataStoreError, mysql_connection_config, open_store, sqlite_connection_config


# ----------------------------------------------------------------------------- no pipeline needed
def test_mysql_connection_config_takes_the_password_from_the_environment() -> None:
    config = mysql_connection_config("db.internal", 3307, "prodcat_mlmd", "ml", password_env="MLMD_PW",
                                     environ={"MLMD_PW": "s3cret"})
    assert config.WhichOneof("config") == "mysql"
    m = config.mysql
    assert (m.host, m.port, m.database, m.user, m.password) == ("db.internal", 3307, "prodcat_mlmd", "ml", "s3cret")
    assert m.skip_db_creation, "a reader never creates a store"
    assert not mysql_connection_config("db", environ={}).mysql.password
    with pytest.raises(ValueError):
        mysql_connection_config("", environ={})


def test_cli_builds_the_mysql_config_from_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    from prodcat import cli

    monkeypatch.setenv("PRODCAT_MLMD_PASSWORD", "pw")
    args = cli.build_parser().parse_args(["runs", "--mysql-host", "mlmd.example", "--mysql-port", "3310",
                                          "--mysql-database", "meta", "--mysql-user", "reader"])
    m = cli._metadata_connection(args).mysql
    assert (m.host, m.port, m.database, m.user, m.password) == ("mlmd.example", 3310, "meta", "reader", "pw")


@pytest.mark.parametrize("command", [["runs"], ["lineage", "12345"]])
def test_no_metadata_database_is_a_one_line_error(command: list[str], tmp_path: Path, capsys) -> None:
    assert main([*command, "--output", str(tmp_path / "nothing-here")]) == 2
    err = capsys.readouterr().err
    assert "no ML Metadata database at" in err and "Traceback" not in err
    assert not (tmp_path / "nothing-here").exists(), "reading must not create a store"


def test_open_store_reports_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MetadataStoreError, match="prodcat run"):
        open_store(sqlite_connection_config(tmp_path / "metadata.sqlite"))
    (tmp_path / "metadata.sqlite").write_text("not a database")
    with pytest.raises(MetadataStoreError, match="cannot read ML Metadata at .*metadata.sqlite"):
        open_store(sqlite_connection_config(tmp_path / "metadata.sqlite"))


# ----------------------------------------------------------------------------- on the demo run
def _pushed_versions(demo_run) -> list[Path]:
    return sorted(p for p in demo_run.serving_base.iterdir() if p.name.isdigit())


@pytest.mark.e2e
def test_runs_lists_every_run_with_its_blessing_and_push(demo_run, capsys) -> None:
    from prodcat.reporting.runs import list_runs
    from prodcat.reporting.summary import latest_run_summary

    config = demo_run.config
    runs = list_runs(sqlite_connection_config(config.metadata_path))
    assert runs and len({r.run_id for r in runs}) == len(runs)
    pushed_dirs = {str(p) for p in _pushed_versions(demo_run)}
    for run in runs:
        summary = latest_run_summary(config.metadata_path, run.run_id)  # independent: files + events
        assert run.blessed == summary.blessed, run.run_id
        assert (run.pushed_destination if run.pushed else None) == summary.pushed_version_dir, run.run_id
        if run.pushed:
            assert run.blessed and run.pushed_destination in pushed_dirs
            assert Path(run.pushed_destination).name == run.pushed_version
        assert run.data and run.examples and run.examples.startswith(str(config.pipeline_root / "ProductExampleGen"))
        assert sum(run.split_counts.values()) == 900
        assert run.anomalies is not None and set(run.anomalies) == {"train", "eval"}
        assert run.metrics["hierarchical_f1"] > 0.6 or not run.blessed  # on shops training never saw
    first = runs[0]
    assert first.blessed and first.pushed and first.components["Pusher"] == "complete"
    assert first.data == str(Path(demo_run.prepared.inputs.data_root) / demo_run.prepared.inputs.data_pattern)
    # Every version directory in serving/ was pushed by a run the store knows.
    assert pushed_dirs <= {r.pushed_destination for r in runs if r.pushed}

    assert main(["runs", "--output", str(config.output_path)]) == 0
    text = capsys.readouterr().out
    assert f"run {first.run_id}" in text and f"version {first.pushed_version}" in text and "blessed:    yes" in text
    assert main(["runs", "--output", str(config.output_path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in listed] == [r.run_id for r in runs]
    assert listed[0]["blessed"] is True and listed[0]["pushed_version"] == first.pushed_version


@pytest.mark.e2e
def test_lineage_of_the_pushed_version_reaches_its_examples_data_and_blessing(demo_run, capsys, monkeypatch,
                                                                            tmp_path: Path) -> None:
    from prodcat.reporting.lineage import trace_pushed_model
    from prodcat.reporting.summary import latest_run_summary

    config, prepared = demo_run.config, demo_run.prepared
    connection = sqlite_connection_config(config.metadata_path)
    version_dir = _pushed_versions(demo_run)[0]
    lineage = trace_pushed_model(connection, version_dir.name)
    assert lineage.pushed_version == version_dir.name and Path(lineage.pushed_destination) == version_dir
    roles = [s.role for s in lineage.steps]
    assert roles == ["pushed model", "model", "transform graph", "examples", "schema", "statistics", "anomalies",
                     "blessing", "evaluation"]

    # The run that pushed this version, as `prodcat run`'s summary reads it (execution outputs).
    pusher_run = lineage.step("pushed model").execution["run"]
    summary = latest_run_summary(config.metadata_path, pusher_run)
    assert summary.pushed_version_dir == str(version_dir)
    examples = lineage.step("examples")
    assert examples.uri == summary.component("ProductExampleGen").outputs["examples"][0]
    assert Path(examples.uri).is_dir()
    assert examples.details["data"] == str(Path(prepared.inputs.data_root) / prepared.inputs.data_pattern)
    assert examples.details["input_fingerprint"].startswith("split:products,num_files:1,")
    assert sum(examples.details["split_counts"].values()) == 900
    assert lineage.step("model").uri == summary.component("Trainer").outputs["model"][0]
    assert lineage.step("transform graph").uri == summary.component("Transform").outputs["transform_graph"][0]
    trainer = lineage.step("model").details
    assert trainer["hyperparameters"]["epochs"] == 5 and len(trainer["code_fingerprint"]) == 16

    evaluation, blessing = lineage.step("evaluation"), lineage.step("blessing")
    assert evaluation.details["same_examples_as_training"] is True
    assert evaluation.execution["node"] == blessing.execution["node"] == "Evaluator"
    assert blessing.details["blessed"] is True and (Path(blessing.uri) / "BLESSED").is_file()
    assert evaluation.details["metrics"]["hierarchical_f1"] > 0.6  # on shops training never saw
    assert evaluation.details["gate_failures"] == []

    # The same chain from the version directory's path, and through the CLI.
    assert trace_pushed_model(connection, str(version_dir), with_metrics=False).step("examples").uri == examples.uri
    assert main(["lineage", version_dir.name, "--output", str(config.output_path)]) == 0
    text = capsys.readouterr().out
    assert examples.uri in text and examples.details["data"] in text and "BLESSED" in text
    assert main(["lineage", str(version_dir), "--output", str(config.output_path), "--json"]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert [s["role"] for s in as_json["steps"]] == roles
    assert main(["lineage", "99", "--output", str(config.output_path)]) == 2
    assert f"pushed versions: {version_dir.name}" in capsys.readouterr().err
    # A version directory says which run pushed it: no --output needed, from any directory.
    monkeypatch.chdir(tmp_path)
    assert main(["lineage", str(version_dir)]) == 0
    assert f"(ML Metadata: {config.metadata_path})" in capsys.readouterr().out


@pytest.mark.e2e
def test_predicted_subtree_metrics_are_in_the_evaluators_output(demo_run, google_taxonomy) -> None:
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.proto import metrics_for_slice_pb2

    from prodcat.components.hierarchical_metrics import metric_names, sensitive_subtree_names
    from prodcat.reporting.summary import latest_run_summary

    config = demo_run.config
    evaluation_uri = latest_run_summary(config.metadata_path).component("Evaluator").outputs["evaluation"][0]
    subtrees = sensitive_subtree_names(google_taxonomy, config.thresholds.sensitive.paths)
    assert len(subtrees) == 6
    slices = {}
    for metrics_for_slice in tfma.load_metrics(evaluation_uri):
        slices[str(metrics_for_slice.slice_key)] = {
            item.key.name: item.value.double_value.value for item in metrics_for_slice.metric_keys_and_values
            if not item.key.is_diff and item.key.model_name in ("", "candidate")}
    overall = slices[str(metrics_for_slice_pb2.SliceKey())]
    assert set(metric_names(google_taxonomy.depth, subtrees)) <= set(overall)
    # The default subtrees do not nest, so every sensitive prediction lies in exactly one of them.
    per_subtree = [overall[f"sensitive_predicted_{name}_count"] for name in subtrees]
    assert sum(per_subtree) == overall["sensitive_predictions"]
    for name in subtrees:
        count = overall[f"sensitive_predicted_{name}_count"]
        precision = overall[f"sensitive_predicted_{name}_precision"]
        assert math.isnan(precision) if count == 0 else 0.0 <= precision <= 1.0
    assert len(slices) > 1 and all("sensitive_predicted_mature_count" in m for m in slices.values()), \
        "reported in every slice, like the other hierarchical metrics"


# ----------------------------------------------------------------------------- a hand-built store
def _fake_store(path: Path) -> None:
    """A store shaped like TFX's: ExampleGen -> Transform -> Trainer -> Tuner (re-exports the model)
    -> Evaluator -> Pusher, one pipeline run, every execution in its node's context."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb

    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    store = metadata_store.MetadataStore(config)
    types = {name: store.put_artifact_type(pb.ArtifactType(name=name)) for name in (
        "Examples", "Schema", "TransformGraph", "Model", "ModelBlessing", "ModelEvaluation", "PushedModel")}
    ctx_types = {name: store.put_context_type(pb.ContextType(name=name)) for name in ("pipeline", "pipeline_run", "node")}
    [pipeline, run] = store.put_contexts([pb.Context(type_id=ctx_types["pipeline"], name="p"),
                                          pb.Context(type_id=ctx_types["pipeline_run"], name="run-1")])
    made: dict[str, int] = {}

    def execute(node: str, inputs: dict[str, str], outputs: dict[str, tuple[str, str, dict]], **props: str) -> None:
        exec_type = store.put_execution_type(pb.ExecutionType(name=f"tfx.{node}"))
        execution = pb.Execution(type_id=exec_type, last_known_state=pb.Execution.COMPLETE)
        for k, v in props.items():
            execution.custom_properties[k].string_value = v
        pairs = []
        for key, name in inputs.items():
            [artifact] = store.get_artifacts_by_id([made[name]])
            event = pb.Event(type=pb.Event.INPUT)
            event.path.steps.add().key = key
            pairs.append((artifact, event))
        for key, (name, type_name, custom) in outputs.items():
            artifact = pb.Artifact(type_id=types[type_name], uri=f"/fake/{name}", state=pb.Artifact.LIVE)
            for k, v in custom.items():
                if isinstance(v, int):
                    artifact.custom_properties[k].int_value = v
                else:
                    artifact.custom_properties[k].string_value = v
            event = pb.Event(type=pb.Event.OUTPUT)
            event.path.steps.add().key = key
            pairs.append((artifact, event))
        [node_ctx] = store.put_contexts([pb.Context(type_id=ctx_types["node"], name=f"p.{node}")])
        _, artifact_ids, _ = store.put_execution(execution, pairs, [store.get_contexts_by_id([pipeline])[0],
                                                                    store.get_contexts_by_id([run])[0],
                                                                    store.get_contexts_by_id([node_ctx])[0]])
        for (key, (name, _, _)), artifact_id in zip(outputs.items(), artifact_ids[len(inputs):]):
            made[name] = artifact_id

    execute("ProductExampleGen", {}, {"examples": ("examples", "Examples", {"input_fingerprint": "fp", "span": 3})},
            input_base="/data", input_config='{"splits": [{"name": "products", "pattern": "*.jsonl"}]}')
    execute("ImportSchemaGen", {}, {"schema": ("schema", "Schema", {})})
    execute("Transform", {"examples": "examples", "schema": "schema"},
            {"transform_graph": ("graph", "TransformGraph", {})})
    execute("Trainer", {"transform_graph": "graph", "schema": "schema"}, {"model": ("model", "Model", {})},
            run_fn="m.run_fn", custom_config='{"code_fingerprint": "abc", "config": {"model": {"epochs": 2}}}')
    execute("ThresholdTuner", {"model": "model", "transform_graph": "graph"},
            {"tuned_model": ("tuned", "Model", {})})
    execute("Evaluator", {"examples": "examples", "model": "tuned"},
            {"evaluation": ("evaluation", "ModelEvaluation", {}), "blessing": ("blessing", "ModelBlessing", {"blessed": 1})})
    execute("Pusher", {"model": "tuned", "model_blessing": "blessing"},
            {"pushed_model": ("pushed", "PushedModel", {"pushed": 1, "pushed_version": "7",
                                                        "pushed_destination": "/serving/m/7"})})


def test_lineage_through_a_component_that_re_exports_the_model(tmp_path: Path) -> None:
    from prodcat.reporting.lineage import trace_pushed_model
    from prodcat.reporting.runs import list_runs

    _fake_store(tmp_path / "metadata.sqlite")
    connection = sqlite_connection_config(tmp_path / "metadata.sqlite")
    lineage = trace_pushed_model(connection, "7", with_metrics=False)
    assert [s.role for s in lineage.steps] == ["pushed model", "re-exported model", "model", "transform graph",
                                               "examples", "schema", "blessing", "evaluation"]
    assert lineage.step("re-exported model").execution["node"] == "ThresholdTuner"
    trainer = lineage.step("model")
    assert trainer.uri == "/fake/model" and trainer.execution["node"] == "Trainer"
    assert trainer.details["hyperparameters"] == {"epochs": 2} and trainer.details["code_fingerprint"] == "abc"
    examples = lineage.step("examples")
    assert (examples.uri, examples.details["data"], examples.details["span"]) == ("/fake/examples", "/data/*.jsonl", 3)
    assert lineage.step("evaluation").details["same_examples_as_training"] is True
    assert lineage.step("blessing").details["blessed"] is True
    assert trace_pushed_model(connection, "/serving/m/7", with_metrics=False).pushed_version == "7"

    [run] = list_runs(connection, with_metrics=False)
    assert (run.run_id, run.blessed, run.pushed_version, run.model) == ("run-1", True, "7", "/fake/model")
    assert run.components["ThresholdTuner"] == "complete" and run.state == "complete"
