"""Live progress of a local pipeline run: one line as each component starts and as it finishes.

TFX's LocalDagRunner announces every component in its own log ("Component X is running." /
"... is finished."), which `prodcat run` otherwise mutes with the rest of the libraries' chatter.
This handler turns exactly those records into prodcat's lines, adds what a user wants to know at
that moment (cached or run, elapsed, the component's key figure read back from ML Metadata) and
keeps a ticking elapsed-time line on a terminal while a long component works. Errors still pass.

Inside the Beam components (ExampleGen, StatisticsGen, Transform, Evaluator) the live detail is the
stage Beam's in-process runner is executing, from its per-bundle debug record: that runner reports
no element counts while a bundle runs, and its bundles are whole stages, so a product count would
jump from none to all.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from ml_metadata.proto import metadata_store_pb2
from tfx.utils import path_utils

from prodcat.components import nodes
from prodcat.contract.signatures import ASSETS_EXTRA, TRAINING_SUMMARY_ASSET
from prodcat.reporting.artifacts import count_rejects, is_blessed, split_counts
from prodcat.reporting.mlmd import (STATE_NAMES, execution_artifacts, node_executions, open_store,
                                    sqlite_connection_config)
from prodcat.trainer.callbacks import STATUS_LOGGER

_RUNNING, _FINISHED = "Component %s is running.", "Component %s is finished."
HEARTBEAT_SECONDS = 60.0  # not on a terminal: a "still running" line this often
# Beam's in-process (FnApi) runner logs each bundle it starts here, at DEBUG.
BEAM_BUNDLE_LOGGER = "apache_beam.runners.portability.fn_api_runner.fn_runner.run_bundle"
_BEAM_BUNDLE_MESSAGE = "Running bundle for stage"
_BEAM_TRANSFORM = re.compile(r"ref_AppliedPTransform_([^)+]+?)_\d+\b|\(([^()+]+?)/Read\)")


class ComponentProgress(logging.Handler):
    """Prints component start/finish lines from the runner's log; lets errors through, drops the rest."""

    def __init__(self, node_ids: Sequence[str], metadata_path: Path, stream: TextIO | None = None) -> None:
        super().__init__(level=logging.DEBUG)
        self.node_ids = list(node_ids)
        self.metadata_path = metadata_path
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started: dict[str, float] = {}
        self.positions: dict[str, int] = {}  # the order nodes start in (the runner's topological order)
        self._lock = threading.RLock()
        self._status = ""  # the ticking line on a terminal ("" when none is shown)
        self._detail = ""  # the running component's own status (the trainer's step, Beam's stage)
        self._bundles = 0  # Beam bundles the running component has started
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="prodcat-progress", daemon=True)
        self._ticker.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if record.name == STATUS_LOGGER:
                self._detail = record.getMessage()
            elif record.name == BEAM_BUNDLE_LOGGER:
                if str(record.msg).startswith(_BEAM_BUNDLE_MESSAGE) and record.args:
                    self._bundles += 1
                    self._detail = f"Beam stage {self._bundles}: {beam_stage_label(str(record.args[0]))}"
            elif record.msg in (_RUNNING, _FINISHED) and record.args:
                node = str(record.args[0])
                self._detail, self._bundles = "", 0
                if record.msg == _RUNNING:
                    self.started[node] = time.time()
                    self.positions.setdefault(node, len(self.positions) + 1)
                    self.write(f"{self._position(node)} {node} ...")
                else:
                    elapsed = time.time() - self.started.pop(node, time.time())
                    self.write(f"{self._position(node)} {node} {self._outcome(node, elapsed)}")
            elif record.levelno >= logging.ERROR or record.name.startswith("prodcat"):
                self.write(f"prodcat: {record.getMessage()}")
        except Exception:  # noqa: BLE001 — progress must never break the run
            self.handleError(record)

    def write(self, line: str) -> None:
        """One line on the stream, above the ticking status line on a terminal."""
        with self._lock:
            if self.tty and self._status:
                self.stream.write("\r\033[K")
            self.stream.write(line + "\n")
            if self.tty and self._status:
                self.stream.write(self._status)
            self.stream.flush()

    def close(self) -> None:
        self._stop.set()
        self._ticker.join(timeout=2)
        with self._lock:
            if self.tty and self._status:
                self.stream.write("\r\033[K")
                self.stream.flush()
            self._status = ""
        super().close()

    def _position(self, node: str) -> str:
        return f"prodcat: [{self.positions.get(node, '?')}/{len(self.node_ids)}]"

    def _tick(self) -> None:
        last_beat = time.time()
        while not self._stop.wait(1.0):
            running = dict(self.started)
            if not running:
                with self._lock:
                    self._status = ""
                continue
            node, since = max(running.items(), key=lambda item: item[1])
            elapsed = time.time() - since
            if self.tty:
                with self._lock:
                    detail = f": {self._detail}" if self._detail else ""
                    self._status = f"  {node} running, {elapsed:.0f} s{detail}"[:_width() - 1]
                    self.stream.write("\r\033[K" + self._status)
                    self.stream.flush()
            elif time.time() - last_beat >= HEARTBEAT_SECONDS:
                last_beat = time.time()
                detail = f": {self._detail}" if self._detail else ""
                self.write(f"prodcat:   {node} still running ({elapsed:.0f} s){detail}")

    def _outcome(self, node: str, elapsed: float) -> str:
        """'done in 21.6 s: <key figure>' or 'cached: <key figure>', from the node's newest execution."""
        try:
            store = open_store(sqlite_connection_config(self.metadata_path))
            executions = node_executions(store, node)
            if not executions:
                return f"finished in {elapsed:.1f} s"
            execution = executions[0]
            state = STATE_NAMES.get(execution.last_known_state, "")
            facts = component_facts(node, execution_artifacts(store, execution.id, output=True))
        except Exception:  # noqa: BLE001 — a figure we cannot read is no reason to stop
            state, facts = "", ""
        head = "cached (reused from an earlier run)" if state == "cached" else f"done in {elapsed:.1f} s"
        return head + (f": {facts}" if facts else "")


