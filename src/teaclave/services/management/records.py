"""Typed access to the management records kept in the storage service.

Keys and values follow Teaclave (``function-<uuid>``, ``input-<uuid>``, ``output-<uuid>``,
``task-<uuid>``, ``usage-<function uuid>``, ``user-<uuidv5>``; values are the serde JSON of the
records) plus two teaclave-py keys: ``disabled-<function uuid>`` (a disabled function, see
``DisabledFunction``) and ``stagedtask-<task uuid>`` (the scheduler's recovery copy of a
staged task). Storage failures and undecodable stored records become ``InternalError``: they
are the platform's fault, never the caller's.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from teaclave.rpc.clients.storage import StorageClient
from teaclave.rpc.errors import RemoteError
from teaclave.types import serde
from teaclave.types.errors import InternalError, TeaclaveError
from teaclave.types.files import InputFile, OutputFile
from teaclave.types.function import Function, FunctionUsage, UserRecord
from teaclave.types.ids import FUNCTION_PREFIX, ExternalId, usage_key, user_record_key
from teaclave.types.task import StagedTask, TaskState

log = logging.getLogger(__name__)

R = TypeVar("R")

DISABLED_PREFIX = "disabled"
STAGED_TASK_PREFIX = "stagedtask"
STAGED_TASK_QUEUE = b"staged-task"
CANCEL_QUEUE = b"cancel_queue"


def disabled_key(function_uuid: uuid.UUID) -> bytes:
    """``disabled-<function uuid>``."""
    return f"{DISABLED_PREFIX}-{function_uuid}".encode()


def staged_task_key(task_uuid: uuid.UUID) -> bytes:
    """``stagedtask-<task uuid>`` (the scheduler's recovery record)."""
    return f"{STAGED_TASK_PREFIX}-{task_uuid}".encode()


@dataclass(frozen=True, slots=True)
class DisabledFunction:
    """The marker stored at ``disabled-<function uuid>``: who disabled it, and when."""

    function_id: uuid.UUID
    disabled_by: str
    microsecond: int

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "function_id": str(self.function_id),
            "disabled_by": self.disabled_by,
            "microsecond": self.microsecond,
        }

    @classmethod
    def from_json(cls, value: Any) -> DisabledFunction:
        """Inverse of ``to_json``."""
        return cls(
            uuid.UUID(str(serde.require(value, "function_id", "disabled"))),
            str(serde.require(value, "disabled_by", "disabled")),
            int(serde.require(value, "microsecond", "disabled")),
        )

    @classmethod
    def now(cls, function_id: uuid.UUID, user: str) -> DisabledFunction:
        """A marker stamped with the current time."""
        return cls(function_id, user, time.time_ns() // 1000)


class StorageFailure(InternalError):
    """The storage service failed or holds a record that cannot be decoded."""


class Records:
    """Reads and writes management records through a ``StorageClient``."""

    def __init__(self, storage: StorageClient) -> None:
        self.storage = storage

    # ------------------------------------------------------------------ raw access
    def _call(self, what: str, fn: Callable[[], R]) -> R:
        try:
            return fn()
        except RemoteError as exc:
            log.error("storage %s failed: %s (%s)", what, exc.message, exc.code.name)
            raise StorageFailure(f"service internal error: storage {what} failed") from None

    def get_raw(self, key: bytes) -> bytes | None:
        """The value at ``key`` or None."""
        return self._call(f"get {key.decode(errors='replace')}", lambda: self.storage.get(key))

    def put_raw(self, key: bytes, value: bytes) -> None:
        """Store ``value`` at ``key``."""
        self._call(f"put {key.decode(errors='replace')}", lambda: self.storage.put(key, value))

    def delete(self, key: bytes) -> None:
        """Remove ``key``."""
        self._call(f"delete {key.decode(errors='replace')}", lambda: self.storage.delete(key))

    def enqueue(self, queue: bytes, value: bytes) -> None:
        """Append ``value`` to ``queue``."""
        self._call(
            f"enqueue on {queue.decode(errors='replace')}",
            lambda: self.storage.enqueue(queue, value),
        )

    def keys(self, prefix: str) -> list[str]:
        """Keys ``<prefix>-...`` in byte order, as text."""
        raw = self._call(f"list {prefix}-*", lambda: self.storage.keys_by_prefix(prefix))
        return [k.decode() for k in raw]

    def watch_task(self, task: TaskState, wait_secs: float) -> TaskState:
        """Wait up to ``wait_secs`` for the stored task to end (Finished, Failed, Canceled).

        Uses the storage service's watching ``Get``, so no polling happens; returns the task as
        stored once it has ended, or when the wait ran out.
        """
        key = task.external_id.key
        deadline = time.monotonic() + wait_secs
        current = self.get_raw(key)
        latest = task
        while current is not None:
            latest = self._decode(key, current, TaskState.from_json)
            remaining = deadline - time.monotonic()
            if latest.status.is_ended or remaining <= 0:
                break
            current = self._watch(key, current, remaining)
        return latest

    def _watch(self, key: bytes, current: bytes, wait_secs: float) -> bytes | None:
        return self._call(
            f"watch {key.decode(errors='replace')}",
            lambda: self.storage.watch(key, current, wait_secs),
        )

    def _load(self, key: bytes, decode: Callable[[Any], R]) -> R | None:
        data = self.get_raw(key)
        if data is None:
            return None
        return self._decode(key, data, decode)

    def _decode(self, key: bytes, data: bytes, decode: Callable[[Any], R]) -> R:
        try:
            return decode(serde.loads(data, key.decode(errors="replace")))
        except (TeaclaveError, KeyError, ValueError, TypeError, AttributeError) as exc:
            log.error("stored record %s cannot be decoded: %s", key.decode(errors="replace"), exc)
            raise StorageFailure(
                f"service internal error: stored record {key.decode(errors='replace')} is corrupt"
            ) from None

    def _save(self, key: bytes, value: Any) -> None:
        self.put_raw(key, serde.dumps(value))

    # ------------------------------------------------------------------ typed records
    def input_file(self, file_id: ExternalId) -> InputFile | None:
        """The input file ``input-<uuid>``."""
        return self._load(file_id.key, InputFile.from_json)

    def output_file(self, file_id: ExternalId) -> OutputFile | None:
        """The output file ``output-<uuid>``."""
        return self._load(file_id.key, OutputFile.from_json)

    def save_input_file(self, file: InputFile) -> None:
        """Store an input file under its id."""
        self._save(file.external_id.key, file.to_json())

    def save_output_file(self, file: OutputFile) -> None:
        """Store an output file under its id."""
        self._save(file.external_id.key, file.to_json())

    def function(self, function_id: ExternalId) -> Function | None:
        """The function ``function-<uuid>``."""
        return self._load(function_id.key, Function.from_json)

    def save_function(self, function: Function) -> None:
        """Store a function under its id."""
        self._save(function.external_id.key, function.to_json())

    def delete_function(self, function_id: ExternalId) -> None:
        """Remove the function record."""
        self.delete(function_id.key)

    def function_keys(self) -> list[str]:
        """All stored function ids."""
        return self.keys(FUNCTION_PREFIX)

    def usage(self, function_uuid: uuid.UUID) -> FunctionUsage | None:
        """The usage counter of a function."""
        return self._load(usage_key(function_uuid), FunctionUsage.from_json)

    def save_usage(self, usage: FunctionUsage) -> None:
        """Store a usage counter."""
        self._save(usage_key(usage.function_id), usage.to_json())

    def disabled(self, function_uuid: uuid.UUID) -> DisabledFunction | None:
        """The disabled marker of a function, if it was disabled."""
        return self._load(disabled_key(function_uuid), DisabledFunction.from_json)

    def save_disabled(self, marker: DisabledFunction) -> None:
        """Mark a function disabled."""
        self._save(disabled_key(marker.function_id), marker.to_json())

    def delete_disabled(self, function_uuid: uuid.UUID) -> None:
        """Remove a function's disabled marker."""
        self.delete(disabled_key(function_uuid))

    def disabled_function_ids(self) -> set[str]:
        """External ids (``function-<uuid>``) of every disabled function."""
        start = len(DISABLED_PREFIX) + 1
        return {f"{FUNCTION_PREFIX}-{key[start:]}" for key in self.keys(DISABLED_PREFIX)}

    def user(self, user_id: str) -> UserRecord | None:
        """The function index of a user."""
        return self._load(user_record_key(user_id), UserRecord.from_json)

    def user_or_new(self, user_id: str) -> UserRecord:
        """The function index of a user, or an empty one (not yet stored)."""
        return self.user(user_id) or UserRecord(user_id)

    def save_user(self, user: UserRecord) -> None:
        """Store a user's function index."""
        self._save(user_record_key(user.id), user.to_json())

    def task(self, task_id: ExternalId) -> TaskState | None:
        """The task ``task-<uuid>``."""
        return self._load(task_id.key, TaskState.from_json)

    def save_task(self, task: TaskState) -> None:
        """Store a task under its id."""
        self._save(task.external_id.key, task.to_json())

    def save_staged_task(self, staged: StagedTask) -> None:
        """Store the scheduler's recovery record of a staged task."""
        self.put_raw(staged_task_key(staged.task_id), staged.to_bytes())
