"""Mapping between ``TeaclaveError`` and gRPC status on both sides of a call."""

from __future__ import annotations

import grpc

from teaclave.types.errors import StatusCode, TeaclaveError

_BY_NUMBER: dict[int, grpc.StatusCode] = {code.value[0]: code for code in grpc.StatusCode}


def to_grpc_code(code: StatusCode) -> grpc.StatusCode:
    """The grpc enum member for one of our status numbers."""
    return _BY_NUMBER.get(int(code), grpc.StatusCode.UNKNOWN)


class RemoteError(TeaclaveError):
    """A call to another service failed; ``code`` and ``message`` are the remote status."""

    def __init__(self, message: str, code: StatusCode, method: str = "") -> None:
        super().__init__(message, code)
        self.method = method


def from_rpc_error(error: grpc.RpcError, method: str = "") -> RemoteError:
    """Convert a client-side ``grpc.RpcError`` into a ``RemoteError`` keeping code and text."""
    code_fn = getattr(error, "code", None)
    details_fn = getattr(error, "details", None)
    grpc_code = code_fn() if callable(code_fn) else grpc.StatusCode.UNKNOWN
    details = details_fn() if callable(details_fn) else str(error)
    number = grpc_code.value[0] if isinstance(grpc_code, grpc.StatusCode) else 2
    return RemoteError(details or grpc_code.name.lower(), StatusCode(number), method)
