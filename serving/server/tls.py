"""`--ssl_config_file`: tensorflow_model_server's text-format `tensorflow.serving.SSLConfig`.

It holds server_key, server_cert, custom_ca and client_verify, and serves gRPC over TLS;
`client_verify: true` requires client certificates signed by custom_ca (mutual TLS). The REST API
stays plaintext, as in TF Serving.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import os
import ssl
from pathlib import Path

import grpc

from prodcat.serving.grpc_channel import TLSConfigError, read_pem


@functools.lru_cache(maxsize=None)
def ssl_config_class() -> type:
    """The `tensorflow.serving.SSLConfig` message of tensorflow_model_server's `--ssl_config_file`.

    tensorflow-serving-api (2.16) does not ship `ssl_config_pb2`, so the same message (full name,
    field names and numbers) is built here, in a private descriptor pool so it cannot clash with
    a real one.
    """
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    field = descriptor_pb2.FieldDescriptorProto
    file_proto = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/config/ssl_config.proto", package="tensorflow.serving", syntax="proto3")
    message = file_proto.message_type.add(name="SSLConfig")
    for number, (name, kind) in enumerate((("server_key", field.TYPE_STRING), ("server_cert", field.TYPE_STRING),
                                           ("custom_ca", field.TYPE_STRING), ("client_verify", field.TYPE_BOOL)), 1):
        message.field.add(name=name, number=number, type=kind, label=field.LABEL_OPTIONAL, json_name=name)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    descriptor = pool.FindMessageTypeByName("tensorflow.serving.SSLConfig")
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)


@dataclasses.dataclass(frozen=True)
class SSLSettings:
    """A checked SSLConfig: PEM bytes of the server's key and certificate (chain), the client CA."""

    server_key: bytes
    server_cert: bytes
    custom_ca: bytes | None
    client_verify: bool

    def credentials(self) -> grpc.ServerCredentials:
        # As tensorflow_model_server: client_verify requests and requires a client certificate that
        # chains to custom_ca; without it no client certificate is asked for.
        return grpc.ssl_server_credentials([(self.server_key, self.server_cert)], root_certificates=self.custom_ca,
                                           require_client_auth=self.client_verify)

    def describe(self) -> str:
        return " (TLS, client certificates required)" if self.client_verify else " (TLS)"


def load_ssl_config(path: str | os.PathLike) -> SSLSettings:
    """Reads `--ssl_config_file`: a text-format `tensorflow.serving.SSLConfig`, as tensorflow_model_server.

    As in TF Serving, server_key, server_cert and custom_ca hold the PEM text itself. A value with
    no "-----BEGIN" line is read as the path of a PEM file instead (relative to the config file),
    e.g. a mounted Kubernetes TLS secret; TF Serving itself does not understand such paths. Raises
    TLSConfigError (a ValueError) naming the file and field at fault.
    """
    from google.protobuf import text_format

    path = Path(path)
    where = f"--ssl_config_file {str(path)!r}"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise TLSConfigError(f"cannot read {where}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise TLSConfigError(f"{where} is not a text file (expected a text-format tensorflow.serving.SSLConfig)") from None
    config = ssl_config_class()()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as err:
        raise TLSConfigError(f"{where} is not a text-format tensorflow.serving.SSLConfig: {err}") from None
    pem: dict[str, bytes | None] = {}
    for name in ("server_key", "server_cert", "custom_ca"):
        value = getattr(config, name).strip()
        if not value:
            pem[name] = None
        elif "-----BEGIN " in value:
            pem[name] = value.encode("utf-8") + b"\n"
        else:
            pem[name] = read_pem(path.parent / value, f"the {name} file (from {where})")
    missing = [name for name in ("server_key", "server_cert") if pem[name] is None]
    if missing:
        raise TLSConfigError(f"{where} has no {' and no '.join(missing)}: TLS needs the server's private key and certificate")
    if config.client_verify and pem["custom_ca"] is None:
        raise TLSConfigError(f"{where} sets client_verify: true without custom_ca, the CA that must have signed client certificates")
    key = pem["server_key"]
    if b"ENCRYPTED" in key:
        raise TLSConfigError(f"server_key in {where} is encrypted; gRPC needs an unencrypted PEM private key")
    if b"PRIVATE KEY-----" not in key:
        raise TLSConfigError(f"server_key in {where} is not a PEM private key (no -----BEGIN ... PRIVATE KEY----- line)")
    for name in ("server_cert", "custom_ca"):
        if pem[name] is not None:
            _check_certificates(pem[name], f"{name} in {where}")
    return SSLSettings(key, pem["server_cert"], pem["custom_ca"], bool(config.client_verify))


def _check_certificates(pem: bytes, what: str) -> None:
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=pem.decode("ascii"))
    except (ssl.SSLError, UnicodeDecodeError, ValueError) as err:
        raise TLSConfigError(f"{what} is not a valid PEM certificate: {err}") from None


def grpc_address(host: str, port: int) -> str:
    """host:port as gRPC spells it ([::1]:8500 for an IPv6 address)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def checked_ssl_settings(ssl_config_file: str, host: str) -> SSLSettings:
    """`load_ssl_config`, then a trial bind (any free port) so a key that does not fit its certificate
    fails at startup with a message, not as every client's handshake failing."""
    settings = load_ssl_config(ssl_config_file)
    credentials = settings.credentials()
    for secure in (True, False):
        probe = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=1))
        try:
            port = probe.add_secure_port(grpc_address(host, 0), credentials) if secure else probe.add_insecure_port(grpc_address(host, 0))
        except RuntimeError:
            port = 0
        finally:
            probe.stop(None)
        if port and secure:
            return settings
        if port:
            raise TLSConfigError(f"gRPC cannot use the key and certificate of --ssl_config_file {ssl_config_file!r}: "
                                 "is server_key the private key of (the first certificate in) server_cert?")
    raise OSError(f"cannot bind the gRPC address {grpc_address(host, 0)}")
