"""The `prodcat` command. Each subcommand parses its flags and calls one typed function.

This module is the entry point (`prodcat.cli:main`): it routes `serve` and `bench` to their own
flag parsers and turns user errors into one line and exit status 2. The subcommands' flags are in
`parser.py`, their functions in the `*_commands.py` modules beside it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from prodcat.cli.metadata_commands import _metadata_connection  # noqa: F401  (re-exported: tests call it)
from prodcat.cli.parser import BENCHMARKS, build_parser
from prodcat.cli.quiet_logs import _quiet_startup
from prodcat.config import ConfigError
from prodcat.records import RecordError
from prodcat.taxonomy import TaxonomyError

__all__ = ["BENCHMARKS", "USER_ERRORS", "build_parser", "main"]

USER_ERRORS: tuple[type[BaseException], ...] = (RecordError, TaxonomyError, ConfigError, FileNotFoundError, ValueError, LookupError)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _quiet_startup(argv)
    if argv[:1] == ["serve"]:  # its flags mirror tensorflow_model_server's; the server parses them
        from prodcat.serving import server

        return server.main(argv[1:])
    if argv[:1] == ["bench"] and len(argv) > 1 and argv[1] in BENCHMARKS:
        import importlib

        return importlib.import_module(f"prodcat.benchmarks.{BENCHMARKS[argv[1]]}").main(argv[2:])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except USER_ERRORS as err:
        print(f"prodcat: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("prodcat: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`prodcat lineage V | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 0
