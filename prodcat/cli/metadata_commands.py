"""`prodcat runs`, `lineage` and `report`: the commands that read what pipeline runs recorded in
ML Metadata, with the one way they find the store (a local SQLite file or a MySQL server)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from prodcat.cli.quiet_logs import _quiet_libraries
from prodcat.config import Config, load_config


def _metadata_connection(args: argparse.Namespace, pushed: str | None = None):
    """The ML Metadata store `runs` and `lineage` read: a MySQL server when --mysql-host is given,
    else the SQLite file of a local run (--metadata, or the one under --output / the config's output;
    for a pushed version directory and none of these, the run that pushed it)."""
    from prodcat.reporting.mlmd import mysql_connection_config, sqlite_connection_config

    if args.mysql_host:
        return mysql_connection_config(args.mysql_host, args.mysql_port, args.mysql_database, args.mysql_user,
                                       password_env=args.mysql_password_env)
    recorded = _metadata_of_pushed_version(pushed) if pushed and not (args.metadata or args.output or args.config) else None
    path = args.metadata or recorded or load_config(args.config).with_overrides(output_dir=args.output).metadata_path
    return sqlite_connection_config(path)


def _metadata_of_pushed_version(pushed: str) -> Path | None:
    """The metadata of the run that pushed a version directory: the config the version ships names it."""
    from prodcat.contract.signatures import ASSETS_EXTRA, CONFIG_ASSET

    try:
        shipped = Config.model_validate(json.loads(Path(pushed, ASSETS_EXTRA, CONFIG_ASSET).read_text(encoding="utf-8")))
    except (OSError, ValueError):  # no such file, not JSON, not a config (pydantic's error is a ValueError)
        return None
    return shipped.metadata_path if shipped.metadata_path.is_file() else None


def _cmd_runs(args: argparse.Namespace) -> int:
    _quiet_libraries(False)
    from prodcat.reporting.runs import format_runs, list_runs

    runs = list_runs(_metadata_connection(args), limit=args.limit)
    print(json.dumps([r.to_json() for r in runs], indent=2) if args.json else format_runs(runs))
    return 0


def _cmd_lineage(args: argparse.Namespace) -> int:
    _quiet_libraries(False)
    from prodcat.reporting.lineage import format_lineage, trace_pushed_model

    lineage = trace_pushed_model(_metadata_connection(args, args.pushed), args.pushed)
    print(json.dumps(lineage.to_json(), indent=2) if args.json else format_lineage(lineage))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    _quiet_libraries(args.verbose)
    from prodcat.reporting.report import write_report

    target = Path(args.target)
    if target.is_dir():
        metadata = target / "metadata.sqlite"
    elif target.is_file():
        metadata = target if target.suffix in (".sqlite", ".db") else load_config(target).metadata_path
    else:
        raise FileNotFoundError(f"{target}: neither a run's output directory nor a config file")
    print(f"prodcat: reading run {args.run or '(newest)'} from {metadata}; decoding its eval split with its model "
          "(loading TensorFlow and the model takes a while) ...", file=sys.stderr, flush=True)
    print(write_report(metadata, args.output, run_id=args.run))
    return 0
