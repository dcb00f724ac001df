"""The client's gRPC channel to a server: plaintext, or TLS (`TlsOptions`) for a server started with
`--ssl_config_file`, with a client certificate for mutual TLS. Apart from the client because the
server's TLS set-up (`serving/server/tls.py`) reads PEM files the same way.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import grpc

DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024


class TLSConfigError(ValueError):
    """TLS settings that cannot work: an unreadable or malformed certificate/key, a missing half of a pair."""


def read_pem(path: str | os.PathLike, what: str) -> bytes:
    """The bytes of a PEM file; `what` names it in the error ("the TLS CA certificate")."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as err:
        raise TLSConfigError(f"cannot read {what} {os.fspath(path)!r}: {err.strerror or err}") from None
    if b"-----BEGIN " not in data:
        raise TLSConfigError(f"{what} {os.fspath(path)!r} is not a PEM file (no -----BEGIN line)")
    return data


@dataclasses.dataclass(frozen=True)
class TlsOptions:
    """TLS for the client's gRPC channel; the certificate and key are paths to PEM files.

    `ca_cert`: the CA certificate(s) the server's certificate must chain to (None: the system's
    root CAs). `client_cert` + `client_key`: a client certificate, for servers that require one
    (mutual TLS, `client_verify: true`). `server_name`: the name the server's certificate must
    carry when it differs from the target's host (e.g. connecting to an IP address).
    """

    ca_cert: str | os.PathLike | None = None
    client_cert: str | os.PathLike | None = None
    client_key: str | os.PathLike | None = None
    server_name: str | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        """Reads the files (raising TLSConfigError with the path if one is unusable)."""
        if (self.client_cert is None) != (self.client_key is None):
            raise TLSConfigError("a client certificate needs its private key and vice versa (give both or neither)")
        return grpc.ssl_channel_credentials(
            root_certificates=read_pem(self.ca_cert, "the TLS CA certificate") if self.ca_cert is not None else None,
            private_key=read_pem(self.client_key, "the TLS client key") if self.client_key is not None else None,
            certificate_chain=read_pem(self.client_cert, "the TLS client certificate") if self.client_cert is not None else None,
        )

    def channel_options(self) -> list[tuple[str, Any]]:
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []


def make_channel(target: str, tls: TlsOptions | None = None, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> grpc.Channel:
    """A gRPC channel to `target` (host:port): plaintext, or TLS with `tls`."""
    options = [("grpc.max_send_message_length", max_message_bytes), ("grpc.max_receive_message_length", max_message_bytes)]
    if tls is None:
        return grpc.insecure_channel(target, options=options)
    return grpc.secure_channel(target, tls.credentials(), options=options + tls.channel_options())
