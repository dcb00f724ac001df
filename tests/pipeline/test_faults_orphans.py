"""The local runner's guards: one run per output directory, and executions left unfinished marked failed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from faults_fixtures import STATE
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from prodcat.config import Config
from prodcat.pipeline import local_runner


def test_a_second_run_on_the_same_output_is_refused(tmp_path: Path) -> None:
    config = Config(output_dir=str(tmp_path))
    with local_runner.exclusive_output(config):
        with pytest.raises(local_runner.OutputInUseError, match=f"pid {os.getpid()}"):
            with local_runner.exclusive_output(config):
                pass
    with local_runner.exclusive_output(config):  # released
        pass


def test_only_unfinished_executions_are_marked_failed(tmp_path: Path) -> None:
    from tfx.orchestration import metadata

    path = tmp_path / "metadata.sqlite"
    with metadata.Metadata(metadata.sqlite_metadata_connection_config(str(path))) as handle:
        type_id = handle.store.put_execution_type(metadata_store_pb2.ExecutionType(name="Transform"))
        states = [metadata_store_pb2.Execution.RUNNING, metadata_store_pb2.Execution.COMPLETE,
                  metadata_store_pb2.Execution.NEW, metadata_store_pb2.Execution.CACHED,
                  metadata_store_pb2.Execution.FAILED]
        ids = handle.store.put_executions(
            [metadata_store_pb2.Execution(type_id=type_id, last_known_state=s) for s in states])
    assert sorted(local_runner.fail_orphaned_executions(path)) == [ids[0], ids[2]]
    store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(str(path)))
    got = {e.id: e for e in store.get_executions_by_id(ids)}
    assert [STATE[got[i].last_known_state] for i in ids] == ["failed", "complete", "failed", "cached", "failed"]
    result = json.loads(got[ids[0]].custom_properties["__execution_result__"].string_value)
    assert result["resultMessage"].startswith("orphaned") and result["code"] == 10  # ABORTED
    assert local_runner.fail_orphaned_executions(path) == []
    assert local_runner.fail_orphaned_executions(tmp_path / "absent.sqlite") == []
