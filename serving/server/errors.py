"""How a request fails: a gRPC status code and a message, never a crash (REST maps the code to HTTP)."""

from __future__ import annotations

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
