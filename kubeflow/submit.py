"""Submits a compiled prodcat pipeline to Kubeflow Pipelines or to Vertex AI Pipelines.

KFP: `kfp.Client(host=endpoint).create_run_from_pipeline_package` for one run, or
`create_recurring_run` with a cron schedule; the package is sent inline with the run (no separate
pipeline upload). Vertex: `google.cloud.aiplatform.PipelineJob(...).submit()`, or
`.create_schedule(cron=...)`.

Run parameters are the package's root parameters (`data_root`, `trainer_config`) plus
dotted prodcat config keys of the sections only the Trainer reads (`model.epochs=3`,
`thresholds.per_level=[0.4, 0.3]`): those are patched into the `trainer_config` JSON and validated
against prodcat's Config before anything is sent.

This module has been exercised only against a local fake KFP HTTP endpoint (see
tests/kubeflow/test_submit.py) and a fake Vertex PipelineJob, never against a real cluster.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from prodcat.config.settings import nested_settings, parse_setting, with_settings
from prodcat.kubeflow.compiler import TRAINER_CONFIG_PARAM
from prodcat.kubeflow.package import CompiledPipeline, load_package

# Config sections that only the Trainer uses (epochs, confidence floors baked into the export),
# so a per-run change of them through `trainer_config` cannot disagree with other components.
TRAINER_SECTIONS = ("model", "thresholds")


@dataclasses.dataclass(frozen=True)
class Submission:
    """What was created, where."""

    platform: str                      # "kubeflow" or "vertex"
    run_name: str
    parameters: dict[str, Any]
    run_id: str | None = None          # a single run (KFP run id, Vertex job resource name)
    recurring_run_id: str | None = None  # a schedule (KFP recurring run id, Vertex schedule name)
    experiment_id: str | None = None


def parse_parameters(items: Sequence[str]) -> dict[str, Any]:
    """`KEY=VALUE` strings (CLI `--param`) to a dict; VALUE is YAML ("3", "[0.5, 0.4]", JSON too)."""
    try:
        return dict(parse_setting(item, example="model.epochs=3") for item in items)
    except ValueError as err:
        raise ValueError(f"run parameter {err}") from None


def resolve_parameters(package: CompiledPipeline, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The run parameters to send: root parameters as given, Trainer config keys laid over the
    compiled Trainer config.

    Only explicitly set parameters are returned; the others keep their compiled defaults.
    """
    defaults = package.parameter_defaults()
    values: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if key in defaults:
            values[key] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        elif key.split(".")[0] in TRAINER_SECTIONS and "." in key:
            settings[key] = value
        else:
            raise ValueError(f"unknown run parameter {key!r}: use one of {sorted(defaults)} or a "
                             f"{'/'.join(TRAINER_SECTIONS)}.<field> key such as model.epochs")
    if settings:
        if TRAINER_CONFIG_PARAM not in defaults:
            raise ValueError(f"{package.name} has no {TRAINER_CONFIG_PARAM} parameter to patch")
        trainer_config = json.loads(values.get(TRAINER_CONFIG_PARAM) or defaults[TRAINER_CONFIG_PARAM])
        try:
            trainer_config["config"] = with_settings(trainer_config["config"], nested_settings(settings))
        except ValueError as err:
            raise ValueError(f"run parameter {err}") from None
        values[TRAINER_CONFIG_PARAM] = json.dumps(trainer_config, sort_keys=True)
    return values


def check_cron(cron: str, vertex: bool) -> str:
    """KFP wants 6 fields (seconds first, e.g. '0 0 3 * * *'); Vertex 5 ('0 3 * * *', optional TZ= prefix)."""
    fields = cron.split()
    if vertex and fields and fields[0].startswith(("TZ=", "CRON_TZ=")):
        fields = fields[1:]
    wanted = 5 if vertex else 6
    if len(fields) != wanted:
        example = "'0 3 * * *' (daily at 03:00)" if vertex else "'0 0 3 * * *' (seconds first: daily at 03:00)"
        raise ValueError(f"cron {cron!r}: {'Vertex' if vertex else 'Kubeflow Pipelines'} expects {wanted} fields, e.g. {example}")
    return cron


def submit(
    spec_path: str | os.PathLike,
    endpoint: str | None = None,
    experiment: str = "prodcat",
    run_name: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    recurring_cron: str | None = None,
    *,
    vertex_project: str | None = None,
    vertex_region: str | None = None,
    enable_caching: bool | None = None,
    service_account: str | None = None,
    namespace: str | None = None,
    existing_token: str | None = None,
    max_concurrency: int = 1,
) -> Submission:
    """Submits the package at `spec_path`: a run, or a recurring run when `recurring_cron` is set.

    KFP: `endpoint` is the KFP API host (e.g. http://localhost:8080 after `kubectl port-forward
    svc/ml-pipeline-ui`), `experiment` the experiment (created if missing), `namespace` and
    `existing_token` for multi-user / authenticated deployments. Vertex: `vertex_project` and
    `vertex_region` instead of `endpoint` (`experiment` is not used). `enable_caching` overrides
    the compiled caching for this run.
    """
    package = load_package(spec_path)
    values = resolve_parameters(package, parameters)
    name = run_name or f"{package.name}-{datetime.datetime.now(datetime.timezone.utc):%Y%m%d-%H%M%S}"
    if vertex_project or vertex_region:
        if not (vertex_project and vertex_region):
            raise ValueError("Vertex needs both vertex_project and vertex_region")
        if endpoint:
            raise ValueError("give either a KFP endpoint or a Vertex project/region, not both")
        with _platform_errors(f"Vertex AI Pipelines ({vertex_project}, {vertex_region})"):
            return _submit_vertex(package, Path(spec_path), name, values, recurring_cron, vertex_project,
                                  vertex_region, enable_caching, service_account, max_concurrency)
    if not endpoint:
        raise ValueError("no KFP endpoint: pass endpoint (the ml-pipeline API URL) or a Vertex project and region")
    with _platform_errors(f"Kubeflow Pipelines at {endpoint}"):
        return _submit_kfp(package, endpoint, experiment, name, values, recurring_cron, enable_caching,
                           service_account, namespace, existing_token, max_concurrency)


