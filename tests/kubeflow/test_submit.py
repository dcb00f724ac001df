"""`submit` against a LOCAL FAKE Kubeflow Pipelines endpoint (and a fake Vertex PipelineJob).

The fake is a stdlib HTTP server on 127.0.0.1 that answers the KFP v2beta1 REST calls kfp.Client
makes with minimal valid JSON and records every request, so the tests can check what a real
cluster would have received: the pipeline spec, the run name, the parameters, the cron schedule.
Nothing here talks to a real cluster.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from prodcat.config import ClusterConfig, Config, Resources
from prodcat.kubeflow import runner
from prodcat.kubeflow.submit import parse_parameters, resolve_parameters, submit

DATA = "gs://bucket/products"
TAXONOMY = "gs://bucket/root/inputs/taxonomy/0123/taxonomy.txt"


class FakeKfp(BaseHTTPRequestHandler):
    """Answers kfp.Client's v2beta1 calls; `requests` collects (method, path, query, body)."""

    requests: list[tuple[str, str, dict, dict | None]] = []
    experiments: dict[str, str] = {}

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _reply(self, payload: dict, status: int = 200) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _record(self) -> tuple[str, dict, dict | None]:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.requests.append((self.command, url.path, query, body))
        return url.path, query, body

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        path, query, _ = self._record()
        if path == "/apis/v2beta1/healthz":
            return self._reply({"multi_user": False, "commit_sha": "fake", "tag_name": "2.0.5"})
        if path == "/apis/v2beta1/experiments":
            wanted = json.loads(query["filter"][0])["predicates"][0]["stringValue"]
            found = [{"experiment_id": eid, "display_name": name} for name, eid in self.experiments.items() if name == wanted]
            return self._reply({"experiments": found, "total_size": len(found)})
        return self._reply({"error": f"fake KFP has no GET {path}"}, 404)

    def do_POST(self) -> None:  # noqa: N802
        path, _, body = self._record()
        if path == "/apis/v2beta1/experiments":
            experiment_id = f"exp-{len(self.experiments) + 1}"
            self.experiments[body["display_name"]] = experiment_id
            return self._reply({"experiment_id": experiment_id, "display_name": body["display_name"]})
        if path == "/apis/v2beta1/runs":
            return self._reply({"run_id": "run-1", "display_name": body["display_name"],
                                "experiment_id": body.get("experiment_id"), "state": "PENDING"})
        if path == "/apis/v2beta1/recurringruns":
            return self._reply({"recurring_run_id": "recurring-1", "display_name": body["display_name"],
                                "mode": body.get("mode"), "status": "ENABLED"})
        return self._reply({"error": f"fake KFP has no POST {path}"}, 404)


@pytest.fixture
def kfp_endpoint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # noqa: ANN201
    import kfp

    # Hermetic: no ~/.config/kfp/context.json of whoever runs the tests.
    monkeypatch.setattr(kfp.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "no-kfp-context.json"))
    FakeKfp.requests, FakeKfp.experiments = [], {"existing-experiment": "exp-existing"}
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeKfp)  # port 0: a free port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("submit")
    config = Config(output_dir=str(tmp / "local"), cluster=ClusterConfig(
        image="registry.example.com/prodcat:1.0", pipeline_root=str(tmp / "root"), serving_base=str(tmp / "serving"),
        trainer_resources=Resources(cpu="4", memory="16G", gpus=1, gpu_type="nvidia-tesla-t4")))
    return {
        "json": runner.compile_pipeline(config, tmp / "pipeline.json", DATA, TAXONOMY),
        "yaml": runner.compile_pipeline(config, tmp / "pipeline.yaml", DATA, TAXONOMY),
        "vertex": runner.compile_pipeline(config, tmp / "vertex.json", DATA, TAXONOMY,
                                          vertex=runner.VertexTraining("my-project", "europe-west4")),
    }


def posted(path: str) -> list[dict]:
    return [body for method, p, _, body in FakeKfp.requests if method == "POST" and p == path]


def trainer_config_of(values: dict) -> dict:
    return json.loads(values["trainer_config"])


