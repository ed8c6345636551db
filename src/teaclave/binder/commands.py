"""ECALL command codes, their payload types and the boundary's error type."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Protocol, Self

from teaclave.config.runtime import RuntimeConfig


class ECallCommand(IntEnum):
    """Teaclave's ECALL command numbers."""

    START_SERVICE = 0x1000
    INIT_ENCLAVE = 0x1001
    FINALIZE_ENCLAVE = 0x1002
    RUN_TEST = 0x1003
    RAW = 0x1004
    UNIMPLEMENTED = 0xFFFF_FFFF


class Payload(Protocol):
    """What crosses the boundary: JSON-serializable both ways."""

    def to_json(self) -> Any:
        """JSON-ready form."""
        ...

    @classmethod
    def from_json(cls, value: Any) -> Self:
        """Inverse of ``to_json``."""
        ...


class TeeServiceError(Exception):
    """A command failed inside the enclave (or the boundary itself failed).

    ``kind`` is one of Teaclave's ``ServiceError``, ``CommandNotRegistered``,
    ``EnclaveForceTermination``, ``SgxError``.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


@dataclass(frozen=True, slots=True)
class _Unit:
    """Base of payloads without fields."""

    def to_json(self) -> Any:
        return {}

    @classmethod
    def from_json(cls, value: Any) -> Self:
        return cls()


class InitEnclaveInput(_Unit):
    """``InitEnclave`` input (no fields)."""


class InitEnclaveOutput(_Unit):
    """``InitEnclave`` output (no fields)."""


class FinalizeEnclaveInput(_Unit):
    """``FinalizeEnclave`` input (no fields)."""


class FinalizeEnclaveOutput(_Unit):
    """``FinalizeEnclave`` output (no fields)."""


class StartServiceOutput(_Unit):
    """``StartService`` output (no fields)."""


@dataclass(frozen=True, slots=True)
class StartServiceInput:
    """``StartService`` input: the runtime configuration of the service."""

    config: RuntimeConfig

    def to_json(self) -> Any:
        """JSON-ready form."""
        return {"config": self.config.to_dict()}

    @classmethod
    def from_json(cls, value: Any) -> StartServiceInput:
        """Inverse of ``to_json``."""
        return cls(RuntimeConfig.from_dict(value["config"]))
