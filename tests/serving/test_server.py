"""`prodcat serve`: TF Serving's gRPC/REST API over a pushed model, its client, batching and versions.

The first tests are fast (no model: codec, flags, the batcher and the version watcher with a fake
loader). The rest run against the model the real pipeline pushed (`demo_run`, once per session),
served from a hard-linked copy of its base path so versions can be pushed and broken freely.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import portpicker
import pytest
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from prodcat.records import Product
from prodcat.readers import read_products
from prodcat.serving.client import PredictionClient, PredictionError, TLSConfigError, TlsOptions, build_predict_request
from prodcat.serving.tensor_codec import TensorDecodeError, TensorTooLargeError, ndarray_to_tensor_proto, tensor_proto_to_ndarray
from prodcat.contract.signatures import Prediction
from prodcat.images import normalize_image
from prodcat.serving.predict import Predictor, resolve_model_dir
from prodcat.serving.server import (
    BatchQueue,
    ModelServer,
    ServerOptions,
    ServingError,
    Stats,
    VersionManager,
    build_arg_parser,
    load_ssl_config,
    serve,
    ssl_config_class,
)
from prodcat.contract.warmup import read_warmup_requests, write_warmup_requests
from prodcat.serving.server.servable import read_signature_defs

REPO = Path(__file__).resolve().parents[2]


# ============================================================================= fast: no model
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


def test_tensor_codec_round_trips_and_rejects_bad_protos() -> None:
    strings = np.array([[b"a", "b\u00e9".encode()], [b"", b"\x00\xff"]], dtype=object)
    assert tensor_proto_to_ndarray(ndarray_to_tensor_proto(strings)).tolist() == strings.tolist()
    floats = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(tensor_proto_to_ndarray(ndarray_to_tensor_proto(floats)), floats)

    short = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[b"x"])
    short.tensor_shape.dim.add(size=3)
    assert tensor_proto_to_ndarray(short).tolist() == [b"x"] * 3  # TensorFlow repeats the last value
    too_many = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[b"x", b"y"])
    too_many.tensor_shape.dim.add(size=1)
    huge = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[b"x"])
    huge.tensor_shape.dim.add(size=10**12)
    unknown = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING)
    unknown.tensor_shape.unknown_rank = True
    bad_content = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_content=b"\x00" * 5)
    bad_content.tensor_shape.dim.add(size=2)
    for proto in (too_many, huge, unknown, bad_content):
        with pytest.raises(TensorDecodeError):
            tensor_proto_to_ndarray(proto, max_elements=1000)

    # A short value list fills its shape with the last value: bounded by what it decodes to.
    bomb = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[b"a", b"x" * 1000])
    bomb.tensor_shape.dim.add(size=100)
    with pytest.raises(TensorTooLargeError, match="decodes to 99001 bytes"):  # 1 + 99 * 1000
        tensor_proto_to_ndarray(bomb, max_bytes=99_000)
    assert tensor_proto_to_ndarray(bomb, max_bytes=99_001).shape == (100,)
    zeros = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT)
    zeros.tensor_shape.dim.add(size=1000)
    with pytest.raises(TensorTooLargeError, match="4000 bytes"):
        tensor_proto_to_ndarray(zeros, max_bytes=3999)
    assert not tensor_proto_to_ndarray(zeros, max_bytes=4000).any()


def test_raw_requests_pad_list_fields_and_re_encode_images_as_ingestion_does() -> None:
    import io

    from PIL import Image

    png = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(png, format="PNG")
    products = [Product("a", "A", tags=["x"], image=b"\x89PNG"),
                Product("b", "B", tags=[f"t{i}" for i in range(20)], image=png.getvalue())]
    request = build_predict_request(products, raw_input_names=["id", "image", "tags", "title"])
    tags = tensor_proto_to_ndarray(request.inputs["tags"])
    assert tags.shape == (2, 32) and tags[0, 0] == b"x" and tags[0, 1] == b"" and tags[1, 19] == b"t19"
    # the JPEG ExampleGen would have stored; an undecodable image travels as none, as in `prodcat predict`
    assert tensor_proto_to_ndarray(request.inputs["image"]).tolist() == [b"", normalize_image(png.getvalue())]
    assert tensor_proto_to_ndarray(build_predict_request(products[:1], raw_input_names=["tags"]).inputs["tags"]).shape == (1, 16)


def test_batcher_merges_concurrent_requests_pads_strings_and_splits_answers() -> None:
    calls: list[int] = []

    def run(inputs: dict) -> dict:
        calls.append(len(inputs["id"]))
        time.sleep(0.02)
        return {"id": inputs["id"], "n_tags": (inputs["tags"] != b"").sum(axis=1)}

    queue = BatchQueue(run, max_batch_size=16, timeout_s=0.01, stats=Stats(), name="test")
    results: dict[int, dict] = {}

    def client(i: int) -> None:
        tags = np.array([[b"t"] * (i % 4 + 1)], dtype=object)  # widths 1..4: padded with "" when merged
        results[i] = queue.submit({"id": np.array([str(i).encode()], dtype=object), "tags": tags}, 1)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.close()
    for i, out in results.items():
        assert out["id"].tolist() == [str(i).encode()] and out["n_tags"].tolist() == [i % 4 + 1]
    stats = queue.stats.snapshot()
    assert stats["merged_batches"] >= 1 and stats["max_tasks_per_batch"] > 1
    assert stats["batched_tasks"] == 24 and sum(calls) == 24 and len(calls) < 24 and max(calls) <= 16


def test_batcher_isolates_a_failing_request() -> None:
    def run(inputs: dict) -> dict:
        time.sleep(0.01)
        if b"bad" in inputs["x"].tolist():
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "bad row")
        return {"y": inputs["x"]}

    queue = BatchQueue(run, max_batch_size=8, timeout_s=0.05, name="test")
    outcome: dict[bytes, object] = {}

    def client(value: bytes) -> None:
        try:
            outcome[value] = queue.submit({"x": np.array([value], dtype=object)}, 1)["y"].tolist()
        except ServingError as err:
            outcome[value] = err.code

    values = [b"bad", *(f"ok{i}".encode() for i in range(6))]
    threads = [threading.Thread(target=client, args=(v,)) for v in values]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.close()
    assert outcome.pop(b"bad") == grpc.StatusCode.INVALID_ARGUMENT
    assert all(result == [value] for value, result in outcome.items())


def test_batcher_does_not_pad_a_batch_beyond_max_elements() -> None:
    """One request with a very wide list input must not widen everybody else's padding."""
    running, gate, shapes = threading.Event(), threading.Event(), []

    def run(inputs: dict) -> dict:
        running.set()
        gate.wait(10)
        shapes.append(inputs["tags"].shape)
        return {"n": (inputs["tags"] != b"").sum(axis=1)}

    queue = BatchQueue(run, max_batch_size=16, timeout_s=0.05, max_elements=1500, name="test")
    results: dict[str, list] = {}

    def submit(name: str, width: int) -> None:
        results[name] = queue.submit({"tags": np.full((1, width), b"t", dtype=object)}, 1)["n"].tolist()

    def start(name: str, width: int) -> threading.Thread:
        thread = threading.Thread(target=submit, args=(name, width))
        thread.start()
        return thread

    threads = [start("blocker", 2)]
    assert running.wait(10)  # the only worker is busy: what follows queues up
    for queued, (name, width) in enumerate([("wide", 1000), *((f"narrow{i}", 2) for i in range(4))], 1):
        threads.append(start(name, width))
        deadline = time.monotonic() + 10
        while queue._queued_rows < queued and time.monotonic() < deadline:  # noqa: SLF001 (in this order)
            time.sleep(0.001)
    gate.set()
    for thread in threads:
        thread.join()
    queue.close()
    assert results == {"blocker": [2], "wide": [1000], **{f"narrow{i}": [2] for i in range(4)}}
    assert sorted(shapes) == [(1, 2), (1, 1000), (4, 2)]  # wide + narrow would have been (2, 1000) > 1500


