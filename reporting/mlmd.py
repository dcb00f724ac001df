"""Connecting to ML Metadata: the local run's SQLite file, or a MySQL server (a shared store).

`prodcat runs` and `prodcat lineage` only read, so SQLite is opened read-only and a MySQL database
is never created: a missing store is an error that says where it looked, not an empty new store.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ml_metadata import errors
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

# What a user reads for an execution's last known state (runs, lineage and the run summary).
STATE_NAMES = {
    metadata_store_pb2.Execution.COMPLETE: "complete",
    metadata_store_pb2.Execution.CACHED: "cached",
    metadata_store_pb2.Execution.FAILED: "failed",
    metadata_store_pb2.Execution.RUNNING: "running",
    metadata_store_pb2.Execution.CANCELED: "canceled",
    metadata_store_pb2.Execution.NEW: "new",
}

DEFAULT_PASSWORD_ENV = "PRODCAT_MLMD_PASSWORD"


class MetadataStoreError(LookupError):
    """No usable ML Metadata store (missing file, unreachable server); the message says which."""


def sqlite_connection_config(path: str | os.PathLike) -> metadata_store_pb2.ConnectionConfig:
    """Read-only connection to a local run's `metadata.sqlite`."""
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(Path(path).expanduser().resolve())
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return config


def mysql_connection_config(
    host: str, port: int = 3306, database: str = "mlmd", user: str = "root",
    password_env: str = DEFAULT_PASSWORD_ENV, environ: Mapping[str, str] | None = None,
) -> metadata_store_pb2.ConnectionConfig:
    """Connection to ML Metadata in MySQL; the password comes from the environment variable
    `password_env` (none when it is unset), never from a flag or a config file."""
    if not host:
        raise ValueError("MySQL ML Metadata: a host is required")
    if not database:
        raise ValueError("MySQL ML Metadata: a database name is required")
    environ = os.environ if environ is None else environ
    config = metadata_store_pb2.ConnectionConfig()
    config.mysql.host = host
    config.mysql.port = int(port)
    config.mysql.database = database
    config.mysql.user = user
    password = environ.get(password_env) if password_env else None
    if password:
        config.mysql.password = password
    config.mysql.skip_db_creation = True  # a reader must not create an empty store on a typo
    return config


def describe(config: metadata_store_pb2.ConnectionConfig) -> str:
    """Where a connection points, for messages (never the password)."""
    if config.HasField("mysql"):
        m = config.mysql
        return f"mysql://{m.user}@{m.host}:{m.port}/{m.database}"
    return config.sqlite.filename_uri


def open_store(config: metadata_store_pb2.ConnectionConfig) -> metadata_store.MetadataStore:
    """A MetadataStore, or MetadataStoreError (a one-line message) when there is none to read."""
    if config.HasField("sqlite") and not Path(config.sqlite.filename_uri).is_file():
        raise MetadataStoreError(
            f"no ML Metadata database at {config.sqlite.filename_uri}: run the pipeline first "
            "(prodcat run), or point at its store with --output DIR, --config FILE or --metadata FILE")
    try:
        store = metadata_store.MetadataStore(config)
        store.get_context_types()  # fails here, not halfway through a report, on a broken store
    except (errors.StatusError, RuntimeError) as err:  # the constructor raises RuntimeError
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        message = message.split(" query: ")[0]  # SQLite errors go on with the whole CREATE TABLE statement
        raise MetadataStoreError(f"cannot read ML Metadata at {describe(config)}: {message}") from None
    return store


def lineage_subgraph(
    store: metadata_store.MetadataStore, *, artifacts: str | None = None, executions: str | None = None,
    direction: str = "UPSTREAM", max_hops: int = 1,
) -> LineageView:
    """ML Metadata's own lineage query (`get_lineage_subgraph`) from the artifacts or executions a
    filter query selects, `max_hops` artifact<->execution edges in `direction` (UPSTREAM,
    DOWNSTREAM or BIDIRECTIONAL); nodes come with their events, contexts and associations."""
    options = metadata_store_pb2.LineageSubgraphQueryOptions(
        max_num_hops=max_hops, direction=metadata_store_pb2.LineageSubgraphQueryOptions.Direction.Value(direction))
    if artifacts is not None:
        options.starting_artifacts.filter_query = artifacts
    if executions is not None:
        options.starting_executions.filter_query = executions
    return LineageView(store.get_lineage_subgraph(options))


