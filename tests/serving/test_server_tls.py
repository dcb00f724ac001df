"""TLS: --ssl_config_file as TF Serving reads it, TLS and mutual TLS over gRPC, and the client's TLS flags."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import grpc
import portpicker
import pytest
from server_fixtures import _fake_model_server, assert_same_predictions
from server_fixtures import base_copy, expected, products  # noqa: F401 (fixtures)

from prodcat.records import Product
from prodcat.serving.client import PredictionClient, PredictionError, TLSConfigError, TlsOptions
from prodcat.serving.server import ModelServer, ServerOptions, load_ssl_config, ssl_config_class


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