class _FakeServable:
    def __init__(self, version: int) -> None:
        self.version, self.closed = version, False

    def close(self) -> None:
        self.closed = True


def _fake_loader(version: int, path: Path) -> _FakeServable:
    if (path / "saved_model.pb").read_bytes() != b"ok":
        raise ValueError("not a SavedModel")
    return _FakeServable(version)


def _push(base: Path, version: int, content: bytes = b"ok") -> Path:
    """Writes a version the way a careful Pusher does: into a temporary directory, then rename."""
    tmp = base / f".tmp-{version}"
    tmp.mkdir(parents=True)
    (tmp / "saved_model.pb").write_bytes(content)
    return tmp.rename(base / str(version))


def test_version_manager_serves_newest_loadable_and_keeps_the_last_good(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    base = tmp_path / "prodcat"
    manager = VersionManager("prodcat", base, _fake_loader, poll_seconds=60)
    manager.poll()  # no base path yet: nothing served, no crash
    assert manager.current is None
    _push(base, 1)
    (base / "7").mkdir()  # incomplete push (no saved_model.pb): ignored
    manager.poll()
    first = manager.current
    assert first.version == 1
    _push(base, 3, b"garbage")
    with caplog.at_level(logging.ERROR, "prodcat.serving"):
        manager.poll()
    assert manager.current is first and "version: 3} failed" in caplog.text and "still serving version 1" in caplog.text
    state, code, message = manager.states()[3]
    assert state == get_model_status_pb2.ModelVersionStatus.END and code == grpc.StatusCode.UNKNOWN and "not a SavedModel" in message
    _push(base, 2)
    manager.poll()  # 3 failed with these files: the newest loadable is 2
    assert manager.current.version == 2 and first.closed
    assert manager.states()[1][0] == get_model_status_pb2.ModelVersionStatus.END
    (base / "3" / "saved_model.pb").write_bytes(b"ok")  # fixed in place: files changed, retried
    manager.poll()
    assert manager.current.version == 3
    shutil.rmtree(base / "3")  # rolled back: the newest remaining version is served
    manager.poll()
    assert manager.current.version == 2
    shutil.rmtree(base)  # the base path vanishes: keep serving
    manager.poll()
    assert manager.current.version == 2
    manager.stop()


# ============================================================================= TLS and binding (fast: a fake model)
def _tls_files(directory: Path) -> dict[str, Path]:
    """A throwaway CA with a server certificate for "prodcat.test" and a client certificate, and a
    second CA with its own client certificate; PEM files in `directory`."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    files: dict[str, Path] = {}

    def write(name: str, data: bytes) -> None:
        files[name] = directory / name
        files[name].write_bytes(data)

    def issue(common_name: str, issuer: tuple | None, *, ca: bool = False, dns: str | None = None) -> tuple:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        issuer_name, issuer_key = (issuer[0].subject, issuer[1]) if issuer else (subject, key)
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if dns:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256()), key

    def save(prefix: str, cert: object, key: object) -> None:
        write(f"{prefix}.pem", cert.public_bytes(serialization.Encoding.PEM))
        write(f"{prefix}.key", key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))

    for prefix in ("", "other_"):
        ca = issue(f"prodcat test {prefix}CA", None, ca=True)
        save(f"{prefix}ca", *ca)
        save(f"{prefix}client", *issue("a client", ca))
        if not prefix:
            save("server", *issue("prodcat server", ca, dns="prodcat.test"))
    return files


def _ssl_config(path: Path, files: dict[str, Path], client_verify: bool) -> Path:
    """A tensorflow_model_server --ssl_config_file: the PEM text inline, as TF Serving reads it."""
    from google.protobuf import text_format

    config = ssl_config_class()(server_key=files["server.key"].read_text(), server_cert=files["server.pem"].read_text(),
                                custom_ca=files["ca.pem"].read_text() if client_verify else "", client_verify=client_verify)
    path.write_text(text_format.MessageToString(config))
    return path


def _fake_model_server(base: Path, **options: object) -> ModelServer:
    if not base.exists():
        _push(base, 1)
    return ModelServer(ServerOptions(model_base_path=str(base), port=0, file_system_poll_wait_seconds=60, **options), loader=_fake_loader)


def _status(port: int, tls: TlsOptions | None) -> str:
    """"OK" when GetModelStatus answers over this channel, else the gRPC status code's name."""
    try:
        with PredictionClient(f"127.0.0.1:{port}", tls=tls, timeout=20) as client:
            assert [s.state for s in client.model_status()] == ["AVAILABLE"]
        return "OK"
    except PredictionError as err:
        return err.code.name


def test_ssl_config_file_is_tf_servings_sslconfig_and_bad_ones_fail_clearly(tmp_path: Path) -> None:
    files = _tls_files(tmp_path)
    fields = {f.name: (f.number, f.type) for f in ssl_config_class().DESCRIPTOR.fields}
    assert ssl_config_class().DESCRIPTOR.full_name == "tensorflow.serving.SSLConfig"
    assert fields == {"server_key": (1, 9), "server_cert": (2, 9), "custom_ca": (3, 9), "client_verify": (4, 8)}  # 9 string, 8 bool

    settings = load_ssl_config(_ssl_config(tmp_path / "inline.cfg", files, client_verify=True))
    assert settings.server_key.strip() == files["server.key"].read_bytes().strip() and settings.client_verify
    assert settings.custom_ca.strip() == files["ca.pem"].read_bytes().strip()
    (tmp_path / "paths.cfg").write_text('# PEM files, relative to this file\nserver_key: "server.key"\n'
                                        f'server_cert: "{files["server.pem"]}"\n')
    settings = load_ssl_config(tmp_path / "paths.cfg")
    assert settings.server_cert == files["server.pem"].read_bytes() and settings.custom_ca is None and not settings.client_verify

    def config(text: str) -> Path:
        path = tmp_path / f"bad{len(list(tmp_path.glob('bad*.cfg')))}.cfg"
        path.write_text(text)
        return path

    key, cert = f'server_key: "{files["server.key"]}"\n', f'server_cert: "{files["server.pem"]}"\n'
    for path, message in [
        (tmp_path / "missing.cfg", r"cannot read --ssl_config_file '.*missing.cfg': No such file"),
        (tmp_path, "cannot read --ssl_config_file .*: Is a directory"),
        (config("server_kee: 'x'"), r"not a text-format tensorflow.serving.SSLConfig: 1:1 : .*no field named \"server_kee\""),
        (config(key), "has no server_cert: TLS needs the server's private key and certificate"),
        (config(key + cert + "client_verify: true"), "client_verify: true without custom_ca"),
        (config(key + 'server_cert: "nope.pem"'), r"cannot read the server_cert file \(from --ssl_config_file .*\) '.*nope.pem': No such file"),
        (config(key + f'server_cert: "{files["server.key"]}"'), "server_cert in --ssl_config_file .* is not a valid PEM certificate"),
        (config(cert + f'server_key: "{files["server.pem"]}"'), "server_key in .* is not a PEM private key"),
        (config(key + cert + 'custom_ca: "-----BEGIN CERTIFICATE-----\\nnot base64\\n-----END CERTIFICATE-----"'),
         "custom_ca in .* is not a valid PEM certificate"),
    ]:
        with pytest.raises(TLSConfigError, match=message):
            load_ssl_config(path)

    loaded: list[int] = []
    mismatched = config(f'server_key: "{files["client.key"]}"\n' + cert)  # a valid key, but not server.pem's
    server = ModelServer(ServerOptions(model_base_path=str(tmp_path / "m"), port=0, ssl_config_file=str(mismatched)),
                         loader=lambda version, path: loaded.append(version))
    with pytest.raises(TLSConfigError, match="is server_key the private key of"):
        server.start()
    assert loaded == [] and server.port is None  # failed before loading or binding anything


def test_serve_exits_with_a_clear_message_for_an_unusable_tls_file(tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd) -> None:
    from prodcat import cli

    files = _tls_files(tmp_path)
    missing_cert = tmp_path / "server.cfg"
    missing_cert.write_text(f'server_key: "{files["server.key"]}"\nserver_cert: "{tmp_path / "gone.pem"}"\n')
    for ssl_config_file, message in [(tmp_path / "nope.cfg", f"cannot read --ssl_config_file '{tmp_path / 'nope.cfg'}': No such file"),
                                     (missing_cert, f"cannot read the server_cert file (from --ssl_config_file '{missing_cert}') "
                                                    f"'{tmp_path / 'gone.pem'}': No such file")]:
        caplog.clear()
        with caplog.at_level(logging.INFO, "prodcat.serving"):
            assert cli.main(["serve", f"--model_base_path={tmp_path / 'models'}", "--port=0", f"--ssl_config_file={ssl_config_file}"]) == 2
        (record,) = [r for r in caplog.records if r.levelno >= logging.WARNING]  # nothing else: no model was looked for
        assert record.getMessage().startswith(message) and record.exc_info is None
        assert "Traceback" not in capfd.readouterr().err


def test_grpc_over_tls_and_mutual_tls_refuses_the_wrong_clients(tmp_path: Path) -> None:
    files = _tls_files(tmp_path)
    ca = str(files["ca.pem"])
    tls = TlsOptions(ca_cert=ca, server_name="prodcat.test")
    mtls = TlsOptions(ca_cert=ca, client_cert=files["client.pem"], client_key=files["client.key"], server_name="prodcat.test")
    base = tmp_path / "prodcat"
    with _fake_model_server(base, ssl_config_file=str(_ssl_config(tmp_path / "tls.cfg", files, client_verify=False))) as server:
        assert server.tls is not None and not server.tls.client_verify
        assert _status(server.port, tls) == "OK"
        assert _status(server.port, mtls) == "OK"  # a client certificate nobody asked for is fine
        assert _status(server.port, TlsOptions(ca_cert=ca)) == "UNAVAILABLE"  # the certificate names prodcat.test, not 127.0.0.1
        assert _status(server.port, TlsOptions(ca_cert=files["other_ca.pem"], server_name="prodcat.test")) == "UNAVAILABLE"
        assert _status(server.port, None) == "UNAVAILABLE"  # plaintext client, TLS server
        assert _status(server.port, tls) == "OK"
    with _fake_model_server(base, ssl_config_file=str(_ssl_config(tmp_path / "mtls.cfg", files, client_verify=True))) as server:
        assert server.tls.client_verify
        assert _status(server.port, mtls) == "OK"
        assert _status(server.port, tls) == "UNAVAILABLE"  # no client certificate
        other_client = TlsOptions(ca_cert=ca, client_cert=files["other_client.pem"], client_key=files["other_client.key"],
                                  server_name="prodcat.test")
        assert _status(server.port, other_client) == "UNAVAILABLE"  # signed by a CA the server does not trust
        assert _status(server.port, None) == "UNAVAILABLE"
        assert _status(server.port, mtls) == "OK"  # refusals leave the server serving
    with _fake_model_server(base) as server:
        assert server.tls is None and _status(server.port, None) == "OK"
        assert _status(server.port, tls) == "UNAVAILABLE"  # TLS client, plaintext server

    with pytest.raises(TLSConfigError, match="needs its private key"):
        TlsOptions(ca_cert=ca, client_cert=files["client.pem"]).credentials()
    with pytest.raises(TLSConfigError, match=r"cannot read the TLS CA certificate '.*nope.pem': No such file"):
        PredictionClient("127.0.0.1:1", tls=TlsOptions(ca_cert=tmp_path / "nope.pem"))
    (tmp_path / "junk.key").write_bytes(b"junk")
    with pytest.raises(TLSConfigError, match="the TLS client key .*junk.key' is not a PEM file"):
        TlsOptions(client_cert=files["client.pem"], client_key=tmp_path / "junk.key").credentials()


def test_client_cli_tls_flags(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from prodcat import cli
    from prodcat.readers import write_jsonl

    args = cli.build_parser().parse_args(["client", "--input", "in.jsonl", "--output", "out.jsonl", "--tls-ca-cert", "ca.pem",
                                          "--tls-client-cert", "c.pem", "--tls-client-key", "c.key", "--tls-server-name", "x.test"])
    assert (args.tls, args.tls_ca_cert, args.tls_client_cert, args.tls_client_key, args.tls_server_name) == (
        False, "ca.pem", "c.pem", "c.key", "x.test")
    products = tmp_path / "in.jsonl"
    write_jsonl([Product("p1", "A kite")], products)
    common = ["client", "--input", str(products), "--output", str(tmp_path / "out.jsonl"), "--quiet"]

    assert cli.main([*common, "--tls-ca-cert", str(tmp_path / "nope.pem")]) == 2
    assert "prodcat: error: cannot read the TLS CA certificate" in capsys.readouterr().err

    files = _tls_files(tmp_path)
    with _fake_model_server(tmp_path / "prodcat", ssl_config_file=str(_ssl_config(tmp_path / "tls.cfg", files, False))) as server:
        assert cli.main([*common, "--target", f"127.0.0.1:{server.port}"]) == 1  # plaintext client
        err = capsys.readouterr().err
        assert "prodcat: error: " in err and "UNAVAILABLE" in err and "Traceback" not in err
    assert not (tmp_path / "out.jsonl").exists()


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


# ============================================================================= with the pushed model
def _hardlink_copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, copy_function=os.link)
    return dst


@pytest.fixture(scope="module")
def products(demo_run) -> list[Product]:
    products = read_products(demo_run.products_path)[:50]
    products[3].image = bytes(range(256)) * 4  # image bytes travel too
    return products


@pytest.fixture(scope="module")
def expected(demo_run, products) -> dict[bool, list[Prediction]]:
    predictor = Predictor(demo_run.serving_base)
    return {full: predictor.predict(products, full_depth=full) for full in (False, True)}


@pytest.fixture(scope="module")
def base_copy(demo_run, tmp_path_factory: pytest.TempPathFactory, products) -> Path:
    base = _hardlink_copy(demo_run.serving_base, tmp_path_factory.mktemp("serving") / "prodcat")
    version = resolve_model_dir(base)
    write_warmup_requests(version, products[:8], sorted(read_signature_defs(version)["serving_raw"].inputs))
    return base


@pytest.fixture(scope="module")
def server(base_copy: Path) -> Iterator[ModelServer]:
    options = ServerOptions(
        model_base_path=str(base_copy), port=portpicker.pick_unused_port(), rest_api_port=portpicker.pick_unused_port(),
        max_request_bytes=4 * 1024 * 1024, max_batch_size=32, batch_timeout_micros=2000, max_batch_rows=64,
    )
    with ModelServer(options) as running:
        yield running


@pytest.fixture(scope="module")
def target(server: ModelServer) -> str:
    return f"127.0.0.1:{server.port}"


@pytest.fixture(scope="module")
def client(target: str) -> Iterator[PredictionClient]:
    with PredictionClient(target) as c:
        yield c


@pytest.fixture(scope="module")
def stubs(target: str) -> Iterator[tuple]:
    channel = grpc.insecure_channel(target)
    yield prediction_service_pb2_grpc.PredictionServiceStub(channel), model_service_pb2_grpc.ModelServiceStub(channel)
    channel.close()


def assert_same_predictions(got: list[Prediction], want: list[Prediction]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert (g.id, g.category_id, g.depth, g.category_path) == (w.id, w.category_id, w.depth, w.category_path)
        assert [(lv.level, lv.id, lv.name) for lv in g.levels] == [(lv.level, lv.id, lv.name) for lv in w.levels]
        assert [lv.confidence for lv in g.levels] == pytest.approx([lv.confidence for lv in w.levels], abs=1e-5)



@pytest.mark.slow
def test_warmup_file_is_tf_serving_format_and_replayed_on_load(server: ModelServer, base_copy: Path) -> None:
    requests = read_warmup_requests(resolve_model_dir(base_copy))
    assert [(r.model_spec.signature_name, len(r.inputs["id" if "id" in r.inputs else "examples"].string_val)) for r in requests] == [
        ("serving_raw", 1), ("serving_raw", 8), ("serving_default", 1), ("serving_default", 8)]
    assert server.stats.snapshot()["warmup_requests"] == 4


@pytest.mark.slow
def test_grpc_predictions_equal_the_predictor(client: PredictionClient, products, expected, base_copy: Path) -> None:
    version, got = client.predict_with_version(products)
    assert version == int(resolve_model_dir(base_copy).name)
    assert_same_predictions(got, expected[False])
    assert_same_predictions(client.predict(products, full_depth=True), expected[True])
    assert_same_predictions(client.predict(products, signature_name="serving_default"), expected[False])


@pytest.mark.slow
def test_response_model_spec_and_output_filter(stubs, products, base_copy: Path) -> None:
    predictions, _ = stubs
    request = build_predict_request(products[:2], signature_name="serving_default", output_filter=["depth"])
    request.model_spec.signature_name = ""  # empty means serving_default, like TF Serving
    response = predictions.Predict(request, timeout=30)
    assert list(response.outputs) == ["depth"] and list(response.outputs["depth"].tensor_shape.dim[0:1])[0].size == 2
    assert response.model_spec.name == "prodcat" and response.model_spec.signature_name == "serving_default"
    assert response.model_spec.version.value == int(resolve_model_dir(base_copy).name)


@pytest.mark.slow
def test_status_and_metadata_answer_like_tf_serving(client: PredictionClient, stubs, server: ModelServer, base_copy: Path) -> None:
    version = int(resolve_model_dir(base_copy).name)
    (status,) = client.model_status()
    assert (status.version, status.state, status.error_code, status.error_message) == (version, "AVAILABLE", "OK", "")
    assert client.model_status(version)[0].state == "AVAILABLE"

    _, models = stubs
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "prodcat"
    raw = models.GetModelStatus(request, timeout=10)
    assert raw.model_version_status[0].state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert raw.model_version_status[0].status.error_code == 0

    metadata = client.metadata()
    assert metadata.version == version and metadata.name == "prodcat"
    assert {"serving_default", "serving_raw", "transform_features"} <= set(metadata.signatures)
    raw_sig = metadata.signatures["serving_raw"]
    assert raw_sig.method_name == "tensorflow/serving/predict"
    assert raw_sig.inputs["title"].dtype == "DT_STRING" and raw_sig.inputs["title"].shape == (None,)
    assert raw_sig.inputs["tags"].shape == (None, None)
    assert raw_sig.outputs["level_confidences"].dtype == "DT_FLOAT" and raw_sig.outputs["level_confidences"].shape == (None, 7)
    predictions, _ = stubs
    meta_request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    meta_request.model_spec.name = "prodcat"
    any_proto = predictions.GetModelMetadata(meta_request, timeout=10).metadata["signature_def"]
    assert any_proto.type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap"

    rest = f"http://127.0.0.1:{server.rest_port}/v1/models/prodcat"
    body = json.loads(urllib.request.urlopen(rest, timeout=10).read())
    assert body == {"model_version_status": [{"version": str(version), "state": "AVAILABLE",
                                              "status": {"error_code": "OK", "error_message": ""}}]}
    meta = json.loads(urllib.request.urlopen(rest + "/metadata", timeout=10).read())
    assert meta["model_spec"]["version"] == str(version)
    title = meta["metadata"]["signature_def"]["signature_def"]["serving_raw"]["inputs"]["title"]
    assert title["dtype"] == "DT_STRING" and title["tensor_shape"] == {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False}
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{server.rest_port}/monitoring/prometheus/metrics", timeout=10).read().decode()
    assert f'prodcat_serving_model_version{{model_name="prodcat"}} {version}' in metrics


def _rest_post(server: ModelServer, path: str, payload: object) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{server.rest_port}{path}", data=json.dumps(payload).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _instance(p: Product, width: int = 8) -> dict:
    import base64

    return {"id": p.id, "title": p.title, "description": p.description, "vendor": p.vendor, "product_type": p.product_type,
            "shop": p.shop, "language": p.language, "image": {"b64": base64.b64encode(p.image or b"").decode()},
            "tags": (p.tags + [""] * width)[:width], "collections": (p.collections + [""] * width)[:width]}


def tf_example_bytes(**fields: str) -> bytes:
    import tensorflow as tf

    feature = {k: tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode()])) for k, v in fields.items()}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@pytest.mark.slow
