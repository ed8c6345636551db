"""Tasks: the task record, its state machine, results, and the staged form workers run.

This module is the one place the task state machine lives (``spec/services.md`` §2.6); the
management and scheduler services call these methods and never re-encode transitions.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from teaclave.types.errors import DecodeError, FailedPrecondition, InvalidArgument, PermissionDenied
from teaclave.types.files import (
    FileCrypto,
    InputFile,
    OutputFile,
    owners_from_json,
    owners_to_json,
    tag_from_json,
    tag_to_json,
)
from teaclave.types.function import Executor, ExecutorType, Function
from teaclave.types.ids import FUNCTION_PREFIX, TASK_PREFIX, ExternalId
from teaclave.types.serde import bytes_from_json, bytes_to_json, require

# Failure reasons reported in ``TaskFailure.reason``.
REASON_CANCELED_EARLY = "Task canceled"
REASON_CANCELED_BY_USER = "Task Canceled by the user"
REASON_EXECUTOR_TIMEOUT = "Runtime Error: Executor Timeout"


class TaskStatus(IntEnum):
    """Task status with the wire numbers of ``teaclave_common_proto.TaskStatus``."""

    CREATED = 0
    DATA_ASSIGNED = 1
    APPROVED = 2
    STAGED = 3
    RUNNING = 4
    FINISHED = 10
    CANCELED = 20
    FAILED = 99

    @property
    def serde_name(self) -> str:
        """Rust variant name (``"DataAssigned"``...)."""
        return "".join(part.capitalize() for part in self.name.split("_"))

    @classmethod
    def from_serde(cls, name: str) -> TaskStatus:
        """Inverse of ``serde_name``."""
        for item in cls:
            if item.serde_name == name:
                return item
        raise DecodeError(f"status: unknown task status {name!r}")

    @property
    def is_ended(self) -> bool:
        """Finished, Canceled and Failed are final."""
        return self in (TaskStatus.FINISHED, TaskStatus.CANCELED, TaskStatus.FAILED)


@dataclass(slots=True)
class TaskOutputs:
    """What a successful run returns: summary bytes, output tags, captured log lines."""

    return_value: bytes
    tags_map: dict[str, bytes] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)


@dataclass(slots=True)
class TaskResult:
    """``NotReady`` (both fields None), ``Ok(outputs)`` or ``Err(reason)``."""

    ok: TaskOutputs | None = None
    err: str | None = None

    @classmethod
    def success(cls, outputs: TaskOutputs) -> TaskResult:
        """An ``Ok`` result."""
        return cls(ok=outputs)

    @classmethod
    def failure(cls, reason: str) -> TaskResult:
        """An ``Err`` result."""
        return cls(err=reason)

    @property
    def is_ready(self) -> bool:
        """False while the task has no result."""
        return self.ok is not None or self.err is not None

    def to_json(self) -> Any:
        """Serde form: ``"NotReady"`` | ``{"Ok": {...}}`` | ``{"Err": {"reason": ...}}``."""
        if self.ok is not None:
            return {
                "Ok": {
                    "return_value": bytes_to_json(self.ok.return_value),
                    "tags_map": {
                        "inner": {k: tag_to_json(v) for k, v in sorted(self.ok.tags_map.items())}
                    },
                    "log": list(self.ok.log),
                }
            }
        if self.err is not None:
            return {"Err": {"reason": self.err}}
        return "NotReady"

    @classmethod
    def from_json(cls, value: Any) -> TaskResult:
        """Inverse of ``to_json``."""
        if value == "NotReady" or value is None:
            return cls()
        if isinstance(value, dict) and "Ok" in value:
            body = value["Ok"]
            tags = require(body.get("tags_map", {"inner": {}}), "inner", "tags_map")
            return cls(
                ok=TaskOutputs(
                    return_value=bytes_from_json(body.get("return_value", []), "return_value"),
                    tags_map={str(k): tag_from_json(v) for k, v in tags.items()},
                    log=[str(line) for line in body.get("log", [])],
                )
            )
        if isinstance(value, dict) and "Err" in value:
            return cls(err=str(require(value["Err"], "reason", "result")))
        raise DecodeError("result: unrecognised serde form")


def _owner_map_to_json(owners: Mapping[str, frozenset[str]]) -> dict[str, Any]:
    return {"inner": {name: owners_to_json(uids) for name, uids in sorted(owners.items())}}


def _owner_map_from_json(value: Any) -> dict[str, frozenset[str]]:
    inner = require(value, "inner", "ownership")
    return {str(name): owners_from_json(uids) for name, uids in inner.items()}


def merge_arguments(function: Function, requested: Mapping[str, Any]) -> dict[str, Any]:
    """Validate task arguments against the function's declarations and merge defaults.

    The requested keys must be exactly the overwritable declared keys; they keep the JSON type
    the creator sent. Non-overwritable keys take their registered default as a JSON string.
    """
    overwritable = {a.key for a in function.arguments if a.allow_overwrite}
    given = set(requested)
    missing = sorted(overwritable - given)
    extra = sorted(given - overwritable)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if extra:
            parts.append(f"not overwritable or not declared: {', '.join(extra)}")
        raise InvalidArgument(f"invalid task: function_arguments: {'; '.join(parts)}")
    merged: dict[str, Any] = {}
    for arg in function.arguments:
        merged[arg.key] = requested[arg.key] if arg.allow_overwrite else arg.default_value
    return merged


def _check_ownership(
    declared: Iterable[Any], owners: Mapping[str, frozenset[str]], field: str
) -> None:
    names = {d.name for d in declared}
    optional = {d.name for d in declared if d.optional}
    unknown = sorted(set(owners) - names)
    if unknown:
        raise InvalidArgument(f"invalid task: {field}: {', '.join(unknown)} not declared")
    missing = sorted(names - optional - set(owners))
    if missing:
        raise InvalidArgument(f"invalid task: {field}: no owners given for {', '.join(missing)}")
    for name, uids in owners.items():
        if not uids or any(not u for u in uids):
            raise InvalidArgument(f"invalid task: {field}[{name}]: owner list is empty")


@dataclass(slots=True)
class TaskState:
    """A task (storage key ``task-<uuid>``) and the transitions it allows."""

    task_id: uuid.UUID
    creator: str
    function_id: ExternalId
    function_owner: str
    function_arguments: dict[str, Any]
    executor: Executor
    inputs_ownership: dict[str, frozenset[str]]
    outputs_ownership: dict[str, frozenset[str]]
    participants: frozenset[str]
    approved_users: set[str] = field(default_factory=set)
    assigned_inputs: dict[str, InputFile] = field(default_factory=dict)
    assigned_outputs: dict[str, OutputFile] = field(default_factory=dict)
    result: TaskResult = field(default_factory=TaskResult)
    status: TaskStatus = TaskStatus.CREATED
    attempts: int = 0

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(
        cls,
        *,
        creator: str,
        function: Function,
        arguments: Mapping[str, Any],
        executor: Executor,
        inputs_ownership: Mapping[str, frozenset[str]],
        outputs_ownership: Mapping[str, frozenset[str]],
    ) -> TaskState:
        """Validate a CreateTask request against ``function`` and build the Created task."""
        merged = merge_arguments(function, arguments)
        _check_ownership(function.inputs, inputs_ownership, "inputs_ownership")
        _check_ownership(function.outputs, outputs_ownership, "outputs_ownership")
        participants: set[str] = {creator}
        for uids in (*inputs_ownership.values(), *outputs_ownership.values()):
            participants |= uids
        if not function.public:
            participants.add(function.owner)
        return cls(
            task_id=uuid.uuid4(),
            creator=creator,
            function_id=function.external_id,
            function_owner=function.owner,
            function_arguments=merged,
            executor=executor,
            inputs_ownership=dict(inputs_ownership),
            outputs_ownership=dict(outputs_ownership),
            participants=frozenset(participants),
        )

    @property
    def external_id(self) -> ExternalId:
        """``task-<uuid>``."""
        return ExternalId(TASK_PREFIX, self.task_id)

    # ------------------------------------------------------------------ predicates
    @property
    def everyone_approved(self) -> bool:
        """A single participant needs no approval; otherwise all must approve."""
        return len(self.participants) == 1 or self.participants <= self.approved_users

    @property
    def all_data_assigned(self) -> bool:
        """Every owned input and output slot has a file."""
        return set(self.inputs_ownership) == set(self.assigned_inputs) and set(
            self.outputs_ownership
        ) == set(self.assigned_outputs)

    def missing_assignments(self) -> list[str]:
        """Names of owned slots still without a file."""
        return sorted(
            (set(self.inputs_ownership) - set(self.assigned_inputs))
            | (set(self.outputs_ownership) - set(self.assigned_outputs))
        )

    def require_participant(self, user: str) -> None:
        """Raise ``PermissionDenied`` unless ``user`` takes part in the task."""
        if user not in self.participants:
            raise PermissionDenied(f"permission denied: {user!r} is not a participant of the task")

    # ------------------------------------------------------------------ transitions
    def assign_data(
        self, caller: str, inputs: Mapping[str, InputFile], outputs: Mapping[str, OutputFile]
    ) -> None:
        """Assign files to slots (all or nothing); advance to DataAssigned when complete."""
        self.require_participant(caller)
        if self.status is not TaskStatus.CREATED:
            raise FailedPrecondition(
                f"failed to assign data to task: task is {self.status.serde_name}, "
                "data can only be assigned while it is Created"
            )
        self._check_files("inputs", caller, inputs, self.inputs_ownership, self.assigned_inputs)
        self._check_files("outputs", caller, outputs, self.outputs_ownership, self.assigned_outputs)
        self.assigned_inputs.update(inputs)
        self.assigned_outputs.update(outputs)
        if self.all_data_assigned:
            self.status = TaskStatus.DATA_ASSIGNED

    @staticmethod
    def _check_files(
        field: str,
        caller: str,
        files: Mapping[str, InputFile | OutputFile],
        ownership: Mapping[str, frozenset[str]],
        assigned: Mapping[str, object],
    ) -> None:
        for name, file in files.items():
            where = f"{field}[{name}]"
            if name not in ownership:
                raise PermissionDenied(f"permission denied: {where}: no such data name in the task")
            if name in assigned:
                raise PermissionDenied(f"permission denied: {where}: already assigned")
            if caller not in file.owner:
                raise PermissionDenied(f"permission denied: {where}: caller does not own the file")
            if file.owner != ownership[name]:
                raise PermissionDenied(
                    f"permission denied: {where}: file owners {sorted(file.owner)} differ from "
                    f"the task's owners {sorted(ownership[name])}"
                )

    def approve(self, caller: str) -> None:
        """Record ``caller``'s approval; advance to Approved once everyone approved.

        A Created task whose data is all assigned is first advanced to DataAssigned; a refused
        call leaves the task unchanged.
        """
        status = self.status
        if status is TaskStatus.CREATED and self.all_data_assigned:
            status = TaskStatus.DATA_ASSIGNED
        if status is not TaskStatus.DATA_ASSIGNED:
            reason = (
                f"data not assigned: {', '.join(self.missing_assignments())}"
                if status is TaskStatus.CREATED
                else f"task is {status.serde_name}"
            )
            raise FailedPrecondition(f"failed to approve task: {reason}")
        self.require_participant(caller)
        self.status = status
        self.approved_users.add(caller)
        if self.everyone_approved:
            self.status = TaskStatus.APPROVED

    def stage(self, caller: str) -> None:
        """InvokeTask: the creator moves a fully assigned and approved task to Staged."""
        if caller != self.creator:
            raise PermissionDenied("permission denied: only the task creator may invoke it")
        if self.status in (TaskStatus.CREATED, TaskStatus.DATA_ASSIGNED):
            if not self.all_data_assigned:
                missing = ", ".join(self.missing_assignments())
                raise FailedPrecondition(f"failed to invoke task: data not assigned: {missing}")
            if not self.everyone_approved:
                waiting = ", ".join(sorted(self.participants - self.approved_users))
                raise FailedPrecondition(
                    f"failed to invoke task: waiting for approval from {waiting}"
                )
            self.status = TaskStatus.APPROVED
        if self.status is not TaskStatus.APPROVED:
            raise FailedPrecondition(f"failed to invoke task: task is {self.status.serde_name}")
        self.status = TaskStatus.STAGED

    def start_running(self) -> None:
        """Scheduler: a worker picked the task up (Staged → Running)."""
        if self.status is not TaskStatus.STAGED:
            raise FailedPrecondition(
                f"task {self.external_id} is {self.status.serde_name}, expected Staged"
            )
        self.status = TaskStatus.RUNNING

    def complete(self, result: TaskResult) -> None:
        """Scheduler: store a worker's result; Ok → Finished, Err → Failed.

        Output tags in an Ok result are written into the assigned output records once; a tag
        for an unassigned name or an already written output is refused.
        """
        if self.status is not TaskStatus.RUNNING:
            raise FailedPrecondition(
                f"task {self.external_id} is {self.status.serde_name}, expected Running"
            )
        if result.ok is not None:
            for name in result.ok.tags_map:
                output = self.assigned_outputs.get(name)
                if output is None:
                    raise InvalidArgument(f"result.tags_map: {name!r} is not an assigned output")
                if output.cmac is not None:
                    raise FailedPrecondition(f"cannot overwrite output file cmac of {name!r}")
            for name, tag in result.ok.tags_map.items():
                self.assigned_outputs[name].cmac = tag
            self.status = TaskStatus.FINISHED
        elif result.err is not None:
            self.status = TaskStatus.FAILED
        else:
            raise InvalidArgument("result: neither Ok nor Err is set")
        self.result = result

    def fail(self, reason: str) -> None:
        """End a Staged or Running task as Failed with ``reason``."""
        if self.status not in (TaskStatus.STAGED, TaskStatus.RUNNING):
            raise FailedPrecondition(
                f"task {self.external_id} is {self.status.serde_name}, cannot fail it"
            )
        self.result = TaskResult.failure(reason)
        self.status = TaskStatus.FAILED

    def requeue(self) -> None:
        """A Running task whose worker was lost goes back to Staged for another attempt."""
        if self.status not in (TaskStatus.STAGED, TaskStatus.RUNNING):
            raise FailedPrecondition(
                f"task {self.external_id} is {self.status.serde_name}, cannot retry it"
            )
        self.attempts += 1
        self.status = TaskStatus.STAGED

    def cancel_early(self) -> bool:
        """Cancel before staging.

        Returns False when the task is Staged/Running (the scheduler must cancel it); raises
        when the task has already ended.
        """
        if self.status.is_ended:
            raise FailedPrecondition(
                f"failed to cancel task, reason: task has already ended ({self.status.serde_name})"
            )
        if self.status in (TaskStatus.STAGED, TaskStatus.RUNNING):
            return False
        self.result = TaskResult.failure(REASON_CANCELED_EARLY)
        self.status = TaskStatus.CANCELED
        return True

    def cancel_by_scheduler(self) -> None:
        """Scheduler-side cancel of a Staged or Running task."""
        if self.status not in (TaskStatus.STAGED, TaskStatus.RUNNING):
            raise FailedPrecondition(
                f"task {self.external_id} is {self.status.serde_name}, cannot cancel it"
            )
        self.result = TaskResult.failure(REASON_CANCELED_BY_USER)
        self.status = TaskStatus.CANCELED

    # ------------------------------------------------------------------ serde
    def to_json(self) -> dict[str, Any]:
        """Serde form of ``TaskState`` (plus ``attempts``, ours)."""
        return {
            "task_id": str(self.task_id),
            "creator": self.creator,
            "function_id": self.function_id.to_json(),
            "function_arguments": {"inner": self.function_arguments},
            "executor": self.executor.serde_name,
            "inputs_ownership": _owner_map_to_json(self.inputs_ownership),
            "outputs_ownership": _owner_map_to_json(self.outputs_ownership),
            "function_owner": self.function_owner,
            "participants": sorted(self.participants),
            "approved_users": sorted(self.approved_users),
            "assigned_inputs": {
                "inner": {n: f.to_json() for n, f in sorted(self.assigned_inputs.items())}
            },
            "assigned_outputs": {
                "inner": {n: f.to_json() for n, f in sorted(self.assigned_outputs.items())}
            },
            "result": self.result.to_json(),
            "status": self.status.serde_name,
            "attempts": self.attempts,
        }

    @classmethod
    def from_json(cls, value: Any) -> TaskState:
        """Inverse of ``to_json``."""
        what = "task"
        args = require(require(value, "function_arguments", what), "inner", what)
        inputs = require(require(value, "assigned_inputs", what), "inner", what)
        outputs = require(require(value, "assigned_outputs", what), "inner", what)
        return cls(
            task_id=uuid.UUID(str(require(value, "task_id", what))),
            creator=str(require(value, "creator", what)),
            function_id=ExternalId.from_json(require(value, "function_id", what)),
            function_owner=str(require(value, "function_owner", what)),
            function_arguments=dict(args),
            executor=Executor.from_serde(str(require(value, "executor", what))),
            inputs_ownership=_owner_map_from_json(require(value, "inputs_ownership", what)),
            outputs_ownership=_owner_map_from_json(require(value, "outputs_ownership", what)),
            participants=frozenset(str(u) for u in require(value, "participants", what)),
            approved_users={str(u) for u in value.get("approved_users", [])},
            assigned_inputs={str(n): InputFile.from_json(f) for n, f in inputs.items()},
            assigned_outputs={str(n): OutputFile.from_json(f) for n, f in outputs.items()},
            result=TaskResult.from_json(value.get("result", "NotReady")),
            status=TaskStatus.from_serde(str(require(value, "status", what))),
            attempts=int(value.get("attempts", 0)),
        )


@dataclass(slots=True)
class StagedInput:
    """What a worker needs to fetch one input: URL, expected tag, crypto."""

    url: str
    cmac: bytes
    crypto: FileCrypto


@dataclass(slots=True)
class StagedOutput:
    """What a worker needs to write one output: URL and the owner's crypto."""

    url: str
    crypto: FileCrypto