class SubmissionError(RuntimeError):
    """The pipeline platform could not be reached or refused the submission; the message says which and why."""


@contextlib.contextmanager
def _platform_errors(platform: str) -> Iterator[None]:
    """Turns the clients' network, HTTP and auth failures into one `SubmissionError` line.

    kfp's client raises urllib3/kfp_server_api errors with the whole retry chain in the message,
    Vertex's google-api-core and google-auth errors; a user needs the platform and the first cause.
    """
    import urllib3
    from google.api_core import exceptions as google_api
    from google.auth import exceptions as google_auth
    from kfp_server_api.exceptions import ApiException

    try:
        yield
    except (urllib3.exceptions.HTTPError, ApiException, google_api.GoogleAPIError, google_auth.GoogleAuthError,
            ConnectionError, TimeoutError) as err:
        reason = getattr(err, "reason", None) or err
        text = " ".join(str(reason).split())
        if "Connection refused" in text or "Failed to establish a new connection" in text:
            text = "connection refused"
        elif len(text) > 300:
            text = text[:300] + "..."
        raise SubmissionError(f"cannot submit to {platform}: {type(err).__name__}: {text}") from None


def _submit_kfp(package: CompiledPipeline, endpoint: str, experiment: str, name: str, values: dict[str, Any],
                cron: str | None, enable_caching: bool | None, service_account: str | None,
                namespace: str | None, existing_token: str | None, max_concurrency: int) -> Submission:
    import kfp

    if package.platform != "kubeflow":
        raise ValueError(f"{package.name} was compiled for Vertex (Vertex accelerator names, Vertex training); "
                         "compile it without a Vertex project to run it on Kubeflow Pipelines")
    if cron:
        check_cron(cron, vertex=False)
    client_args: dict[str, Any] = {"host": endpoint}
    if namespace:
        client_args["namespace"] = namespace
    if existing_token:
        client_args["existing_token"] = existing_token
    client = kfp.Client(**client_args)
    with tempfile.TemporaryDirectory(prefix="prodcat-kfp-") as tmp:
        # kfp.Client reads KFP's YAML package (PipelineSpec + PlatformSpec documents), not TFX's JSON.
        package_path = str(package.write_kfp_yaml(Path(tmp) / "pipeline.yaml"))
        if cron:
            found = client.create_experiment(name=experiment, namespace=namespace)
            recurring = client.create_recurring_run(
                experiment_id=found.experiment_id, job_name=name, cron_expression=cron, params=values,
                pipeline_package_path=package_path, enable_caching=enable_caching,
                service_account=service_account, max_concurrency=max_concurrency, no_catchup=True,
                description=f"prodcat pipeline {package.name}, cron {cron}",
            )
            return Submission("kubeflow", name, values, recurring_run_id=recurring.recurring_run_id,
                              experiment_id=found.experiment_id)
        result = client.create_run_from_pipeline_package(
            package_path, arguments=values, run_name=name, experiment_name=experiment, namespace=namespace,
            enable_caching=enable_caching, service_account=service_account,
        )
        return Submission("kubeflow", name, values, run_id=result.run_id,
                          experiment_id=getattr(result.run_info, "experiment_id", None))


def _submit_vertex(package: CompiledPipeline, spec_path: Path, name: str, values: dict[str, Any],
                   cron: str | None, project: str, region: str, enable_caching: bool | None,
                   service_account: str | None, max_concurrency: int) -> Submission:
    try:
        from google.cloud import aiplatform
    except ImportError as err:  # pragma: no cover - the lock installs it
        raise RuntimeError("Vertex AI Pipelines needs google-cloud-aiplatform") from err

    if cron:
        check_cron(cron, vertex=True)
    if package.platform != "vertex":
        raise ValueError(f"{spec_path} was compiled for Kubeflow (Kubernetes GPU names and node selectors, "
                         "Trainer in its pod); compile it for Vertex (vertex project and region)")
    job_id = "".join(ch if ch.isalnum() or ch == "-" else "-" for ch in name.lower()).strip("-")[:128]
    with tempfile.TemporaryDirectory(prefix="prodcat-vertex-") as tmp:
        template = Path(tmp) / "pipeline.json"
        template.write_text(json.dumps({"displayName": package.display_name or package.name,
                                        "pipelineSpec": package.pipeline_spec,
                                        "runtimeConfig": package.runtime_config}), encoding="utf-8")
        job = aiplatform.PipelineJob(
            display_name=name, template_path=str(template), job_id=job_id, parameter_values=values,
            enable_caching=enable_caching, project=project, location=region,
        )
        if cron:
            schedule = job.create_schedule(cron=cron, display_name=name, max_concurrent_run_count=max_concurrency,
                                           service_account=service_account)
            return Submission("vertex", name, values, recurring_run_id=getattr(schedule, "resource_name", None))
        job.submit(service_account=service_account)
        return Submission("vertex", name, values, run_id=getattr(job, "resource_name", None))