def test_clients_send_only_the_fields_they_have(server: ModelServer, stubs, products) -> None:
    """REST rows with a subset of the product fields (no signature named), gRPC `serving_raw` with
    only some inputs, `serving_default` with tf.Examples of only a title: each answers as the full
    product with those fields empty would."""
    from prodcat.contract.signatures import predictions_from_outputs

    few = [Product(p.id, p.title, tags=p.tags[:2]) for p in products[:4]]
    full = Predictor(server.options.model_base_path).predict(few)
    rows = [{"id": p.id, "title": p.title, **({"tags": p.tags} if p.tags else {})} for p in few]
    status, body = _rest_post(server, "/v1/models/prodcat:predict", {"instances": rows})
    assert status == 200, body
    columns = {name: np.array([row[name] for row in body["predictions"]], dtype=object) for name in body["predictions"][0]}
    columns["level_confidences"] = columns["level_confidences"].astype(np.float32)
    assert_same_predictions(predictions_from_outputs([p.id for p in few], columns), full)

    predictions, _ = stubs
    response = predictions.Predict(build_predict_request(few, raw_input_names=["id", "title"]), timeout=60)
    outputs = {name: tensor_proto_to_ndarray(proto) for name, proto in response.outputs.items()}
    titles_only = Predictor(server.options.model_base_path).predict([Product(p.id, p.title) for p in few])
    assert_same_predictions(predictions_from_outputs([p.id for p in few], outputs), titles_only)
    with pytest.raises(grpc.RpcError) as err:
        predictions.Predict(build_predict_request(few, raw_input_names=["id", "tags"]), timeout=60)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "'title' is required" in err.value.details()

    no_title = tf_example_bytes(description="soft, washable")
    request = build_predict_request([], signature_name="serving_default")
    request.inputs["examples"].CopyFrom(ndarray_to_tensor_proto(np.array([no_title], dtype=object)))
    with pytest.raises(grpc.RpcError) as err:
        predictions.Predict(request, timeout=60)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "no feature 'title'" in err.value.details()
    assert "Graph execution" not in err.value.details() and "node" not in err.value.details()

    status, body = _rest_post(server, "/v1/models/prodcat:predict", {"instances": [{"title": "dog \ud800 bed"}]})
    assert status == 400 and "not valid Unicode" in body["error"]  # a lone surrogate is the client's error, not a 500


