"""The audit log: entries saved by the frontend, kept in the storage service, queried by admins.

Teaclave keeps a tantivy index whose files live in storage under ``tantivy/``. Here each entry
is one storage record at ``audit-<20-digit zero-padded microsecond>-<uuid4>`` holding the
entry's JSON, so keys sort by time and a query walks them newest first, stopping at ``limit``
matches. The query language is in ``audit_query``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from teaclave.proto import teaclave_common_pb2 as common_pb
from teaclave.services.management.audit_query import Query
from teaclave.services.management.records import Records, StorageFailure
from teaclave.types import serde
from teaclave.types.errors import InvalidArgument, TeaclaveError

AUDIT_PREFIX = "audit"
IP_SIZE = 16
AUDIT_ERROR = "audit log error, reason"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit line: when (µs since the epoch), from where, who, what, and whether it worked."""

    microsecond: int
    ip: bytes
    user: str
    message: str
    result: bool

    @classmethod
    def from_proto(cls, entry: common_pb.Entry, field: str = "logs[0]") -> AuditEntry:
        """Validate an ``Entry`` message (16-byte ip, non-negative time)."""
        if len(entry.ip) != IP_SIZE:
            raise InvalidArgument(
                f"{AUDIT_ERROR}: {field}.ip: expected {IP_SIZE} bytes, got {len(entry.ip)}"
            )
        if entry.microsecond < 0:
            raise InvalidArgument(f"{AUDIT_ERROR}: {field}.microsecond: negative")
        return cls(entry.microsecond, bytes(entry.ip), entry.user, entry.message, entry.result)

    def to_proto(self) -> common_pb.Entry:
        """The ``Entry`` message."""
        return common_pb.Entry(
            microsecond=self.microsecond,
            ip=self.ip,
            user=self.user,
            message=self.message,
            result=self.result,
        )

    def key(self, unique: uuid.UUID | None = None) -> bytes:
        """Storage key ``audit-<20-digit microsecond>-<uuid4>``."""
        return f"{AUDIT_PREFIX}-{self.microsecond:020d}-{unique or uuid.uuid4()}".encode()

    def to_json(self) -> dict[str, Any]:
        """Stored JSON form (ip as a byte array, like every serde byte vector)."""
        return {
            "microsecond": self.microsecond,
            "ip": serde.bytes_to_json(self.ip),
            "user": self.user,
            "message": self.message,
            "result": self.result,
        }

    @classmethod
    def from_json(cls, value: Any) -> AuditEntry:
        """Inverse of ``to_json``."""
        what = "audit entry"
        return cls(
            int(serde.require(value, "microsecond", what)),
            serde.bytes_from_json(serde.require(value, "ip", what), "ip"),
            str(serde.require(value, "user", what)),
            str(serde.require(value, "message", what)),
            bool(serde.require(value, "result", what)),
        )


def entries_from_proto(entries: Iterable[common_pb.Entry]) -> list[AuditEntry]:
    """Validate every entry of a ``SaveLogsRequest`` (all or nothing)."""
    return [AuditEntry.from_proto(e, f"logs[{i}]") for i, e in enumerate(entries)]


class AuditLog:
    """Appends entries to, and queries, the audit records in storage."""

    def __init__(self, records: Records) -> None:
        self.records = records

    def save(self, entries: Sequence[AuditEntry]) -> None:
        """Store every entry under its own key."""
        for entry in entries:
            self.records.put_raw(entry.key(), serde.dumps(entry.to_json()))

    def query(self, query: Query, limit: int) -> list[AuditEntry]:
        """At most ``limit`` entries matching ``query``, newest first."""
        found: list[AuditEntry] = []
        for key in reversed(self.records.keys(AUDIT_PREFIX)):
            data = self.records.get_raw(key.encode())
            if data is None:  # deleted since listed
                continue
            try:
                entry = AuditEntry.from_json(serde.loads(data, key))
            except (TeaclaveError, ValueError, TypeError) as exc:
                raise StorageFailure(
                    f"service internal error: stored record {key} is corrupt"
                ) from exc
            if query.matches(entry):
                found.append(entry)
                if len(found) >= limit:
                    break
        return found