def beam_stage_label(stage: str) -> str:
    """'AnalyzeDataset, WriteTransformedData' from a fused stage's name: its top-level transforms."""
    labels: list[str] = []
    for fused, read in _BEAM_TRANSFORM.findall(stage):
        label = (fused.split("-", 1)[0] if fused else read.split("/", 1)[0]).strip()
        if label and not label.startswith("ref_") and label not in labels:  # ref_...: Beam's own PCollections
            labels.append(label)
    if not labels:  # a stage of another shape: its first transform's top-level name
        first = re.search(r"[A-Za-z][^()+/]*", stage)
        labels = [first.group(0).split("-", 1)[0] if first else stage[:60]]
    return ", ".join(labels)


def component_facts(node: str, outputs: dict[str, list[metadata_store_pb2.Artifact]]) -> str:
    """The figure a user checks when a component ends (rejects, products per split, epochs, verdict)."""
    artifact = {key: found[0] for key, found in outputs.items() if found}
    if node == nodes.EXAMPLE_GEN and "examples" in artifact:
        return f"{count_rejects(artifact['examples'].uri)} rejected records"
    if node == nodes.STATISTICS_GEN and "statistics" in artifact:
        counts = split_counts(artifact["statistics"])
        return ", ".join(f"{split} {count:,} products" for split, count in counts.items())
    if node == nodes.TRAINER and "model" in artifact:
        summary = Path(path_utils.serving_model_path(artifact["model"].uri), ASSETS_EXTRA, TRAINING_SUMMARY_ASSET)
        if summary.is_file():
            return f"{json.loads(summary.read_text(encoding='utf-8')).get('epochs_run', '?')} epochs"
    if node == nodes.EVALUATOR and "blessing" in artifact:
        if is_blessed(artifact["blessing"]):
            return "blessed"
        return "NOT blessed: a gate failed (the summary says which)"
    if node == nodes.PUSHER and "pushed_model" in artifact:
        pushed = artifact["pushed_model"].custom_properties["pushed"].int_value
        return "pushed" if pushed else "not pushed"
    return ""


@contextlib.contextmanager
def reporting_progress(node_ids: Sequence[str], metadata_path: Path, verbose: bool) -> Iterator[None]:
    """While the DAG runs, the root logger's output is prodcat's progress (unless `verbose`)."""
    if verbose:
        yield
        return
    from absl import logging as absl_logging

    root, status, bundles = logging.getLogger(), logging.getLogger(STATUS_LOGGER), logging.getLogger(BEAM_BUNDLE_LOGGER)
    saved = root.handlers[:], absl_logging.get_verbosity(), status.level, bundles.level
    handler = ComponentProgress(node_ids, metadata_path)
    root.handlers = [handler]
    # The runner's announcements are INFO records of absl; absl re-applies its verbosity flag to its
    # logger whenever flags are parsed (components do), so the flag is what must say INFO.
    absl_logging.set_verbosity(absl_logging.INFO)
    bundles.setLevel(logging.DEBUG)  # only the handler above reads it
    if handler.tty:
        status.setLevel(logging.INFO)
    try:
        yield
    finally:
        handler.close()
        root.handlers = saved[0]
        absl_logging.set_verbosity(saved[1])
        status.setLevel(saved[2])
        bundles.setLevel(saved[3])


def _width() -> int:
    return shutil.get_terminal_size((100, 24)).columns