@pytest.mark.slow
def test_rest_predict_rows_and_columns_equal_the_predictor(server: ModelServer, products, expected) -> None:
    from prodcat.contract.signatures import predictions_from_outputs

    ids = [p.id for p in products]
    status, rows = _rest_post(server, "/v1/models/prodcat:predict", {"signature_name": "serving_raw", "instances": [_instance(p) for p in products]})
    assert status == 200, rows
    columns = {name: np.array([row[name] for row in rows["predictions"]], dtype=object) for name in rows["predictions"][0]}
    columns["level_confidences"] = columns["level_confidences"].astype(np.float32)
    assert_same_predictions(predictions_from_outputs(ids, columns), expected[False])

    instances = [_instance(p) for p in products]
    inputs = {name: [inst[name] for inst in instances] for name in instances[0]}
    version = resolve_model_dir(server.options.model_base_path).name
    status, cols = _rest_post(server, f"/v1/models/prodcat/versions/{version}:predict", {"signature_name": "serving_raw", "inputs": inputs})
    assert status == 200, cols
    outputs = {name: np.array(value, dtype=np.float32 if name == "level_confidences" else object) for name, value in cols["outputs"].items()}
    assert_same_predictions(predictions_from_outputs(ids, outputs, full_depth=True), expected[True])

    assert _rest_post(server, "/v1/models/nope:predict", {"instances": [1]})[0] == 404
    assert _rest_post(server, "/v1/models/prodcat:predict", {"signature_name": "serving_raw", "instances": [{"title": 1}]})[0] == 400
    bad_json = urllib.request.Request(f"http://127.0.0.1:{server.rest_port}/v1/models/prodcat:predict", data=b"{nope", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(bad_json, timeout=10)
    assert err.value.code == 400 and "error" in json.loads(err.value.read())
    assert _rest_post(server, "/v1/models/prodcat:predict", {"signature_name": "nope", "instances": [_instance(products[0])]})[0] == 404
    status, body = _rest_post(server, "/v1/models/prodcat:predict", {"signature_name": "serving_raw", "instances": [_instance(products[0])] * 65})
    assert status == 400 and "--max_batch_rows" in body["error"]
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=10)  # a body over --max_request_bytes
    connection.putrequest("POST", "/v1/models/prodcat:predict")
    connection.putheader("Content-Length", str(5 * 1024 * 1024))
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 413 and "--max_request_bytes" in json.loads(response.read())["error"]
    connection.close()
    assert _rest_post(server, "/v1/models/prodcat:predict", {"signature_name": "serving_raw", "instances": [_instance(products[0])]})[0] == 200