class LineageView:
    """A LineageGraph indexed for walking: who produced / consumed which artifact under which key."""

    def __init__(self, graph: metadata_store_pb2.LineageGraph) -> None:
        self.graph = graph
        self.artifacts = {a.id: a for a in graph.artifacts}
        self.executions = {e.id: e for e in graph.executions}
        self.contexts = {c.id: c for c in graph.contexts}
        self._context_types = {t.id: t.name for t in graph.context_types}
        self._contexts_of: dict[int, list[metadata_store_pb2.Context]] = {}
        for association in graph.associations:
            if association.context_id in self.contexts:
                self._contexts_of.setdefault(association.execution_id, []).append(self.contexts[association.context_id])

    def _context_type(self, context: metadata_store_pb2.Context) -> str:
        return context.type or self._context_types.get(context.type_id, "")

    def context_of(self, execution_id: int, context_type: str) -> metadata_store_pb2.Context | None:
        return next((c for c in self._contexts_of.get(execution_id, []) if self._context_type(c) == context_type), None)

    def node_id(self, execution_id: int) -> str:
        """The TFX node id (`<pipeline>.<node>` node context) of an execution."""
        node = self.context_of(execution_id, "node")
        return node.name.split(".", 1)[-1] if node is not None else self.executions[execution_id].type

    def run_id(self, execution_id: int) -> str | None:
        run = self.context_of(execution_id, "pipeline_run")
        return run.name if run is not None else None

    def _linked(self, kinds: tuple[int, ...], execution_id: int | None = None, artifact_id: int | None = None,
                key: str | None = None) -> list[metadata_store_pb2.Event]:
        return [e for e in self.graph.events if e.type in kinds
                and (execution_id is None or e.execution_id == execution_id)
                and (artifact_id is None or e.artifact_id == artifact_id)
                and (key is None or (e.path.steps and e.path.steps[0].key == key))]

    def inputs(self, execution_id: int, key: str | None = None) -> list[metadata_store_pb2.Artifact]:
        return [self.artifacts[e.artifact_id] for e in self._linked(INPUT_EVENTS, execution_id, key=key)
                if e.artifact_id in self.artifacts]

    def outputs(self, execution_id: int, key: str | None = None) -> list[metadata_store_pb2.Artifact]:
        return [self.artifacts[e.artifact_id] for e in self._linked(OUTPUT_EVENTS, execution_id, key=key)
                if e.artifact_id in self.artifacts]

    def producers(self, artifact_id: int) -> list[metadata_store_pb2.Execution]:
        """Executions that output the artifact, the one that made it first (later ones: cache hits)."""
        found = {e.execution_id for e in self._linked(OUTPUT_EVENTS, artifact_id=artifact_id)}
        return sorted((self.executions[i] for i in found if i in self.executions),
                      key=lambda x: (x.last_known_state == metadata_store_pb2.Execution.CACHED,
                                     x.create_time_since_epoch, x.id))

    def consumers(self, artifact_id: int) -> list[metadata_store_pb2.Execution]:
        found = {e.execution_id for e in self._linked(INPUT_EVENTS, artifact_id=artifact_id)}
        return sorted((self.executions[i] for i in found if i in self.executions),
                      key=lambda x: (x.create_time_since_epoch, x.id))


OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
INPUT_EVENTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)
FINISHED_STATES = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)


# ----------------------------------------------------------------------------- store queries
def node_executions(store: metadata_store.MetadataStore, node_id: str) -> list[metadata_store_pb2.Execution]:
    """Finished executions of a pipeline node (any pipeline in the store), newest first."""
    executions = []
    for context in store.get_contexts_by_type("node"):
        if context.name.split(".", 1)[-1] == node_id:
            executions += [e for e in store.get_executions_by_context(context.id) if e.last_known_state in FINISHED_STATES]
    return sorted(executions, key=lambda e: (e.create_time_since_epoch, e.id), reverse=True)


def execution_artifacts(store: metadata_store.MetadataStore, execution_id: int,
                        output: bool) -> dict[str, list[metadata_store_pb2.Artifact]]:
    """An execution's output (or input) artifacts by the component's key (`model`, `examples`, ...)."""
    kinds = OUTPUT_EVENTS if output else INPUT_EVENTS
    events = [e for e in store.get_events_by_execution_ids([execution_id]) if e.type in kinds]
    by_id = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    out: dict[str, list[metadata_store_pb2.Artifact]] = {}
    for event in events:
        key = event.path.steps[0].key if event.path.steps else ""
        out.setdefault(key, []).append(by_id[event.artifact_id])
    return out


def producer_of(store: metadata_store.MetadataStore,
                artifact_id: int) -> tuple[metadata_store_pb2.Execution | None, str]:
    """The execution that output an artifact, and its node id ((None, "") for an imported one)."""
    events = [e for e in store.get_events_by_artifact_ids([artifact_id]) if e.type in OUTPUT_EVENTS]
    if not events:
        return None, ""
    execution = store.get_executions_by_id([events[0].execution_id])[0]
    node = next((c.name.split(".", 1)[-1] for c in store.get_contexts_by_execution(execution.id) if c.type == "node"), "")
    return execution, node


def consumers_of(store: metadata_store.MetadataStore, artifact_id: int) -> list[metadata_store_pb2.Execution]:
    ids = [e.execution_id for e in store.get_events_by_artifact_ids([artifact_id]) if e.type in INPUT_EVENTS]
    return store.get_executions_by_id(ids) if ids else []


def split_files(store: metadata_store.MetadataStore, artifact: metadata_store_pb2.Artifact, split: str) -> list[str]:
    """The files of one split of an Examples artifact, where TFX's own `get_split_uri` puts them."""
    from tfx.types import artifact_utils

    [artifact_type] = store.get_artifact_types_by_id([artifact.type_id])
    split_uri = artifact_utils.get_split_uri([artifact_utils.deserialize_artifact(artifact_type, artifact)], split)
    return sorted(str(p) for p in Path(split_uri).glob("*") if p.is_file())
