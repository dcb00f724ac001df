"""A compiled package on disk: TFX's PipelineJob JSON or KFP's YAML package, written and read back.

`compile_pipeline` writes one; `submit` reads it, whether prodcat or KFP's own compiler wrote it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prodcat.kubeflow.vertex import VERTEX_TRAINER_EXECUTOR


@dataclasses.dataclass(frozen=True)
class CompiledPipeline:
    """A compiled package: KFP PipelineSpec, optional PlatformSpec, and TFX's runtime config."""

    pipeline_spec: dict
    platform_spec: dict | None = None
    runtime_config: dict = dataclasses.field(default_factory=dict)
    display_name: str = ""

    @property
    def name(self) -> str:
        return self.pipeline_spec["pipelineInfo"]["name"]

    @property
    def platform(self) -> str:
        """"vertex" when the Trainer runs through the Vertex training extension, else "kubeflow"."""
        executors = self.pipeline_spec.get("deploymentSpec", {}).get("executors", {})
        for executor in executors.values():
            if VERTEX_TRAINER_EXECUTOR in executor.get("container", {}).get("args", []):
                return "vertex"
        return "kubeflow"

    def parameter_defaults(self) -> dict[str, Any]:
        """Run parameters and their compiled defaults."""
        params = self.pipeline_spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
        return {name: spec.get("defaultValue") for name, spec in params.items()}

    def kfp_documents(self) -> list[dict]:
        """The documents of KFP's YAML package format."""
        return [self.pipeline_spec, *([self.platform_spec] if self.platform_spec else [])]

    def write_kfp_yaml(self, path: Path) -> Path:
        import yaml

        with open(path, "w", encoding="utf-8") as handle:
            handle.write(f"# PIPELINE DEFINITION\n# Name: {self.name}\n# Compiled by prodcat with TFX's KubeflowV2DagRunner.\n")
            yaml.safe_dump_all(self.kfp_documents(), handle, sort_keys=True)
        return path


def write_package(job: Mapping[str, Any], output: Path) -> None:
    """Writes TFX's PipelineJob dict (+ platformSpec) as JSON, or as KFP's YAML package."""
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix == ".json":
        output.write_text(json.dumps(job, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return
    CompiledPipeline(job["pipelineSpec"], job.get("platformSpec")).write_kfp_yaml(output)


def load_package(path: str | os.PathLike) -> CompiledPipeline:
    """Reads a package written by `compile_pipeline` (JSON or YAML) or by KFP's compiler (YAML)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        job = json.loads(text)
        if "pipelineSpec" not in job:  # a bare PipelineSpec
            return CompiledPipeline(job)
        return CompiledPipeline(job["pipelineSpec"], job.get("platformSpec"), job.get("runtimeConfig", {}),
                                job.get("displayName", ""))
    import yaml

    docs = [doc for doc in yaml.safe_load_all(text) if doc]
    if not docs:
        raise ValueError(f"{path}: no pipeline in the file")
    platform: dict = {}
    for doc in docs[1:]:
        platform.update(doc)
    return CompiledPipeline(docs[0], platform or None)