def _malformed_requests(products: list[Product], version: int) -> list[tuple[str, predict_pb2.PredictRequest, grpc.StatusCode]]:
    def raw(**spec: object) -> predict_pb2.PredictRequest:
        request = build_predict_request(products[:2], raw_input_names=sorted(
            ["id", "title", "description", "vendor", "product_type", "tags", "collections", "shop", "image", "language"]))
        for key, value in spec.items():
            if key == "version":
                request.model_spec.version.value = value
            else:
                setattr(request.model_spec, key, value)
        return request

    cases = []
    request = raw()
    request.inputs["colour"].CopyFrom(request.inputs["title"])
    cases.append(("unknown input name", request, grpc.StatusCode.INVALID_ARGUMENT))
    request = raw()
    request.inputs["title"].CopyFrom(ndarray_to_tensor_proto(np.zeros(2, np.float32)))
    cases.append(("wrong dtype", request, grpc.StatusCode.INVALID_ARGUMENT))
    request = raw()
    del request.inputs["title"]
    cases.append(("missing input", request, grpc.StatusCode.INVALID_ARGUMENT))
    request = raw()
    request.inputs["title"].CopyFrom(ndarray_to_tensor_proto(np.array([[b"a", b"b"]], dtype=object)))
    cases.append(("bad rank", request, grpc.StatusCode.INVALID_ARGUMENT))
    request = raw()
    request.inputs["title"].CopyFrom(ndarray_to_tensor_proto(np.array([b"a", b"b", b"c"], dtype=object)))
    cases.append(("batch sizes differ", request, grpc.StatusCode.INVALID_ARGUMENT))
    request = raw()
    request.inputs["title"].string_val.append(b"one too many")
    cases.append(("undecodable tensor", request, grpc.StatusCode.INVALID_ARGUMENT))
    request = raw()
    request.output_filter.append("nonexistent")
    cases.append(("unknown output", request, grpc.StatusCode.INVALID_ARGUMENT))
    cases.append(("missing model", raw(name="nope"), grpc.StatusCode.NOT_FOUND))
    cases.append(("unknown version", raw(version=version + 1), grpc.StatusCode.NOT_FOUND))
    cases.append(("unknown signature", raw(signature_name="nope"), grpc.StatusCode.NOT_FOUND))
    cases.append(("unknown version label", raw(version_label="stable"), grpc.StatusCode.INVALID_ARGUMENT))
    cases.append(("sparse output", build_predict_request(products[:2], signature_name="transform_features"), grpc.StatusCode.UNIMPLEMENTED))
    request = raw()
    request.inputs["title"].string_val[0] = b"x" * (5 * 1024 * 1024)
    cases.append(("oversized request", request, grpc.StatusCode.RESOURCE_EXHAUSTED))  # over --max_request_bytes on the wire
    request = raw()
    request.inputs["title"].string_val[:] = [b"x" * 100_000]
    for proto in request.inputs.values():
        proto.tensor_shape.dim[0].size = 64  # 64 rows, the last value repeated: 6.4 MB of titles from a 100 kB request
    cases.append(("decodes past max_request_bytes", request, grpc.StatusCode.RESOURCE_EXHAUSTED))
    request = raw()
    for proto in request.inputs.values():
        proto.tensor_shape.dim[0].size = 65
    cases.append(("more rows than max_batch_rows", request, grpc.StatusCode.INVALID_ARGUMENT))
    request = raw()
    request.inputs["title"].tensor_shape.dim.add(size=1 << 22)  # [2, 4M]: one value would fill 8M elements
    cases.append(("expands past max elements", request, grpc.StatusCode.INVALID_ARGUMENT))
    request = raw()
    request.inputs["title"].tensor_content = b"ab"
    cases.append(("string in tensor_content", request, grpc.StatusCode.INVALID_ARGUMENT))
    request = raw()
    request.inputs["title"].tensor_shape.dim[0].size = -1
    cases.append(("negative dimension", request, grpc.StatusCode.INVALID_ARGUMENT))
    request = raw()
    request.inputs["title"].tensor_shape.unknown_rank = True
    cases.append(("unknown rank", request, grpc.StatusCode.INVALID_ARGUMENT))
    request = raw()
    request.inputs["title"].dtype = types_pb2.DT_INVALID
    cases.append(("invalid dtype", request, grpc.StatusCode.INVALID_ARGUMENT))
    request = raw()
    request.inputs["title"].dtype = 12345  # not a DataType
    cases.append(("unknown dtype number", request, grpc.StatusCode.INVALID_ARGUMENT))
    request = raw()
    request.ClearField("model_spec")
    cases.append(("no model_spec", request, grpc.StatusCode.INVALID_ARGUMENT))
    return cases


