"""Registered functions, their declared arguments/inputs/outputs, and usage counters."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Self

from teaclave.types.errors import DecodeError, InvalidArgument
from teaclave.types.ids import FUNCTION_PREFIX, ExternalId
from teaclave.types.serde import bytes_from_json, bytes_to_json, require


class _WireEnum(Enum):
    """An enum with a wire string (its value) and a Rust serde variant name."""

    @classmethod
    def _serde_names(cls) -> dict[str, str]:
        raise NotImplementedError

    @classmethod
    def _field(cls) -> str:
        raise NotImplementedError

    @classmethod
    def from_wire(cls, value: str, field: str | None = None) -> Self:
        """Parse the wire string; the error names the field and the accepted values."""
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(str(e.value) for e in cls)
            raise InvalidArgument(
                f"{field or cls._field()}: unsupported {cls._field().replace('_', ' ')} {value!r} "
                f"(expected one of {names})"
            ) from None

    @property
    def serde_name(self) -> str:
        """Rust variant name used in stored JSON."""
        return self._serde_names()[str(self.value)]

    @classmethod
    def from_serde(cls, name: str) -> Self:
        """Inverse of ``serde_name``."""
        for item in cls:
            if item.serde_name == name:
                return item
        raise DecodeError(f"{cls._field()}: unknown variant {name!r}")


class ExecutorType(_WireEnum):
    """Kind of function payload (``RegisterFunctionRequest.executor_type``)."""

    BUILTIN = "builtin"
    PYTHON = "python"
    WAMR = "wamr"

    @classmethod
    def _serde_names(cls) -> dict[str, str]:
        return {"builtin": "Builtin", "python": "Python", "wamr": "WAMicroRuntime"}

    @classmethod
    def _field(cls) -> str:
        return "executor_type"


class Executor(_WireEnum):
    """The executor a task asks for (``CreateTaskRequest.executor``).

    ``cpython`` (teaclave-py) is native CPython with numpy in an OS sandbox; the other three
    are Teaclave's.
    """

    BUILTIN = "builtin"
    MESAPY = "mesapy"
    WAMR = "wamr"
    CPYTHON = "cpython"

    @classmethod
    def _serde_names(cls) -> dict[str, str]:
        return {
            "builtin": "Builtin",
            "mesapy": "MesaPy",
            "wamr": "WAMicroRuntime",
            "cpython": "CPython",
        }

    @classmethod
    def _field(cls) -> str:
        return "executor"


@dataclass(frozen=True, slots=True)
class FunctionArgument:
    """A declared argument: key, default (always a string) and whether tasks may set it."""

    key: str
    default_value: str = ""
    allow_overwrite: bool = True

    def to_json(self) -> dict[str, Any]:
        """Serde form."""
        return {
            "key": self.key,
            "default_value": self.default_value,
            "allow_overwrite": self.allow_overwrite,
        }

    @classmethod
    def from_json(cls, value: Any) -> FunctionArgument:
        """Inverse of ``to_json``."""
        return cls(
            str(require(value, "key", "argument")),
            str(value.get("default_value", "")),
            bool(value.get("allow_overwrite", True)),
        )


@dataclass(frozen=True, slots=True)
class FunctionIo:
    """A declared input or output slot of a function."""

    name: str
    description: str = ""
    optional: bool = False

    def to_json(self) -> dict[str, Any]:
        """Serde form."""
        return {"name": self.name, "description": self.description, "optional": self.optional}

    @classmethod
    def from_json(cls, value: Any) -> FunctionIo:
        """Inverse of ``to_json``."""
        return cls(
            str(require(value, "name", "function io")),
            str(value.get("description", "")),
            bool(value.get("optional", False)),
        )


def _check_unique(names: list[str], field: str) -> None:
    seen: set[str] = set()
    for index, name in enumerate(names):
        if not name:
            raise InvalidArgument(f"{field}[{index}]: empty name")
        if name in seen:
            raise InvalidArgument(f"{field}[{index}]: duplicate name {name!r}")
        seen.add(name)


@dataclass(slots=True)
class Function:
    """A registered function (storage key ``function-<uuid>``)."""

    name: str
    description: str
    executor_type: ExecutorType
    public: bool
    payload: bytes
    arguments: list[FunctionArgument]
    inputs: list[FunctionIo]
    outputs: list[FunctionIo]
    owner: str
    user_allowlist: list[str]
    usage_quota: int | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def external_id(self) -> ExternalId:
        """``function-<uuid>``."""
        return ExternalId(FUNCTION_PREFIX, self.id)

    def validate(self) -> None:
        """Check declarations are well formed (unique non-empty names)."""
        if not self.name:
            raise InvalidArgument("name: empty")
        _check_unique([a.key for a in self.arguments], "arguments")
        _check_unique([i.name for i in self.inputs], "inputs")
        _check_unique([o.name for o in self.outputs], "outputs")

    def to_json(self) -> dict[str, Any]:
        """Serde form of ``Function``."""
        return {
            "id": str(self.id),
            "name": self.name,
            "description": self.description,
            "public": self.public,
            "executor_type": self.executor_type.serde_name,
            "payload": bytes_to_json(self.payload),
            "arguments": [a.to_json() for a in self.arguments],
            "inputs": [i.to_json() for i in self.inputs],
            "outputs": [o.to_json() for o in self.outputs],
            "owner": self.owner,
            "user_allowlist": list(self.user_allowlist),
            "usage_quota": self.usage_quota,
        }

    @classmethod
    def from_json(cls, value: Any) -> Function:
        """Inverse of ``to_json``."""
        quota = value.get("usage_quota") if isinstance(value, dict) else None
        return cls(
            id=uuid.UUID(str(require(value, "id", "function"))),
            name=str(require(value, "name", "function")),
            description=str(value.get("description", "")),
            public=bool(require(value, "public", "function")),
            executor_type=ExecutorType.from_serde(str(require(value, "executor_type", "function"))),
            payload=bytes_from_json(value.get("payload", []), "payload"),
            arguments=[FunctionArgument.from_json(a) for a in value.get("arguments", [])],
            inputs=[FunctionIo.from_json(i) for i in value.get("inputs", [])],
            outputs=[FunctionIo.from_json(o) for o in value.get("outputs", [])],
            owner=str(require(value, "owner", "function")),
            user_allowlist=[str(u) for u in value.get("user_allowlist", [])],
            usage_quota=None if quota is None else int(quota),
        )


def quota_from_wire(value: int) -> int | None:
    """Wire convention: a negative ``usage_quota`` means unlimited."""
    return None if value < 0 else value


@dataclass(slots=True)
class FunctionUsage:
    """How many times a function has been invoked (storage key ``usage-<function uuid>``)."""

    function_id: uuid.UUID
    use_numbers: int = 0

    def to_json(self) -> dict[str, Any]:
        """Serde form."""
        return {"function_id": str(self.function_id), "use_numbers": self.use_numbers}

    @classmethod
    def from_json(cls, value: Any) -> FunctionUsage:
        """Inverse of ``to_json``."""
        return cls(
            uuid.UUID(str(require(value, "function_id", "usage"))),
            int(require(value, "use_numbers", "usage")),
        )


@dataclass(slots=True)
class UserRecord:
    """Management's per-user index of functions (storage key ``user-<uuidv5(id)>``)."""

    id: str
    registered_functions: list[str] = field(default_factory=list)
    allowed_functions: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Serde form."""
        return {
            "id": self.id,
            "registered_functions": list(self.registered_functions),
            "allowed_functions": list(self.allowed_functions),
        }

    @classmethod
    def from_json(cls, value: Any) -> UserRecord:
        """Inverse of ``to_json``."""
        return cls(
            str(require(value, "id", "user")),
            [str(f) for f in value.get("registered_functions", [])],
            [str(f) for f in value.get("allowed_functions", [])],
        )
