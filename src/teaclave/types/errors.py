"""Error classes shared by every layer, each carrying the gRPC status it maps to."""

from __future__ import annotations

from enum import IntEnum


class StatusCode(IntEnum):
    """gRPC status codes by number (kept here so the domain model does not import grpc)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class TeaclaveError(Exception):
    """Base class of every error that reaches a client as a gRPC status.

    ``message`` is the text the client sees; subclasses fix the status ``code``.
    """

    code: StatusCode = StatusCode.UNKNOWN

    def __init__(self, message: str, code: StatusCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class InvalidArgument(TeaclaveError):
    """A request field is missing or malformed; the message names the field."""

    code = StatusCode.INVALID_ARGUMENT


class PermissionDenied(TeaclaveError):
    """The caller is authenticated but not allowed to do this."""

    code = StatusCode.PERMISSION_DENIED

    def __init__(self, message: str = "permission denied") -> None:
        super().__init__(message)


class Unauthenticated(TeaclaveError):
    """The caller's credentials are missing or invalid."""

    code = StatusCode.UNAUTHENTICATED


class FailedPrecondition(TeaclaveError):
    """The object is not in a state that allows the operation (e.g. a task transition)."""

    code = StatusCode.FAILED_PRECONDITION


class NotFound(TeaclaveError):
    """A referenced object does not exist."""

    code = StatusCode.NOT_FOUND


class ResourceExhausted(TeaclaveError):
    """A quota or size limit was hit."""

    code = StatusCode.RESOURCE_EXHAUSTED


class InternalError(TeaclaveError):
    """A fault inside the platform; the message never leaks internals beyond a summary."""

    code = StatusCode.INTERNAL


class DecodeError(InvalidArgument):
    """A stored or transmitted record could not be decoded into its domain type."""
