"""kfp.local's SubprocessRunner, taught to run TFX's container tasks as host processes.

Runs in the KFP venv (`.venv-kfp`, kfp 2.17 and protobuf 6), never in prodcat's. KFP's local
orchestrator builds each task's command from the compiled container spec (command + args,
placeholders such as `{{$}}` resolved against the ExecutorInput it made) and hands it to a task
handler. Its SubprocessTaskHandler refuses everything but KFP's own lightweight Python components
(`validate_not_container_component` looks for `kfp.dsl.executor_main` in the command), and maps
only the string `python3` to an interpreter. TFX's tasks are container components whose command is
`python -m tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor`, so this handler:

* maps the image to prodcat's venv: `python` -> prodcat's interpreter, the image's environment
  (the Dockerfile's final `ENV`: Keras 2, hash seed, ...) added to the host's, the venv first on PATH;
* runs the executor's `lifecycle.preCacheCheck` hook first when the spec has one (ExampleGen's
  driver: span, version, input fingerprint into `executor_output.json`, which the executor then
  reads), with the same resolved ExecutorInput, as Vertex AI Pipelines does before the executor;
* gives input artifacts back their TFX type: kfp.local hands an upstream output on as a
  `dsl.Artifact`, which keeps a `schemaTitle` only, and TFX's artifacts are typed by
  `instanceSchema` (`title: tfx.Examples`); TFX's entrypoint imports the artifact class from the
  title it gets (`ImportError: Could not import system.Artifact`), so the type is restored from the
  component's inputs spec, which TFX writes into the same command (`--json_serialized_inputs_spec_args`).
  A cluster keeps the type in ML Metadata.

Everything else (DAG order, ExecutorInput, artifact URIs, placeholders, reading `executor_output.json`
and passing outputs downstream) is kfp.local's own code.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Dict, List, Optional

from kfp.local import status, subprocess_task_handler

INVOCATION = "--json_serialized_invocation_args"
INPUTS_SPEC = "--json_serialized_inputs_spec_args"
EXECUTOR_CLASS = "--executor_class_path"


class Host:
    """Where tasks run: prodcat's interpreter, the image's environment, the hooks of the spec."""

    python: str = ""
    image_env: Dict[str, str] = {}
    hooks: Dict[str, List[str]] = {}  # executor class path -> preCacheCheck command + args (unresolved)
    record: List[Dict[str, Any]] = []  # one entry per task run, in order


def install(python: str, image_env: Dict[str, str], hooks: Dict[str, List[str]]) -> None:
    """Routes kfp.local's SubprocessRunner tasks through `HostTaskHandler`.

    kfp.local picks the handler class from `subprocess_task_handler.SubprocessTaskHandler` each
    time a task runs (kfp/local/task_dispatcher.py, `task_handler_map`), so replacing that name
    is the one seam; nothing else of kfp.local is changed.
    """
    Host.python, Host.image_env, Host.hooks, Host.record = python, dict(image_env), dict(hooks), []
    subprocess_task_handler.SubprocessTaskHandler = HostTaskHandler


def argument(command: List[str], flag: str) -> Optional[str]:
    """The value after `flag` in a command line, or None."""
    return command[command.index(flag) + 1] if flag in command[:-1] else None


def with_input_types(command: List[str]) -> List[str]:
    """The command with each input artifact's TFX type restored from the inputs spec (see above)."""
    invocation, spec = argument(command, INVOCATION), argument(command, INPUTS_SPEC)
    if invocation is None or spec is None:
        return list(command)
    executor_input = json.loads(invocation)
    declared = json.loads(spec).get("artifacts", {})
    for key, artifact_list in executor_input.get("inputs", {}).get("artifacts", {}).items():
        if key not in declared:
            raise ValueError(f"input artifact {key!r} is not in the component's inputs spec")
        for artifact in artifact_list.get("artifacts", []):
            artifact["type"] = declared[key]["artifactType"]
    fixed = list(command)
    fixed[fixed.index(INVOCATION) + 1] = json.dumps(executor_input)
    return fixed


def on_host(command: List[str]) -> List[str]:
    """The image's `python` is prodcat's interpreter; any other program cannot run on the host."""
    if not command or command[0] not in ("python", "python3"):
        raise RuntimeError(f"cannot map the container command {command[:3]} to a host process")
    return [Host.python, *command[1:]]


class HostTaskHandler(subprocess_task_handler.SubprocessTaskHandler):
    """Runs one TFX task (optional preCacheCheck hook, then the executor) with prodcat's python."""

    def __init__(self, image: str, full_command: List[str], pipeline_root: str, runner: Any,
                 env_vars: Optional[Dict[str, str]] = None) -> None:
        # The parent's __init__ only validates (and rejects container components); keep its fields.
        self.image, self.pipeline_root, self.runner = image, pipeline_root, runner
        self.env_vars = {**Host.image_env, **(env_vars or {})}
        self.full_command = with_input_types(full_command)

    def run(self) -> status.Status:
        """The hook, then the executor; the task fails with the first non-zero exit."""
        executor_class = argument(self.full_command, EXECUTOR_CLASS) or "?"
        env = dict(self.env_vars)
        env["PATH"] = os.pathsep.join([os.path.dirname(Host.python), os.environ.get("PATH", "")])
        env["VIRTUAL_ENV"] = os.path.dirname(os.path.dirname(Host.python))
        steps = []
        hook = Host.hooks.get(executor_class)
        if hook:
            invocation = argument(self.full_command, INVOCATION) or "{}"
            steps.append(("preCacheCheck", [part.replace("{{$}}", invocation) for part in hook]))
        steps.append(("executor", self.full_command))
        entry: Dict[str, Any] = {"executor_class": executor_class, "image": self.image, "steps": []}
        Host.record.append(entry)
        for name, command in steps:
            started = time.monotonic()
            code = subprocess_task_handler.run_local_subprocess(full_command=on_host(command), env_vars=env)
            entry["steps"].append({"step": name, "module": command[2] if len(command) > 2 else "",
                                   "exit_code": code, "seconds": round(time.monotonic() - started, 1)})
            if code != 0:
                return status.Status.FAILURE
        invocation = json.loads(argument(self.full_command, INVOCATION) or "{}")
        entry["output_file"] = invocation.get("outputs", {}).get("outputFile", "")
        return status.Status.SUCCESS
