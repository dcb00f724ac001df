"""`ServerOptions`: everything `prodcat serve` takes, each option spelled once.

Field names are tensorflow_model_server's flags. `build_arg_parser` derives the command line from
the fields (TF Serving's underscore spelling and a hyphenated one, type, default and help), and
`ServerOptions` checks every value against its field's `check` however it was built.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

# What one input tensor may expand to (a tiny proto can repeat one value over a huge shape); not a flag.
MAX_TENSOR_ELEMENTS = 1 << 22


def _option(help: str, default: Any = dataclasses.MISSING, *, check: Callable[[Any], bool] | None = None,
            factory: Callable[[], Any] | None = None, **flag: Any) -> Any:
    """A ServerOptions field: its default, its flag's help (and argparse settings), the check its value must pass."""
    metadata = {"help": help, "check": check, "flag": flag}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _at_least(low: float) -> Callable[[Any], bool]:
    return lambda value: value >= low


def _port(value: int) -> bool:
    return 0 <= value < 65536


def _label(value: str) -> tuple[str, int]:
    label, sep, version = value.partition("=")
    if not sep or not label or not version.isdigit():
        raise argparse.ArgumentTypeError(f"expected LABEL=VERSION, got {value!r}")
    return label, int(version)


def _flag_bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """Everything `serve` takes; field names follow tensorflow_model_server's flags."""

    model_base_path: str = _option("the model base path (numbered SavedModel versions)")
    model_name: str = _option("name clients put in model_spec (default: %(default)s)", "prodcat",
                              check=lambda name: bool(re.fullmatch(r"[A-Za-z0-9_.\-]+", name)))
    port: int = _option("gRPC port (default: %(default)s; 0: any free port)", 8500, check=_port)
    rest_api_port: int = _option("REST port (default: 0, off)", 0, check=_port)
    host: str = _option("address to bind (default: %(default)s, loopback only)", "127.0.0.1")
    file_system_poll_wait_seconds: float = _option("how often to look for new versions (default: %(default)s)", 2.0,
                                                   check=lambda seconds: seconds > 0)
    enable_batching: bool = _option("merge concurrent requests into batches (default: true)", True)
    max_batch_size: int = _option("rows per batch (default: %(default)s)", 32, check=_at_least(1))
    batch_timeout_micros: int = _option("how long a batch waits to fill (default: %(default)s)", 1000, check=_at_least(0))
    num_batch_threads: int = _option("batches run in parallel per signature (default: %(default)s)", 1, check=_at_least(1))
    # TensorFlow's thread pools (serving/tf_threads.py), with tensorflow_model_server's default
    tensorflow_intra_op_parallelism: int = _option("threads one op may use (default: 0, TensorFlow's choice: every core)",
                                                   0, check=_at_least(0))
    tensorflow_inter_op_parallelism: int = _option("ops run at once across all calls (default: 0, TensorFlow's choice)",
                                                   0, check=_at_least(0))
    max_enqueued_batches: int = _option("queue bound, in batches; beyond it requests get UNAVAILABLE (default: %(default)s)",
                                        100, check=_at_least(1))
    max_request_bytes: int = _option(
        "largest request accepted (gRPC receive limit, REST body limit, and what a request may decode to; "
        "beyond it RESOURCE_EXHAUSTED / HTTP 413; default: %(default)s)", 64 * 1024 * 1024, check=_at_least(1024))
    max_batch_rows: int = _option("most rows (dimension 0) one request may carry; beyond it INVALID_ARGUMENT / HTTP 400 "
                                  "(default: %(default)s; 0: no limit)", 1024, check=_at_least(0))
    grpc_max_workers: int = _option("concurrent gRPC calls handled (default: %(default)s)", 64, check=_at_least(1))
    workers: int = _option(
        "server processes sharing the ports (SO_REUSEPORT), each with its own model copy, batcher and version "
        "watcher, so serving uses every core; 0: one per core (default: %(default)s)", 1, check=_at_least(0))
    version_labels: Mapping[str, int] = _option(
        "assign a version label (repeatable), e.g. stable=1700000000", factory=dict,
        name="version_label", type=_label, action="append", metavar="LABEL=VERSION")
    ssl_config_file: str = _option(
        "serve gRPC over TLS: a text-format tensorflow.serving.SSLConfig (server_key, server_cert, custom_ca, "
        "client_verify), as tensorflow_model_server; client_verify: true requires client certificates "
        "signed by custom_ca (default: plaintext)", "", metavar="FILE")

    def __post_init__(self) -> None:
        bad = [f.name for f in dataclasses.fields(self) if f.metadata["check"] and not f.metadata["check"](getattr(self, f.name))]
        if bad:
            raise ValueError(f"invalid server option(s): {', '.join(f'{n}={getattr(self, n)!r}' for n in bad)}")

    @property
    def batching(self) -> bool:
        return self.enable_batching and self.max_batch_size > 1

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ServerOptions:
        """The options `build_arg_parser` parsed (repeated `--version_label`s become one mapping)."""
        values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)}
        return cls(**{**values, "version_labels": dict(values["version_labels"])})


def build_arg_parser() -> argparse.ArgumentParser:
    """`prodcat serve`'s flags, one per ServerOptions field, plus `--log_level`."""
    parser = argparse.ArgumentParser(
        prog="prodcat serve", description="Serve a pushed prodcat model over TF Serving's gRPC (and REST) API. Flags are "
        "tensorflow_model_server's (--model_base_path); the hyphenated spellings (--model-base-path) work too.")
    for field in dataclasses.fields(ServerOptions):
        flag = dict(field.metadata["flag"])
        name = flag.pop("name", field.name)
        if field.default is not dataclasses.MISSING:
            flag.setdefault("default", field.default)
            if isinstance(field.default, bool):
                flag.update(type=_flag_bool, nargs="?", const=True)
            elif isinstance(field.default, (int, float)):
                flag.setdefault("type", type(field.default))
        elif field.default_factory is not dataclasses.MISSING:
            flag["default"] = []  # a repeatable flag collects (key, value) pairs: `from_args` makes them a mapping
        else:
            flag["required"] = True
        spellings = dict.fromkeys([f"--{name}", f"--{name.replace('_', '-')}"])
        parser.add_argument(*spellings, dest=field.name, help=field.metadata["help"], **flag)
    parser.add_argument("--log_level", "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser
