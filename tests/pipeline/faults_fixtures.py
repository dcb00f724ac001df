"""ML Metadata as the fault tests read it: executions per run, their state, inputs, outputs and cache keys."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

STATE = {
    metadata_store_pb2.Execution.COMPLETE: "complete", metadata_store_pb2.Execution.CACHED: "cached",
    metadata_store_pb2.Execution.FAILED: "failed", metadata_store_pb2.Execution.RUNNING: "running",
    metadata_store_pb2.Execution.CANCELED: "canceled", metadata_store_pb2.Execution.NEW: "new",
}


# ------------------------------------------------------------------------------------ MLMD view
@dataclasses.dataclass(frozen=True)
class Execution:
    id: int
    node: str
    state: str
    inputs: dict[str, tuple[int, ...]]    # key -> artifact ids
    outputs: dict[str, tuple[int, ...]]
    result_message: str
    properties: dict[str, str]            # what TFX keys its cache on, besides the inputs


@dataclasses.dataclass(frozen=True)
class Store:
    """ML Metadata as the test needs it: runs oldest first, each a node id -> execution map."""

    runs: list[dict[str, Execution]]
    uris: dict[int, str]                  # artifact id -> uri

    @property
    def executions(self) -> list[Execution]:
        return [e for run in self.runs for e in run.values()]

    def producers(self, artifact_id: int) -> list[Execution]:
        return [e for e in self.executions if any(artifact_id in ids for ids in e.outputs.values())]


def read_store(metadata_path: Path) -> Store:
    """A snapshot of the run's SQLite ML Metadata, read only (no runner process is alive)."""
    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = str(metadata_path)
    connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = metadata_store.MetadataStore(connection)
    runs = []
    for context in sorted(store.get_contexts_by_type("pipeline_run"), key=lambda c: (c.create_time_since_epoch, c.id)):
        run = {}
        for execution in store.get_executions_by_context(context.id):
            node = next(c.name.split(".", 1)[-1] for c in store.get_contexts_by_execution(execution.id) if c.type == "node")
            inputs: dict[str, list[int]] = {}
            outputs: dict[str, list[int]] = {}
            for event in store.get_events_by_execution_ids([execution.id]):
                side = inputs if event.type == metadata_store_pb2.Event.INPUT else outputs
                side.setdefault(event.path.steps[0].key, []).append(event.artifact_id)
            result = execution.custom_properties.get("__execution_result__")
            run[node] = Execution(execution.id, node, STATE[execution.last_known_state],
                                  {k: tuple(v) for k, v in inputs.items()}, {k: tuple(v) for k, v in outputs.items()},
                                  json.loads(result.string_value).get("resultMessage", "") if result is not None else "",
                                  {k: str(v) for k, v in execution.custom_properties.items() if not k.startswith("__")})
        runs.append(run)
    return Store(runs, {a.id: a.uri for a in store.get_artifacts()})
