"""The SDK's exception type."""

from __future__ import annotations

import grpc


class TeaclaveException(Exception):
    """A call failed; ``code`` is the gRPC status (None for client-side failures)."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    @classmethod
    def from_rpc_error(cls, rpc: str, error: grpc.RpcError) -> TeaclaveException:
        """Wrap a failed gRPC call, keeping its status code and text."""
        code = error.code() if hasattr(error, "code") else None
        details = error.details() if hasattr(error, "details") else str(error)
        return cls(f"{rpc} failed: {details}", code)
