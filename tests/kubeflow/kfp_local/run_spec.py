"""Runs a spec compiled by `prodcat compile kubeflow` in KFP's local orchestrator (kfp.local).

Usage (from the repo root, after `make setup kfp-local`):

    .venv-kfp/bin/python tests/kubeflow/kfp_local/run_spec.py pipeline.json \
        --python .venv/bin/python --pipeline-root /tmp/kfp-root --baseline none \
        --params params.json --summary summary.json

Runs in the KFP venv. Every task runs as a host process with `--python` (prodcat's interpreter)
through `host_tasks.HostTaskHandler`; the resolver nodes are treated as `baseline.py` explains
(`--baseline none` on a first run, `--baseline latest` to import the newest blessed model of the
earlier runs under the same `--pipeline-root`). Writes a JSON summary of what ran.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import yaml
from kfp import components, local

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baseline  # noqa: E402  (a sibling script, not a package)
import host_tasks  # noqa: E402

# The image's PATH and VIRTUAL_ENV name its venv, which the host's venv replaces.
IMAGE_PATHS = ("PATH", "VIRTUAL_ENV")


def load_spec(path: Path) -> Dict[str, Any]:
    """The PipelineSpec of a compiled file: TFX's PipelineJob JSON, a bare spec, or KFP's YAML package.

    A package's PlatformSpec (node selectors) is not read: kfp.local has no Kubernetes.
    """
    text = path.read_text()
    if path.suffix == ".json":
        doc = json.loads(text)
        return doc.get("pipelineSpec", doc)
    return next(yaml.safe_load_all(text))


def image_env(dockerfile: Path) -> Dict[str, str]:
    """The `ENV` of the Dockerfile's final stage, which every task's container starts with."""
    final = dockerfile.read_text().replace("\\\n", " ").split("\nFROM ")[-1]
    env: Dict[str, str] = {}
    for line in final.splitlines():
        if line.startswith("ENV "):
            env.update(word.split("=", 1) for word in shlex.split(line)[1:] if "=" in word)
    return {k: v for k, v in env.items() if k not in IMAGE_PATHS}


def precache_hooks(spec: Dict[str, Any]) -> Dict[str, List[str]]:
    """Executor class path -> its `lifecycle.preCacheCheck` command + args, for the executors that have one."""
    hooks = {}
    for executor in spec["deploymentSpec"]["executors"].values():
        container = executor.get("container", {})
        hook = container.get("lifecycle", {}).get("preCacheCheck")
        if hook:
            hooks[host_tasks.argument(container["args"], host_tasks.EXECUTOR_CLASS)] = hook["command"] + hook["args"]
    return hooks


def main(argv: List[str] | None = None) -> int:
    """Treats the resolvers, runs the pipeline with the given parameters, writes the summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("--python", required=True, help="prodcat's interpreter (the image's `python`)")
    parser.add_argument("--pipeline-root", required=True)
    parser.add_argument("--baseline", choices=["none", "latest"], required=True)
    parser.add_argument("--params", type=Path, help="JSON object of run parameters")
    parser.add_argument("--dockerfile", type=Path, default=Path(__file__).resolve().parents[3] / "Dockerfile")
    parser.add_argument("--summary", type=Path, required=True)
    args = parser.parse_args(argv)

    spec = load_spec(args.spec)
    resolvers = sorted(baseline.resolver_tasks(spec))
    found = None
    if args.baseline == "none":
        spec = baseline.without_baseline(spec)
    else:
        found = baseline.latest_blessed_model(args.pipeline_root)
        if found is None:
            raise SystemExit(f"--baseline latest: no blessed model under {args.pipeline_root}")
        spec = baseline.with_baseline(spec, found["uri"], found["metadata"])
    params = json.loads(args.params.read_text()) if args.params else {}

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=args.pipeline_root)
    host_tasks.install(args.python, image_env(args.dockerfile), precache_hooks(spec))
    pipeline = components.load_component_from_text(json.dumps(spec))
    started = time.monotonic()
    pipeline(**params)
    summary = {"pipeline": spec["pipelineInfo"]["name"], "resolvers": resolvers, "baseline": found,
               "tasks": host_tasks.Host.record, "seconds": round(time.monotonic() - started, 1),
               "spec_tasks": sorted(spec["root"]["dag"]["tasks"])}
    args.summary.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
