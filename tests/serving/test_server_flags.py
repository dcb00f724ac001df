"""The server as a program: tensorflow_model_server's flags, loopback binding by default, `python -m` and SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import portpicker
import pytest
from server_fixtures import _fake_model_server, assert_same_predictions
from server_fixtures import base_copy, expected, products  # noqa: F401 (fixtures)

from prodcat.serving.client import PredictionClient
from prodcat.serving.server import ServerOptions, build_arg_parser, serve

REPO = Path(__file__).resolve().parents[2]


def test_flags_mirror_tensorflow_model_server() -> None:
    args = build_arg_parser().parse_args(["--model_base_path=/m", "--port=9000", "--rest_api_port", "9001",
                                          "--enable_batching=false", "--version_label", "stable=7"])
    assert (args.model_base_path, args.port, args.rest_api_port, args.enable_batching) == ("/m", 9000, 9001, False)
    assert args.version_labels == [("stable", 7)]
    defaults = build_arg_parser().parse_args(["--model_base_path", "/m"])
    assert (defaults.model_name, defaults.port, defaults.rest_api_port, defaults.host) == ("prodcat", 8500, 0, "127.0.0.1")
    assert defaults.file_system_poll_wait_seconds == 2 and defaults.enable_batching is True
    assert (defaults.max_batch_rows, defaults.max_request_bytes, defaults.ssl_config_file) == (1024, 64 * 1024 * 1024, "")
    limits = build_arg_parser().parse_args(["--model_base_path=/m", "--max_batch_rows=0", "--max_request_bytes=2048",
                                            "--ssl_config_file", "/etc/ssl.cfg"])
    assert (limits.max_batch_rows, limits.max_request_bytes, limits.ssl_config_file) == (0, 2048, "/etc/ssl.cfg")
    # TensorFlow's thread pools under tensorflow_model_server's flag names and defaults (0: TensorFlow's choice)
    assert (defaults.num_batch_threads, defaults.tensorflow_intra_op_parallelism, defaults.tensorflow_inter_op_parallelism) == (
        1, 0, 0)
    threads = build_arg_parser().parse_args(["--model_base_path=/m", "--num_batch_threads=3",
                                             "--tensorflow_intra_op_parallelism=0", "--tensorflow_inter_op_parallelism=4"])
    assert (threads.num_batch_threads, threads.tensorflow_intra_op_parallelism, threads.tensorflow_inter_op_parallelism) == (3, 0, 4)
    # prodcat's own CLI spelling works too: `prodcat serve --model-base-path DIR --model-name NAME`
    hyphens = build_arg_parser().parse_args(["--model-base-path", "/m", "--model-name", "shop", "--rest-api-port=9001",
                                             "--max-batch-size", "8", "--version-label", "stable=7"])
    assert (hyphens.model_base_path, hyphens.model_name, hyphens.rest_api_port, hyphens.max_batch_size) == ("/m", "shop", 9001, 8)
    assert hyphens.version_labels == [("stable", 7)]
    with pytest.raises(ValueError, match="tensorflow_intra_op_parallelism"):
        ServerOptions(model_base_path="/m", tensorflow_intra_op_parallelism=-1)
    with pytest.raises(ValueError, match="max_batch_size"):
        ServerOptions(model_base_path="/m", max_batch_size=0)
    with pytest.raises(ValueError, match="max_batch_rows"):
        ServerOptions(model_base_path="/m", max_batch_rows=-1)


def _listening_addresses(port: int) -> set[str]:
    """Where a TCP port listens, from /proc/net/tcp and tcp6 ("127.0.0.1", "::", "0.0.0.0", ...)."""
    import ipaddress

    found = set()
    for name in ("tcp", "tcp6"):
        table = Path("/proc/net") / name
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)
                ip = ipaddress.ip_address(b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4)))  # host-order words
                found.add(str(getattr(ip, "ipv4_mapped", None) or ip))  # gRPC listens on ::ffff:127.0.0.1 for 127.0.0.1
    return found


def test_the_server_binds_loopback_unless_told_otherwise(tmp_path: Path) -> None:
    import inspect

    assert ServerOptions(model_base_path="/m").host == "127.0.0.1"
    assert inspect.signature(serve).parameters["host"].default == "127.0.0.1"
    assert build_arg_parser().parse_args(["--model_base_path=/m"]).host == "127.0.0.1"
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs Linux's /proc/net/tcp to see where sockets listen")
    with _fake_model_server(tmp_path / "prodcat", rest_api_port=portpicker.pick_unused_port()) as server:
        assert _listening_addresses(server.port) == {"127.0.0.1"}
        assert _listening_addresses(server.rest_port) == {"127.0.0.1"}


@pytest.mark.slow
def test_python_m_entry_point_serves_and_stops_on_sigterm(base_copy: Path, products, expected) -> None:
    port, rest = portpicker.pick_unused_port(), portpicker.pick_unused_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.Popen(
        [sys.executable, "-m", "prodcat.serving.server", f"--model_base_path={base_copy}", f"--port={port}",
         f"--rest_api_port={rest}", "--max_batch_size=8"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and process.poll() is None:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{rest}/v1/models/prodcat", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        assert process.poll() is None, process.stdout.read()
        with PredictionClient(f"127.0.0.1:{port}") as client:
            assert_same_predictions(client.predict(products[:4]), expected[False][:4])
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert "Running gRPC ModelServer" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