@pytest.mark.slow
def test_malformed_requests_get_the_right_status_codes_and_the_server_keeps_serving(
    stubs, client: PredictionClient, products, expected, base_copy: Path,
) -> None:
    predictions, models = stubs
    version = int(resolve_model_dir(base_copy).name)
    gap = build_predict_request(products[:1], signature_name="serving_raw")
    tags = gap.inputs["tags"]
    if len(tags.string_val) >= 2:  # padding before a real value ("", "x") is accepted, not an error
        tags.string_val[0], tags.string_val[1] = b"", b"x"
        gap.model_spec.name = "prodcat"
        assert predictions.Predict(gap, timeout=30).outputs["category_id"].string_val
    codes = {}
    for name, request, _ in _malformed_requests(products, version):
        with pytest.raises(grpc.RpcError) as err:
            predictions.Predict(request, timeout=30)
        codes[name] = err.value.code()
    assert codes == {name: code for name, _, code in _malformed_requests(products, version)}

    meta = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["bogus"])
    meta.model_spec.name = "prodcat"
    with pytest.raises(grpc.RpcError) as err:
        predictions.GetModelMetadata(meta, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    for spec in ({"name": "nope"}, {"name": "prodcat", "version": version + 1}):
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = spec["name"]
        if "version" in spec:
            request.model_spec.version.value = spec["version"]
        with pytest.raises(grpc.RpcError) as err:
            models.GetModelStatus(request, timeout=10)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(PredictionError) as typed:
        PredictionClient(client.target, "nope").model_status()
    assert typed.value.code == grpc.StatusCode.NOT_FOUND

    assert_same_predictions(client.predict(products[:5]), expected[False][:5])  # still serving


@pytest.mark.slow
def test_mutual_tls_clients_get_the_predictors_answers(base_copy: Path, tmp_path: Path, products, expected, capsys) -> None:
    from prodcat import cli
    from prodcat.readers import write_jsonl

    files = _tls_files(tmp_path)
    options = ServerOptions(model_base_path=str(base_copy), port=portpicker.pick_unused_port(),
                            ssl_config_file=str(_ssl_config(tmp_path / "ssl.cfg", files, client_verify=True)))
    tls = TlsOptions(ca_cert=files["ca.pem"], client_cert=files["client.pem"], client_key=files["client.key"], server_name="prodcat.test")
    with ModelServer(options) as server:
        target = f"127.0.0.1:{server.port}"
        with PredictionClient(target, tls=tls) as client:
            assert_same_predictions(client.predict(products), expected[False])
            assert_same_predictions(client.predict(products[:7], signature_name="serving_default"), expected[False][:7])
        for wrong in (None, TlsOptions(ca_cert=files["ca.pem"], server_name="prodcat.test")):  # plaintext; no client certificate
            with PredictionClient(target, tls=wrong, timeout=20) as client, pytest.raises(PredictionError) as err:
                client.predict(products[:1])
            assert err.value.code == grpc.StatusCode.UNAVAILABLE

        write_jsonl(products[:5], tmp_path / "products.jsonl")
        out = tmp_path / "predictions.jsonl"
        assert cli.main(["client", "--target", target, "--input", str(tmp_path / "products.jsonl"), "--output", str(out), "--quiet",
                         "--tls-ca-cert", str(files["ca.pem"]), "--tls-client-cert", str(files["client.pem"]),
                         "--tls-client-key", str(files["client.key"]), "--tls-server-name", "prodcat.test"]) == 0
        got = [json.loads(line) for line in out.read_text().splitlines()]
        assert [(g["id"], g["category_id"], g["category_path"]) for g in got] == [(w.id, w.category_id, w.category_path) for w in expected[False][:5]]


@pytest.mark.slow
def test_32_concurrent_clients_get_correct_answers_and_requests_are_batched(server: ModelServer, client: PredictionClient, products, expected) -> None:
    want = {p.id: p for p in expected[False]}
    before = server.stats.snapshot()
    errors: list[BaseException] = []
    answers: list[Prediction] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        for i in range(10):
            product = products[(k * 10 + i) % len(products)]
            try:
                (prediction,) = client.predict([product])
                with lock:
                    answers.append(prediction)
            except BaseException as err:  # noqa: BLE001 (collected and asserted below)
                with lock:
                    errors.append(err)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    assert errors == [] and len(answers) == 320
    for answer in answers:
        assert_same_predictions([answer], [want[answer.id]])
    after = server.stats.snapshot()
    merged = after["merged_batches"] - before["merged_batches"]
    batched = after["batched_tasks"] - before["batched_tasks"]
    print(f"\n320 requests in {elapsed:.2f}s; {batched} batched into {after['batches'] - before['batches']} batches, "
          f"{merged} merged, largest {after['max_tasks_per_batch']} requests")
    assert batched == 320 and merged > 0 and after["max_tasks_per_batch"] > 1


@pytest.mark.slow
def test_a_pushed_version_is_served_within_seconds_and_bad_pushes_do_not_stop_serving(
    demo_run, tmp_path: Path, products, expected, caplog: pytest.LogCaptureFixture,
) -> None:
    base = _hardlink_copy(demo_run.serving_base, tmp_path / "prodcat")
    old = resolve_model_dir(base)
    options = ServerOptions(model_base_path=str(base), port=portpicker.pick_unused_port(), file_system_poll_wait_seconds=0.2)
    with ModelServer(options) as server, PredictionClient(f"127.0.0.1:{server.port}") as client:
        assert client.predict_with_version(products[:1])[0] == int(old.name)

        new_version = int(old.name) + 1
        staging = base / f".staging-{new_version}"  # not numeric: the watcher ignores it
        _hardlink_copy(old, staging)
        pushed_at = time.monotonic()
        staging.rename(base / str(new_version))
        served = None
        while time.monotonic() - pushed_at < 60:
            served, got = client.predict_with_version(products)
            if served == new_version:
                break
            time.sleep(0.1)
        print(f"\nversion {new_version} served {time.monotonic() - pushed_at:.1f}s after the push")
        assert served == new_version and time.monotonic() - pushed_at < 30
        assert_same_predictions(got, expected[False])
        assert [s.version for s in client.model_status() if s.state == "AVAILABLE"] == [new_version]

        broken = base / f".staging-{new_version + 1}"
        broken.mkdir()
        (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
        with caplog.at_level(logging.ERROR, "prodcat.serving"):
            broken.rename(base / str(new_version + 1))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not any(s.version == new_version + 1 and s.state == "END" for s in client.model_status()):
                time.sleep(0.1)
        status = {s.version: s for s in client.model_status()}
        assert status[new_version + 1].state == "END" and status[new_version + 1].error_code != "OK"
        assert f"version: {new_version + 1}}} failed" in caplog.text
        assert client.predict_with_version(products[:1])[0] == new_version

        shutil.rmtree(base)  # the base path vanishes: the loaded version keeps serving
        time.sleep(1.0)
        assert client.predict_with_version(products[:1])[0] == new_version


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
