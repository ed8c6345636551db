"""``TeaclaveManagement``: the business rules for data, functions, tasks and the audit log.

The service keeps no state of its own: every record lives in the storage service (see
``records``). Only the frontend may call it (mutual TLS, ``INBOUND["management"]``); the caller
is the ``id`` metadata and the role the ``role`` metadata the frontend sets. The task state
machine is ``teaclave.types.task.TaskState``; this module only loads, authorizes, calls it and
saves. A process-wide lock serializes every read-modify-write sequence (approvals, usage
counters, user indexes), so concurrent calls cannot lose each other's updates.

Differences from Teaclave 0.6 (wire format unchanged):

* Status codes and messages: malformed or unknown ids → INVALID_ARGUMENT starting with
  Teaclave's text ("invalid data id", "invalid function id", "invalid task id", "invalid
  output file", "invalid task") and naming the field; a malformed request field (url, 16-byte
  cmac, crypto schema/key/iv, executor strings, non-object ``function_arguments``, empty or
  duplicate names in ``OwnerList``/``DataMap``/``user_allowlist``/``owner_list``, a fusion
  output with fewer than two owners) → INVALID_ARGUMENT naming the field, before anything is
  written (Teaclave: INTERNAL with a debug string, or PERMISSION_DENIED); state errors
  ("failed to assign data to task", "failed to approve task", "failed to invoke task", "failed
  to cancel task, reason: ...") → FAILED_PRECONDITION (Teaclave: UNKNOWN); quota → RESOURCE_
  EXHAUSTED "function quota has been used up" (Teaclave: UNKNOWN); missing ``id``/``role``
  metadata → UNAUTHENTICATED (Teaclave: UNKNOWN); storage failures → INTERNAL "service
  internal error: ...".
* Every RPC requires the ``id`` metadata. ``role`` is required by the RPCs
  whose decision depends on it: GetFunction, GetFunctionUsageStats, DisableFunction,
  ListFunctions, CreateTask, GetTask, CancelTask and QueryAuditLogs.
* Registering an output with the ``raw`` scheme is refused up front (INVALID_ARGUMENT
  ``crypto_info.schema``): raw outputs are unsupported ("OutputFile: unsupported type").
* SaveLogs requires the ``id`` metadata like every other RPC (Teaclave checked nothing; the
  frontend must send its own id, e.g. ``teaclave_frontend_service``).
* §13 #3: ``user_allowlist`` holds user ids for GetFunction, GetFunctionUsageStats and
  ListFunctions. CreateTask by ``DataOwner(a)``/``DataOwnerManager(a)`` accepts a private
  function when the caller's user id **or** its attribute ``a`` is allowlisted (Teaclave: only
  the attribute), so both Teaclave's examples (user ids) and attribute allowlists work.
  ListFunctions for such a caller adds the functions allowlisted for ``a`` to
  ``allowed_functions`` (Teaclave replaced the whole listing by the attribute's for DataOwner).
* §13 #4: the owner of a private function may read its usage stats; a PlatformAdmin may
  GetTask any task. DeleteFunction stays owner-only.
* §13 #7: DisableFunction also stores ``disabled-<function uuid>`` (see
  ``records.DisabledFunction``); CreateTask on a disabled function fails for everyone
  (FAILED_PRECONDITION), UpdateFunction on it too, and ListFunctions never lists it.
  Existing tasks are not affected. DeleteFunction removes the marker with the function.
  UpdateFunction refreshes the allowlist indexes: users dropped from ``user_allowlist`` lose
  the id from ``allowed_functions``, new users gain it.
* ListFunctions: ``user_id`` must not be empty; a PlatformAdmin's ``allowed_functions`` is every
  (not disabled) function even when the listed user has no record (Teaclave: empty lists).
* AssignData refuses an output file that has already been written (its cmac is set); Teaclave
  accepted it and the task failed when the result came back ("Cannot overwrite output file
  cmac").
* InvokeTask also stores ``stagedtask-<task uuid>`` (the StagedTask JSON) for the scheduler's
  recovery before saving the task as Staged; writes are: staged record, task, usage, enqueue.
* The audit log is kept as one storage record per entry instead of a tantivy index; the query
  language is the subset documented in ``audit_query``; ``limit`` must be > 0.
* No test_mode mock data at start: tests call ``mock_data.insert_mock_data``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from google.protobuf import empty_pb2

from teaclave.binder import Enclave
from teaclave.config import INBOUND, RuntimeConfig
from teaclave.config.build import MANAGEMENT
from teaclave.proto import teaclave_frontend_service_pb2 as fe
from teaclave.proto import teaclave_management_service_pb2 as mg
from teaclave.rpc import CallContext, teaclave_service
from teaclave.rpc.apis import TeaclaveManagement
from teaclave.rpc.clients.storage import StorageClient
from teaclave.rpc.server import serve
from teaclave.services.launcher import Stoppable, service_identity
from teaclave.services.management.audit import AuditLog, entries_from_proto
from teaclave.services.management.audit_query import parse_query
from teaclave.services.management.convert import (
    function_from_request,
    function_response,
    parse_arguments,
    parse_crypto,
    parse_data_maps,
    parse_id,
    parse_output_crypto,
    parse_ownership,
    parse_user_list,
    task_response,
    unknown_id,
)
from teaclave.services.management.locks import KeyedLocks
from teaclave.services.management.records import (
    CANCEL_QUEUE,
    STAGED_TASK_QUEUE,
    DisabledFunction,
    Records,
)
from teaclave.types import serde
from teaclave.types.errors import (
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    ResourceExhausted,
    TeaclaveError,
    Unauthenticated,
)
from teaclave.types.files import (
    FileCrypto,
    InputFile,
    OutputFile,
    new_fusion_url,
    parse_tag,
    parse_url,
)
from teaclave.types.function import Executor, Function, FunctionUsage, UserRecord
from teaclave.types.ids import FUNCTION_PREFIX, INPUT_PREFIX, OUTPUT_PREFIX, TASK_PREFIX, ExternalId
from teaclave.types.roles import UserRole
from teaclave.types.task import StagedTask, TaskState


class ManagementError(TeaclaveError):
    """Errors of the management service."""


def _caller(ctx: CallContext) -> str:
    return ctx.require_user_id()


def _role(ctx: CallContext) -> UserRole:
    if not ctx.role:
        raise Unauthenticated("missing user role")
    return UserRole.parse(ctx.role)


@teaclave_service(MANAGEMENT, TeaclaveManagement, ManagementError)
@dataclass
class ManagementService:
    """The management service over the records in the storage service."""

    records: Records
    audit: AuditLog = field(init=False)
    # Function and user-index changes take the global lock; task changes lock only their task
    # (and, to count an invocation, their function's usage record).
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _task_locks: KeyedLocks = field(init=False, default_factory=KeyedLocks)
    _usage_locks: KeyedLocks = field(init=False, default_factory=KeyedLocks)

    def __post_init__(self) -> None:
        self.audit = AuditLog(self.records)

    # ------------------------------------------------------------------ loading helpers
    def _function(self, function_id: ExternalId, field_name: str = "function_id") -> Function:
        function = self.records.function(function_id)
        if function is None:
            raise unknown_id(function_id, field_name)
        return function

    def _task(self, task_id: ExternalId) -> TaskState:
        task = self.records.task(task_id)
        if task is None:
            raise unknown_id(task_id, "task_id")
        return task

    def _input_file(self, file_id: ExternalId, field_name: str) -> InputFile:
        file = self.records.input_file(file_id)
        if file is None:
            raise unknown_id(file_id, field_name)
        return file

    def _output_file(self, file_id: ExternalId, field_name: str) -> OutputFile:
        file = self.records.output_file(file_id)
        if file is None:
            raise unknown_id(file_id, field_name)
        return file

    @staticmethod
    def _require_sole_owner(owners: frozenset[str], caller: str, what: str) -> None:
        if owners != frozenset({caller}):
            raise PermissionDenied(f"permission denied: only the sole owner may update {what}")

    # ------------------------------------------------------------------ data
    def register_input_file(
        self, request: fe.RegisterInputFileRequest, ctx: CallContext
    ) -> fe.RegisterInputFileResponse:
        """Register an input file owned by the caller."""
        caller = _caller(ctx)
        file = InputFile(
            url=parse_url(request.url, "url"),
            cmac=parse_tag(request.cmac, "cmac"),
            crypto=parse_crypto(request.crypto_info, request.HasField("crypto_info")),
            owner=frozenset({caller}),
        )
        self.records.save_input_file(file)
        return fe.RegisterInputFileResponse(data_id=str(file.external_id))

    def register_output_file(
        self, request: fe.RegisterOutputFileRequest, ctx: CallContext
    ) -> fe.RegisterOutputFileResponse:
        """Register an output file (not yet written) owned by the caller."""
        caller = _caller(ctx)
        file = OutputFile(
            url=parse_url(request.url, "url"),
            crypto=parse_output_crypto(request.crypto_info, request.HasField("crypto_info")),
            owner=frozenset({caller}),
        )
        self.records.save_output_file(file)
        return fe.RegisterOutputFileResponse(data_id=str(file.external_id))

    def update_input_file(
        self, request: fe.UpdateInputFileRequest, ctx: CallContext
    ) -> fe.UpdateInputFileResponse:
        """Register a copy of the caller's input file at a new URL (new id)."""
        caller = _caller(ctx)
        file_id = parse_id(request.data_id, INPUT_PREFIX, "data_id")
        url = parse_url(request.url, "url")
        old = self._input_file(file_id, "data_id")
        self._require_sole_owner(old.owner, caller, str(file_id))
        file = InputFile(url, old.cmac, old.crypto, old.owner)
        self.records.save_input_file(file)
        return fe.UpdateInputFileResponse(data_id=str(file.external_id))

    def update_output_file(
        self, request: fe.UpdateOutputFileRequest, ctx: CallContext
    ) -> fe.UpdateOutputFileResponse:
        """Register a copy of the caller's output file at a new URL (new id, not written)."""
        caller = _caller(ctx)
        file_id = parse_id(request.data_id, OUTPUT_PREFIX, "data_id")
        url = parse_url(request.url, "url")
        old = self._output_file(file_id, "data_id")
        self._require_sole_owner(old.owner, caller, str(file_id))
        file = OutputFile(url, old.crypto, old.owner)
        self.records.save_output_file(file)
        return fe.UpdateOutputFileResponse(data_id=str(file.external_id))

    def register_fusion_output(
        self, request: fe.RegisterFusionOutputRequest, ctx: CallContext
    ) -> fe.RegisterFusionOutputResponse:
        """Register a platform-encrypted output owned jointly by several users."""
        caller = _caller(ctx)
        owners = parse_user_list(request.owner_list, "owner_list", allow_empty=False)
        if len(owners) < 2:
            raise InvalidArgument(
                f"owner_list: a fusion output needs at least 2 owners, got {len(owners)}"
            )
        if caller not in owners:
            raise PermissionDenied("permission denied: the caller must be one of the owners")
        file = OutputFile(new_fusion_url(), FileCrypto.random_protected(), frozenset(owners))
        self.records.save_output_file(file)
        return fe.RegisterFusionOutputResponse(data_id=str(file.external_id))

    def register_input_from_output(
        self, request: fe.RegisterInputFromOutputRequest, ctx: CallContext
    ) -> fe.RegisterInputFromOutputResponse:
        """Turn a written output into an input with the same uuid, owners and crypto."""
        caller = _caller(ctx)
        file_id = parse_id(request.data_id, OUTPUT_PREFIX, "data_id")
        output = self._output_file(file_id, "data_id")
        if caller not in output.owner:
            raise PermissionDenied(f"permission denied: the caller does not own {file_id}")
        if output.cmac is None:
            raise InvalidArgument(
                f"invalid output file: data_id: {file_id} has not been written yet"
            )
        file = output.to_input()
        self.records.save_input_file(file)
        return fe.RegisterInputFromOutputResponse(data_id=str(file.external_id))

    def get_output_file(
        self, request: fe.GetOutputFileRequest, ctx: CallContext
    ) -> fe.GetOutputFileResponse:
        """Owners and cmac (empty until written) of an output the caller owns."""
        caller = _caller(ctx)
        file_id = parse_id(request.data_id, OUTPUT_PREFIX, "data_id")
        file = self._output_file(file_id, "data_id")
        if caller not in file.owner:
            raise PermissionDenied(f"permission denied: the caller does not own {file_id}")
        return fe.GetOutputFileResponse(owner=sorted(file.owner), cmac=file.cmac or b"")

    def get_input_file(
        self, request: fe.GetInputFileRequest, ctx: CallContext
    ) -> fe.GetInputFileResponse:
        """Owners and cmac of an input the caller owns."""
        caller = _caller(ctx)
        file_id = parse_id(request.data_id, INPUT_PREFIX, "data_id")
        file = self._input_file(file_id, "data_id")
        if caller not in file.owner:
            raise PermissionDenied(f"permission denied: the caller does not own {file_id}")
        return fe.GetInputFileResponse(owner=sorted(file.owner), cmac=file.cmac)

    # ------------------------------------------------------------------ functions
    def register_function(
        self, request: fe.RegisterFunctionRequest, ctx: CallContext
    ) -> fe.RegisterFunctionResponse:
        """Register a function owned by the caller and index it for its owner and allowlist."""
        caller = _caller(ctx)
        function = function_from_request(request, caller)
        function_id = str(function.external_id)
        with self._lock:
            users: dict[str, UserRecord] = {}
            for user_id in (caller, *function.user_allowlist):
                if user_id not in users:
                    users[user_id] = self.records.user_or_new(user_id)
            users[caller].registered_functions.append(function_id)
            for user_id in function.user_allowlist:
                users[user_id].allowed_functions.append(function_id)
            self.records.save_usage(FunctionUsage(function.id))
            for user in users.values():
                self.records.save_user(user)
            self.records.save_function(function)
        return fe.RegisterFunctionResponse(function_id=function_id)

    def update_function(
        self, request: fe.UpdateFunctionRequest, ctx: CallContext
    ) -> fe.UpdateFunctionResponse:
        """Replace every field of the caller's function; refresh the allowlist indexes."""
        caller = _caller(ctx)
        function_id = parse_id(request.function_id, FUNCTION_PREFIX, "function_id")
        function = function_from_request(request, caller)
        function.id = function_id.uuid
        with self._lock:
            old = self._function(function_id)
            if old.owner != caller:
                raise PermissionDenied("permission denied: only the owner may update a function")
            if self.records.disabled(function_id.uuid) is not None:
                raise FailedPrecondition(
                    f"failed to update function: {function_id} has been disabled"
                )
            text_id = str(function_id)
            before, after = set(old.user_allowlist), set(function.user_allowlist)
            for user_id in sorted(before - after):
                user = self.records.user(user_id)
                if user is not None and text_id in user.allowed_functions:
                    user.allowed_functions = [f for f in user.allowed_functions if f != text_id]
                    self.records.save_user(user)
            for user_id in sorted(after - before):
                user = self.records.user_or_new(user_id)
                if text_id not in user.allowed_functions:
                    user.allowed_functions.append(text_id)
                    self.records.save_user(user)
            self.records.save_function(function)
        return fe.UpdateFunctionResponse(function_id=text_id)

    def get_function(
        self, request: fe.GetFunctionRequest, ctx: CallContext
    ) -> fe.GetFunctionResponse:
        """A function's definition.

        In full for public functions, admins and the owner; without payload and allowlist for
        allowlisted users of a private function.
        """
        caller = _caller(ctx)
        role = _role(ctx)
        function = self._function(parse_id(request.function_id, FUNCTION_PREFIX, "function_id"))
        if function.public or role.is_platform_admin or function.owner == caller:
            return function_response(function, restricted=False)
        if caller in function.user_allowlist:
            return function_response(function, restricted=True)
        raise PermissionDenied(
            f"permission denied: {function.external_id} is private and the caller is not "
            "in its allowlist"
        )

    def get_function_usage_stats(
        self, request: fe.GetFunctionUsageStatsRequest, ctx: CallContext
    ) -> fe.GetFunctionUsageStatsResponse:
        """Quota (-1 when unlimited) and invocation count of a function."""
        caller = _caller(ctx)
        role = _role(ctx)
        function_id = parse_id(request.function_id, FUNCTION_PREFIX, "function_id")
        function = self._function(function_id)
        if not (
            function.public
            or role.is_platform_admin
            or function.owner == caller
            or caller in function.user_allowlist
        ):
            raise PermissionDenied(
                f"permission denied: {function_id} is private and the caller is neither its "
                "owner nor in its allowlist"
            )
        usage = self.records.usage(function.id)
        if usage is None:
            raise InvalidArgument(f"invalid function id: function_id: {function_id} has no usage")
        quota = -1 if function.usage_quota is None else function.usage_quota
        return fe.GetFunctionUsageStatsResponse(
            function_quota=quota, current_usage=usage.use_numbers
        )

    def delete_function(
        self, request: fe.DeleteFunctionRequest, ctx: CallContext
    ) -> empty_pb2.Empty:
        """Delete the caller's function record (user indexes and tasks are left as they are)."""
        caller = _caller(ctx)
        function_id = parse_id(request.function_id, FUNCTION_PREFIX, "function_id")
        with self._lock:
            function = self._function(function_id)
            if function.owner != caller:
                raise PermissionDenied("permission denied: only the owner may delete a function")
            self.records.delete_function(function_id)
            self.records.delete_disabled(function_id.uuid)
        return empty_pb2.Empty()

    def disable_function(
        self, request: fe.DisableFunctionRequest, ctx: CallContext
    ) -> empty_pb2.Empty:
        """Mark a function disabled, drop it from user indexes and clear its allowlist."""
        caller = _caller(ctx)
        role = _role(ctx)
        function_id = parse_id(request.function_id, FUNCTION_PREFIX, "function_id")
        with self._lock:
            function = self._function(function_id)
            if not role.is_platform_admin and function.owner != caller:
                raise PermissionDenied(
                    "permission denied: only the owner or a PlatformAdmin may disable a function"
                )
            # The marker goes first: once it is stored no new task can use the function, and
            # a failure after it leaves a disabled function that a retry finishes cleaning.
            if self.records.disabled(function.id) is None:
                self.records.save_disabled(DisabledFunction.now(function.id, caller))
            text_id = str(function_id)
            for user_id in dict.fromkeys((function.owner, *function.user_allowlist)):
                user = self.records.user(user_id)
                if user is None:
                    continue
                registered = [f for f in user.registered_functions if f != text_id]
                allowed = [f for f in user.allowed_functions if f != text_id]
                if (registered, allowed) != (user.registered_functions, user.allowed_functions):
                    user.registered_functions, user.allowed_functions = registered, allowed
                    self.records.save_user(user)
            function.user_allowlist = []
            self.records.save_function(function)
        return empty_pb2.Empty()

    def list_functions(
        self, request: fe.ListFunctionsRequest, ctx: CallContext
    ) -> fe.ListFunctionsResponse:
        """Functions registered by and allowed for ``user_id`` (the caller, unless admin)."""
        caller = _caller(ctx)
        role = _role(ctx)
        user_id = request.user_id
        if not user_id:
            raise InvalidArgument("user_id: empty")
        if not role.is_platform_admin and user_id != caller:
            raise PermissionDenied("permission denied: users may only list their own functions")
        user = self.records.user(user_id) or UserRecord(user_id)
        registered = list(user.registered_functions)
        allowed = list(user.allowed_functions)
        if role.is_platform_admin:
            allowed = self.records.function_keys()
        elif role.is_data_owner and role.attribute and role.attribute != user_id:
            group = self.records.user(role.attribute)
            if group is not None:
                allowed.extend(f for f in group.allowed_functions if f not in allowed)
        disabled = self.records.disabled_function_ids()
        return fe.ListFunctionsResponse(
            registered_functions=[f for f in registered if f not in disabled],
            allowed_functions=[f for f in allowed if f not in disabled],
        )

    # ------------------------------------------------------------------ tasks
    def create_task(self, request: fe.CreateTaskRequest, ctx: CallContext) -> fe.CreateTaskResponse:
        """Create a task on a function the caller may use (status Created)."""
        caller = _caller(ctx)
        role = _role(ctx)
        function_id = parse_id(request.function_id, FUNCTION_PREFIX, "function_id")
        arguments = parse_arguments(request.function_arguments)
        executor = Executor.from_wire(request.executor, "executor")
        inputs = parse_ownership(request.inputs_ownership, "inputs_ownership")
        outputs = parse_ownership(request.outputs_ownership, "outputs_ownership")
        function = self._function(function_id)
        if role.is_data_owner:
            allowlist = function.user_allowlist
            if not (function.public or caller in allowlist or role.attribute in allowlist):
                raise PermissionDenied(
                    f"permission denied: {function_id} is private and neither the caller nor "
                    f"its attribute {role.attribute!r} is in its allowlist"
                )
        elif not role.is_platform_admin:
            raise PermissionDenied(f"permission denied: role {role} may not create tasks")
        if self.records.disabled(function.id) is not None:
            raise FailedPrecondition(f"failed to create task: {function_id} has been disabled")
        task = TaskState.create(
            creator=caller,
            function=function,
            arguments=arguments,
            executor=executor,
            inputs_ownership=inputs,
            outputs_ownership=outputs,
        )
        self.records.save_task(task)
        return fe.CreateTaskResponse(task_id=str(task.external_id))

    def get_task(self, request: fe.GetTaskRequest, ctx: CallContext) -> fe.GetTaskResponse:
        """A task as its participants (and PlatformAdmins) see it."""
        caller = _caller(ctx)
        role = _role(ctx)
        task = self._task(parse_id(request.task_id, TASK_PREFIX, "task_id"))
        if not role.is_platform_admin:
            task.require_participant(caller)
        if ctx.wait_secs > 0 and not task.status.is_ended:
            # Long poll (``x-teaclave-wait-ms``): answer once the task has ended.
            task = self.records.watch_task(task, ctx.wait_secs)
        return task_response(task)

    def assign_data(self, request: fe.AssignDataRequest, ctx: CallContext) -> empty_pb2.Empty:
        """Assign the caller's files to task slots (all or nothing)."""
        caller = _caller(ctx)
        task_id = parse_id(request.task_id, TASK_PREFIX, "task_id")
        input_ids = parse_data_maps(request.inputs, INPUT_PREFIX, "inputs")
        output_ids = parse_data_maps(request.outputs, OUTPUT_PREFIX, "outputs")
        with self._task_locks.hold(task_id.uuid):
            task = self._task(task_id)
            task.require_participant(caller)
            inputs = {
                name: self._input_file(file_id, f"inputs[{index}].data_id")
                for index, (name, file_id) in enumerate(input_ids.items())
            }
            outputs = {
                name: self._output_file(file_id, f"outputs[{index}].data_id")
                for index, (name, file_id) in enumerate(output_ids.items())
            }
            task.assign_data(caller, inputs, outputs)
            for index, (name, output) in enumerate(outputs.items()):
                if output.cmac is not None:
                    raise PermissionDenied(
                        f"permission denied: outputs[{index}] ({name}): {output.external_id} "
                        "has already been written"
                    )
            self.records.save_task(task)
        return empty_pb2.Empty()

    def approve_task(self, request: fe.ApproveTaskRequest, ctx: CallContext) -> empty_pb2.Empty:
        """Record the caller's approval of a fully assigned task."""
        caller = _caller(ctx)
        task_id = parse_id(request.task_id, TASK_PREFIX, "task_id")
        with self._task_locks.hold(task_id.uuid):
            task = self._task(task_id)
            task.approve(caller)
            self.records.save_task(task)
        return empty_pb2.Empty()

    def invoke_task(self, request: fe.InvokeTaskRequest, ctx: CallContext) -> empty_pb2.Empty:
        """Stage an approved task for the scheduler (creator only; counts against the quota).

        The invocation is counted first (under the function's usage lock, so concurrent
        invocations cannot overrun the quota), then the staged task, the task and the queue
        entry are written; if those writes fail the count is taken back. A crash in between
        over-counts by one, never under-counts.
        """
        caller = _caller(ctx)
        task_id = parse_id(request.task_id, TASK_PREFIX, "task_id")
        with self._task_locks.hold(task_id.uuid):
            task = self._task(task_id)
            if caller != task.creator:
                raise PermissionDenied("permission denied: only the task creator may invoke it")
            function = self.records.function(task.function_id)
            if function is None:
                raise InvalidArgument(
                    f"invalid function id: {task.function_id} of {task_id} no longer exists"
                )
            task.stage(caller)
            staged = StagedTask.from_task(task, function)
            self._count_invocation(function)
            try:
                self.records.save_staged_task(staged)
                self.records.save_task(task)
                self.records.enqueue(STAGED_TASK_QUEUE, staged.to_bytes())
            except BaseException:
                self._count_invocation(function, -1)
                raise
        return empty_pb2.Empty()

    def _count_invocation(self, function: Function, delta: int = 1) -> None:
        with self._usage_locks.hold(function.id):
            usage = self.records.usage(function.id)
            if usage is None:
                raise InvalidArgument(
                    f"invalid function id: {function.external_id} has no usage record"
                )
            quota = function.usage_quota
            if delta > 0 and quota is not None and quota <= usage.use_numbers:
                raise ResourceExhausted(
                    f"function quota has been used up: {function.external_id} allows "
                    f"{quota} invocations"
                )
            usage.use_numbers = max(0, usage.use_numbers + delta)
            self.records.save_usage(usage)

    def cancel_task(self, request: fe.CancelTaskRequest, ctx: CallContext) -> empty_pb2.Empty:
        """Cancel a task: at once before staging, through the scheduler once staged."""
        caller = _caller(ctx)
        role = _role(ctx)
        task_id = parse_id(request.task_id, TASK_PREFIX, "task_id")
        with self._task_locks.hold(task_id.uuid):
            task = self._task(task_id)
            if not role.is_platform_admin and caller != task.creator:
                raise PermissionDenied(
                    "permission denied: only the task creator or a PlatformAdmin may cancel it"
                )
            if task.cancel_early():
                self.records.save_task(task)
            else:
                self.records.enqueue(CANCEL_QUEUE, serde.dumps(task.to_json()))
        return empty_pb2.Empty()

    # ------------------------------------------------------------------ audit
    def save_logs(self, request: mg.SaveLogsRequest, ctx: CallContext) -> empty_pb2.Empty:
        """Append the frontend's audit entries (all validated before any is stored)."""
        _caller(ctx)
        self.audit.save(entries_from_proto(request.logs))
        return empty_pb2.Empty()

    def query_audit_logs(
        self, request: fe.QueryAuditLogsRequest, ctx: CallContext
    ) -> fe.QueryAuditLogsResponse:
        """Audit entries matching ``query``, newest first (PlatformAdmin only)."""
        _caller(ctx)
        role = _role(ctx)
        if not role.is_platform_admin:
            raise PermissionDenied("permission denied: only a PlatformAdmin may query audit logs")
        if request.limit == 0:
            raise InvalidArgument("limit: must be > 0")
        entries = self.audit.query(parse_query(request.query), request.limit)
        return fe.QueryAuditLogsResponse(logs=[e.to_proto() for e in entries])


class _ClientCloser:
    def __init__(self, storage: StorageClient) -> None:
        self.storage = storage

    def stop(self, grace: float | None) -> None:
        self.storage.close()


def start_service(config: RuntimeConfig, enclave: Enclave) -> Sequence[Stoppable]:
    """Connect to storage (waiting for it as Teaclave does) and serve the internal endpoint."""
    identity, verifier = service_identity(config, MANAGEMENT)
    storage = StorageClient.connect(config, identity, verifier)
    endpoint = config.internal_endpoints["management"]
    try:
        server, _ = serve(
            ManagementService(Records(storage)),
            endpoint.listen_address,
            identity,
            verifier,
            inbound=INBOUND["management"],
        )
    except Exception:
        storage.close()
        raise
    return [_ClientCloser(storage), server]