@dataclass(slots=True)
class StagedTask:
    """A task as handed to workers (``PullTaskResponse.staged_task`` JSON)."""

    task_id: uuid.UUID
    function_id: uuid.UUID
    user_id: str
    executor: Executor
    executor_type: ExecutorType
    function_name: str
    function_arguments: dict[str, Any]
    function_payload: bytes
    input_data: dict[str, StagedInput] = field(default_factory=dict)
    output_data: dict[str, StagedOutput] = field(default_factory=dict)

    @classmethod
    def from_task(cls, task: TaskState, function: Function) -> StagedTask:
        """Build from a task and the function definition current at invoke time."""
        if task.function_id.prefix != FUNCTION_PREFIX:
            raise InvalidArgument("invalid function id")
        return cls(
            task_id=task.task_id,
            function_id=function.id,
            user_id=task.creator,
            executor=task.executor,
            executor_type=function.executor_type,
            function_name=function.name,
            function_arguments=dict(task.function_arguments),
            function_payload=function.payload,
            input_data={
                n: StagedInput(f.url, f.cmac, f.crypto) for n, f in task.assigned_inputs.items()
            },
            output_data={
                n: StagedOutput(f.url, f.crypto) for n, f in task.assigned_outputs.items()
            },
        )

    def to_json(self) -> dict[str, Any]:
        """Serde form of ``StagedTask``."""
        return {
            "task_id": str(self.task_id),
            "function_id": str(self.function_id),
            "user_id": self.user_id,
            "executor": self.executor.serde_name,
            "executor_type": self.executor_type.serde_name,
            "function_name": self.function_name,
            "function_arguments": {"inner": self.function_arguments},
            "function_payload": bytes_to_json(self.function_payload),
            "input_data": {
                "inner": {
                    n: {
                        "url": f.url,
                        "cmac": tag_to_json(f.cmac),
                        "crypto_info": f.crypto.to_json(),
                    }
                    for n, f in sorted(self.input_data.items())
                }
            },
            "output_data": {
                "inner": {
                    n: {"url": f.url, "crypto_info": f.crypto.to_json()}
                    for n, f in sorted(self.output_data.items())
                }
            },
        }

    def to_bytes(self) -> bytes:
        """JSON bytes as carried by ``PullTaskResponse.staged_task``."""
        return json.dumps(self.to_json(), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, value: Any) -> StagedTask:
        """Inverse of ``to_json``."""
        what = "staged task"
        inputs = require(require(value, "input_data", what), "inner", what)
        outputs = require(require(value, "output_data", what), "inner", what)
        return cls(
            task_id=uuid.UUID(str(require(value, "task_id", what))),
            function_id=uuid.UUID(str(require(value, "function_id", what))),
            user_id=str(require(value, "user_id", what)),
            executor=Executor.from_serde(str(require(value, "executor", what))),
            executor_type=ExecutorType.from_serde(str(require(value, "executor_type", what))),
            function_name=str(require(value, "function_name", what)),
            function_arguments=dict(
                require(require(value, "function_arguments", what), "inner", what)
            ),
            function_payload=bytes_from_json(value.get("function_payload", []), "function_payload"),
            input_data={
                str(n): StagedInput(
                    str(require(f, "url", what)),
                    tag_from_json(require(f, "cmac", what)),
                    FileCrypto.from_json(require(f, "crypto_info", what)),
                )
                for n, f in inputs.items()
            },
            output_data={
                str(n): StagedOutput(
                    str(require(f, "url", what)),
                    FileCrypto.from_json(require(f, "crypto_info", what)),
                )
                for n, f in outputs.items()
            },
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> StagedTask:
        """Parse ``PullTaskResponse.staged_task`` bytes."""
        try:
            value = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DecodeError(f"staged_task: not valid JSON ({exc})") from None
        return cls.from_json(value)
