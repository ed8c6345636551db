"""External ids (``<prefix>-<uuid>``) and the storage-key prefixes of each record kind."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from teaclave.types.errors import InvalidArgument

FUNCTION_PREFIX = "function"
INPUT_PREFIX = "input"
OUTPUT_PREFIX = "output"
TASK_PREFIX = "task"
USER_PREFIX = "user"
USAGE_PREFIX = "usage"


@dataclass(frozen=True, slots=True)
class ExternalId:
    """An object id as clients see it: prefix, a dash, then a hyphenated lowercase UUID."""

    prefix: str
    uuid: uuid.UUID

    @classmethod
    def new(cls, prefix: str) -> ExternalId:
        """A fresh random (v4) id with the given prefix."""
        return cls(prefix, uuid.uuid4())

    @classmethod
    def parse(cls, text: str, expected_prefix: str, field: str = "id") -> ExternalId:
        """Parse ``text`` (split at the first ``-``); the prefix must equal ``expected_prefix``.

        Raises ``InvalidArgument`` naming ``field`` when the text is empty, has another prefix,
        or the remainder is not a UUID.
        """
        if not text:
            raise InvalidArgument(f"invalid {field}: empty")
        prefix, sep, rest = text.partition("-")
        if not sep or prefix != expected_prefix:
            raise InvalidArgument(
                f"invalid {field}: {text!r} does not start with '{expected_prefix}-'"
            )
        try:
            value = uuid.UUID(rest)
        except ValueError:
            raise InvalidArgument(f"invalid {field}: {text!r} does not end in a UUID") from None
        if str(value) != rest.lower():
            raise InvalidArgument(f"invalid {field}: {text!r} is not a hyphenated UUID")
        return cls(prefix, value)

    def __str__(self) -> str:
        return f"{self.prefix}-{self.uuid}"

    @property
    def key(self) -> bytes:
        """The storage key of the object this id names."""
        return str(self).encode()

    def to_json(self) -> dict[str, Any]:
        """Serde form ``{"prefix": ..., "uuid": ...}``."""
        return {"prefix": self.prefix, "uuid": str(self.uuid)}

    @classmethod
    def from_json(cls, value: Any) -> ExternalId:
        """Inverse of ``to_json``; also accepts the text form."""
        if isinstance(value, str):
            prefix, _, rest = value.partition("-")
            return cls(prefix, uuid.UUID(rest))
        return cls(str(value["prefix"]), uuid.UUID(str(value["uuid"])))


def user_record_key(user_id: str) -> bytes:
    """Storage key of the management ``User`` record: ``user-<uuidv5(DNS, user id)>``."""
    return f"{USER_PREFIX}-{uuid.uuid5(uuid.NAMESPACE_DNS, user_id)}".encode()


def usage_key(function_uuid: uuid.UUID) -> bytes:
    """Storage key of a function's usage counter: ``usage-<function uuid>``."""
    return f"{USAGE_PREFIX}-{function_uuid}".encode()
