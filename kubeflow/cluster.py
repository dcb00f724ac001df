"""Where the pipeline runs on a cluster: its roots, its data components' Beam args, its staged files.

The cluster's pods cannot read this machine's paths or use its Beam settings, so the roots and the
Beam runner come from `config.cluster`, and the files the pipeline reads (the curated schema, the
taxonomy, read from wherever the CLI was told) are copied under the pipeline root,
content-addressed so a changed file changes the cache key.
"""

from __future__ import annotations

import hashlib

from prodcat.config import BeamConfig, Config


def cluster_beam(config: Config) -> BeamConfig:
    """The Beam section the data components run with on the cluster."""
    cluster = config.cluster
    if cluster.beam_runner != "DirectRunner":
        # The DirectRunner flags BeamConfig always emits are inert for other runners.
        return BeamConfig(extra_args=(f"--runner={cluster.beam_runner}", *cluster.beam_args))
    extra = ["--runner=DirectRunner"]
    if config.beam.direct_num_workers == 0:
        # BeamConfig.args() turns 0 into this machine's core count; 0 tells Beam to use the pod's.
        extra.append("--direct_num_workers=0")
    return BeamConfig(direct_running_mode=config.beam.direct_running_mode,
                      direct_num_workers=config.beam.direct_num_workers, extra_args=(*extra, *cluster.beam_args))


def cluster_roots(config: Config) -> tuple[str, str]:
    """(pipeline_root, serving_base) on the cluster; the local ones when not configured."""
    return (config.cluster.pipeline_root or str(config.pipeline_root),
            config.cluster.serving_base or str(config.serving_base))


def stage_file(content: bytes, root: str, kind: str, name: str) -> str:
    """Writes `content` to `<root>/inputs/<kind>/<sha>/<name>` (once) and returns that URI."""
    from tfx.dsl.io import fileio

    digest = hashlib.sha256(content).hexdigest()[:16]
    folder = f"{root.rstrip('/')}/inputs/{kind}/{digest}"
    path = f"{folder}/{name}"
    if not fileio.exists(path):
        fileio.makedirs(folder)
        with fileio.open(path, "wb") as handle:
            handle.write(content)
    return path


def stage_taxonomy(source: str | None, pipeline_root: str) -> str:
    """Loads the taxonomy (path, URL, gs://, or prodcat's default) and stages it for the cluster."""
    from prodcat.taxonomy import Taxonomy, load_taxonomy

    if source and "://" in source and not source.startswith(("http://", "https://")):
        from tfx.dsl.io import fileio

        with fileio.open(source, "r") as handle:
            text = handle.read()
        taxonomy = Taxonomy.from_google_text(text.decode("utf-8") if isinstance(text, bytes) else text, source=source)
    else:
        taxonomy = load_taxonomy(source)
    return stage_file(taxonomy.to_google_text().encode("utf-8"), pipeline_root, "taxonomy", "taxonomy.txt")