def test_run_carries_spec_name_and_parameters(kfp_endpoint: str, packages: dict[str, Path]) -> None:
    result = submit(packages["json"], endpoint=kfp_endpoint, experiment="prodcat-nightly", run_name="nightly-42",
                    parameters={"data_root": "gs://bucket/products/2026-11-21", "model.epochs": 3,
                                "thresholds.per_level": [0.5, 0.4]})
    created = FakeKfp.experiments["prodcat-nightly"]
    assert (result.platform, result.run_id, result.experiment_id) == ("kubeflow", "run-1", created)

    calls = [(method, path) for method, path, _, _ in FakeKfp.requests]
    assert calls == [("GET", "/apis/v2beta1/healthz"), ("GET", "/apis/v2beta1/experiments"),
                     ("POST", "/apis/v2beta1/experiments"), ("POST", "/apis/v2beta1/runs")]
    assert [body["display_name"] for body in posted("/apis/v2beta1/experiments")] == ["prodcat-nightly"]
    (run,) = posted("/apis/v2beta1/runs")
    assert run["display_name"] == "nightly-42"
    assert run["experiment_id"] == created
    # The whole compiled package: KFP's PipelineSpec and the PlatformSpec with the node selector.
    spec = json_format.ParseDict(run["pipeline_spec"]["pipeline_spec"], pipeline_spec_pb2.PipelineSpec())
    platform = json_format.ParseDict(run["pipeline_spec"]["platform_spec"], pipeline_spec_pb2.PlatformSpec())
    compiled = json.loads(packages["json"].read_text())
    assert spec == json_format.ParseDict(compiled["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
    assert platform == json_format.ParseDict(compiled["platformSpec"], pipeline_spec_pb2.PlatformSpec())
    # Parameters: data_root as given, trainer_config patched with epochs and thresholds.
    params = run["runtime_config"]["parameters"]
    assert set(params) == {"data_root", "trainer_config"}
    assert params["data_root"] == "gs://bucket/products/2026-11-21"
    trainer = trainer_config_of(params)
    assert trainer["config"]["model"]["epochs"] == 3
    assert trainer["config"]["thresholds"]["per_level"] == [0.5, 0.4]
    default = json.loads(spec.root.input_definitions.parameters["trainer_config"].default_value.string_value)
    assert {k: v for k, v in trainer.items() if k != "config"} == {k: v for k, v in default.items() if k != "config"}


def test_recurring_run_carries_cron(kfp_endpoint: str, packages: dict[str, Path]) -> None:
    result = submit(packages["yaml"], endpoint=kfp_endpoint, experiment="existing-experiment", run_name="daily",
                    parameters={"model.epochs": 2}, recurring_cron="0 0 3 * * *", enable_caching=False)
    assert (result.recurring_run_id, result.experiment_id, result.run_id) == ("recurring-1", "exp-existing", None)
    assert posted("/apis/v2beta1/experiments") == []  # found, not created
    (recurring,) = posted("/apis/v2beta1/recurringruns")
    assert recurring["display_name"] == "daily"
    assert recurring["experiment_id"] == "exp-existing"
    assert recurring["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * *"}}
    assert recurring["mode"] == "ENABLE"
    assert recurring["no_catchup"] is True
    assert trainer_config_of(recurring["runtime_config"]["parameters"])["config"]["model"]["epochs"] == 2
    documents = list(yaml.safe_load_all(packages["yaml"].read_text()))
    sent = recurring["pipeline_spec"]["pipeline_spec"]
    assert sent["pipelineInfo"] == documents[0]["pipelineInfo"]
    assert sent["root"]["dag"]["tasks"].keys() == documents[0]["root"]["dag"]["tasks"].keys()
    assert recurring["pipeline_spec"]["platform_spec"] == documents[1]
    # enable_caching=False is applied to the spec that is sent
    assert not any(t.get("cachingOptions", {}).get("enableCache") for t in sent["root"]["dag"]["tasks"].values())


@pytest.mark.parametrize("kwargs, message", [
    (dict(parameters={"epochs": 3}), "unknown run parameter 'epochs'"),
    (dict(parameters={"model.epoch": 3}), "run parameter model.epoch: Extra inputs are not permitted"),
    (dict(parameters={"split.method": "shop"}), "unknown run parameter"),
    (dict(parameters={"model.epochs": 0}), "run parameter model.epochs: Input should be greater than"),
    (dict(recurring_cron="0 3 * * *"), "expects 6 fields"),
])
def test_bad_input_fails_before_any_request(kfp_endpoint: str, packages: dict[str, Path], kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        submit(packages["json"], endpoint=kfp_endpoint, **kwargs)
    assert [r for r in FakeKfp.requests if r[0] == "POST"] == []


def test_parse_parameters() -> None:
    assert parse_parameters(["data_root=gs://b/p", "model.epochs=3", "thresholds.per_level=[0.5, 0.4]"]) == {
        "data_root": "gs://b/p", "model.epochs": 3, "thresholds.per_level": [0.5, 0.4]}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_parameters(["epochs"])


def test_resolve_parameters_keeps_defaults(packages: dict[str, Path]) -> None:
    package = runner.load_package(packages["json"])
    assert resolve_parameters(package, {}) == {}
    assert resolve_parameters(package, {"data_root": "gs://x"}) == {"data_root": "gs://x"}


def test_vertex_job_and_schedule(monkeypatch: pytest.MonkeyPatch, packages: dict[str, Path]) -> None:
    from google.cloud import aiplatform

    created: list[dict] = []

    class FakePipelineJob:
        def __init__(self, **kwargs: object) -> None:
            kwargs["template"] = json.loads(Path(str(kwargs["template_path"])).read_text())
            created.append(kwargs)
            self.resource_name = "projects/my-project/locations/europe-west4/pipelineJobs/j"

        def submit(self, **kwargs: object) -> None:
            created[-1]["submitted"] = kwargs

        def create_schedule(self, **kwargs: object) -> object:
            created[-1]["schedule"] = kwargs
            return type("Schedule", (), {"resource_name": "projects/my-project/locations/europe-west4/schedules/s"})()

    monkeypatch.setattr(aiplatform, "PipelineJob", FakePipelineJob)
    result = submit(packages["vertex"], run_name="Vertex Run 1", parameters={"model.epochs": 4},
                    vertex_project="my-project", vertex_region="europe-west4")
    assert result.run_id.endswith("/pipelineJobs/j")
    job = created[0]
    assert (job["project"], job["location"], job["display_name"], job["job_id"]) == (
        "my-project", "europe-west4", "Vertex Run 1", "vertex-run-1")
    assert job["template"]["pipelineSpec"] == json.loads(packages["vertex"].read_text())["pipelineSpec"]
    assert trainer_config_of(job["parameter_values"])["config"]["model"]["epochs"] == 4
    assert "submitted" in job

    result = submit(packages["vertex"], run_name="nightly", recurring_cron="TZ=Europe/Berlin 0 3 * * *",
                    vertex_project="my-project", vertex_region="europe-west4")
    assert result.recurring_run_id.endswith("/schedules/s")
    assert created[1]["schedule"]["cron"] == "TZ=Europe/Berlin 0 3 * * *"

    with pytest.raises(ValueError, match="compiled for Kubeflow"):
        submit(packages["json"], vertex_project="my-project", vertex_region="europe-west4")


def test_vertex_package_is_refused_by_kfp(kfp_endpoint: str, packages: dict[str, Path]) -> None:
    assert runner.load_package(packages["vertex"]).platform == "vertex"
    assert runner.load_package(packages["yaml"]).platform == "kubeflow"
    with pytest.raises(ValueError, match="compiled for Vertex"):
        submit(packages["vertex"], endpoint=kfp_endpoint)
    assert FakeKfp.requests == []


def test_an_unreachable_endpoint_is_one_line_and_exit_status_2(packages: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    import portpicker

    from prodcat.cli import main

    endpoint = f"http://127.0.0.1:{portpicker.pick_unused_port()}"  # nothing listens there
    assert main(["submit", str(packages["yaml"]), "--endpoint", endpoint]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"prodcat: error: cannot submit to Kubeflow Pipelines at {endpoint}: MaxRetryError: connection refused"
