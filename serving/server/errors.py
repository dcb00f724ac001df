"""How a request fails: a gRPC status code and a message, never a crash (REST maps the code to HTTP)."""

from __future__ import annotations

import re

import grpc

_CODES_BY_VALUE = {code.value[0]: code for code in grpc.StatusCode}


class ServingError(Exception):
    """A request that fails with a gRPC status code (and the matching HTTP status over REST)."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def invalid(message: str) -> ServingError:
    """INVALID_ARGUMENT: the client sent something malformed."""
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def error_code(err: BaseException) -> grpc.StatusCode:
    """The status code of an error; TensorFlow's OpErrors carry one numbered as gRPC's."""
    if isinstance(err, ServingError):
        return err.code
    code = getattr(err, "error_code", None)
    return _CODES_BY_VALUE.get(code, grpc.StatusCode.UNKNOWN) if isinstance(code, int) else grpc.StatusCode.UNKNOWN


def short(message: str, limit: int = 2000) -> str:
    """A message cut to `limit` characters, so a TensorFlow error cannot flood a response or the log."""
    return message if len(message) <= limit else message[:limit] + " ..."


_MISSING_FEATURE = re.compile(r"Feature: (\w+) \(data type: \w+\) is required but could not be found")
_GRAPH_NOISE = re.compile(r"\s*\[\[\{\{node [^}]*\}\}\]\]|\s*\[Op:[^\]]*\]|^Name: <unknown>, ")


def model_error_message(message: str) -> str:
    """A TensorFlow error from running a signature, as a client can act on it: the field and the
    rule, without "Graph execution error", node names or stack notes."""
    missing = _MISSING_FEATURE.search(message)
    if missing:
        return f"the tf.Example has no feature {missing.group(1)!r}, which is required (every other product field is optional)"
    lines = [line for line in message.splitlines() if line.strip() and not line.startswith(
        ("Graph execution error", "Detected at node", "<stack traces unavailable>", "  "))]
    text = " ".join(_GRAPH_NOISE.sub("", line).strip() for line in lines).strip()
    return short(text or message)
