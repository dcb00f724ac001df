"""`prodcat compile kubeflow`: the CLI's config, data URI and taxonomy, made ready for the cluster.

The cluster cannot read this machine's files, so the data must already be remote, and the
taxonomy is staged under the cluster's pipeline root (`cluster.stage_taxonomy`) before compiling.
"""

from __future__ import annotations

import os
from pathlib import Path

from prodcat.config import load_config
from prodcat.kubeflow.cluster import cluster_roots, stage_taxonomy
from prodcat.kubeflow.compiler import compile_pipeline
from prodcat.kubeflow.vertex import VertexTraining


def split_data_uri(data: str) -> tuple[str, str]:
    """(directory, file pattern) for a directory or a single file, local or gs:// / s3://."""
    from tfx.dsl.io import fileio

    if data.endswith("/") or fileio.isdir(data):
        return data.rstrip("/") or "/", "*"
    head, _, tail = data.rpartition("/")
    return (head or "."), tail


def compile_command(
    config_path: str | os.PathLike | None, output: str | os.PathLike, data: str | None = None,
    taxonomy: str | None = None, *, vertex_project: str | None = None, vertex_region: str | None = None,
    vertex_machine_type: str | None = None,
) -> Path:
    """`prodcat compile kubeflow`: loads the config, stages the taxonomy, compiles; returns the file.

    `data` (default: the config's `data`) is a directory or file the cluster can read;
    `taxonomy` (default: the config's) is read here and staged under `cluster.pipeline_root`.
    With `vertex_project` and `vertex_region`, compiles for Vertex AI Pipelines.
    """
    config = load_config(config_path)
    data = data or config.data
    if not data:
        raise ValueError("no product data: pass --data gs://... or set `data:` in the config (demo data is local only)")
    pipeline_root, _ = cluster_roots(config)
    if "://" in pipeline_root and "://" not in data:
        raise ValueError(f"data {data!r} is a local path, but the pipeline runs on a cluster ({pipeline_root}); "
                         "upload it and pass its gs:// or s3:// URI")
    if bool(vertex_project) != bool(vertex_region):
        raise ValueError("Vertex needs both a project and a region")
    vertex = None
    if vertex_project:
        vertex = VertexTraining(vertex_project, vertex_region or "", **(
            {"machine_type": vertex_machine_type} if vertex_machine_type else {}))
    data_root, pattern = split_data_uri(data)
    taxonomy_path = stage_taxonomy(taxonomy or config.taxonomy, pipeline_root)
    return compile_pipeline(config, Path(output), data_root, taxonomy_path, data_pattern=pattern, vertex=vertex)
