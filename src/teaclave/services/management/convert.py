"""Conversion between management request/response messages and the domain model.

Every parser here validates one request field and raises ``InvalidArgument`` whose message
names the field (``inputs_ownership[1].uids[0]: empty``). Id parsers keep Teaclave's error
text at the start of the message (``invalid task id: task_id: ...``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from teaclave.proto import teaclave_common_pb2 as common_pb
from teaclave.proto import teaclave_frontend_service_pb2 as fe
from teaclave.types.errors import InvalidArgument
from teaclave.types.files import CryptoSchema, FileCrypto
from teaclave.types.function import (
    ExecutorType,
    Function,
    FunctionArgument,
    FunctionIo,
    quota_from_wire,
)
from teaclave.types.ids import (
    FUNCTION_PREFIX,
    INPUT_PREFIX,
    OUTPUT_PREFIX,
    TASK_PREFIX,
    ExternalId,
)
from teaclave.types.task import TaskResult, TaskState

# Teaclave's error texts for ids that are malformed or name no record.
INVALID_DATA_ID = "invalid data id"
INVALID_FUNCTION_ID = "invalid function id"
INVALID_TASK_ID = "invalid task id"

_ID_ERRORS = {
    INPUT_PREFIX: INVALID_DATA_ID,
    OUTPUT_PREFIX: INVALID_DATA_ID,
    FUNCTION_PREFIX: INVALID_FUNCTION_ID,
    TASK_PREFIX: INVALID_TASK_ID,
}


# ---------------------------------------------------------------------- ids
def parse_id(text: str, prefix: str, field: str) -> ExternalId:
    """Parse an external id of kind ``prefix`` from request field ``field``.

    The error reads ``invalid data id: inputs[0].data_id: 'x' does not start with 'input-'``.
    """
    try:
        return ExternalId.parse(text, prefix, field)
    except InvalidArgument as exc:
        reason = exc.message.split(": ", 1)[-1]
        raise InvalidArgument(f"{_ID_ERRORS[prefix]}: {field}: {reason}") from None


def unknown_id(external_id: ExternalId, field: str) -> InvalidArgument:
    """The error for a well-formed id that names no stored record."""
    return InvalidArgument(f"{_ID_ERRORS[external_id.prefix]}: {field}: {external_id} not found")


# ---------------------------------------------------------------------- files
def parse_crypto(
    message: common_pb.FileCryptoInfo, present: bool, field: str = "crypto_info"
) -> FileCrypto:
    """Validate a ``FileCryptoInfo`` (it must be present)."""
    if not present:
        raise InvalidArgument(f"{field}: missing")
    return FileCrypto.from_wire(message.schema, message.key, message.iv, field)


def parse_output_crypto(
    message: common_pb.FileCryptoInfo, present: bool, field: str = "crypto_info"
) -> FileCrypto:
    """Validate the crypto of an output file: like ``parse_crypto`` but never ``raw``."""
    crypto = parse_crypto(message, present, field)
    if crypto.schema is CryptoSchema.RAW:
        raise InvalidArgument(
            f"{field}.schema: outputs cannot be raw (OutputFile: unsupported type); "
            "use aes-gcm-128, aes-gcm-256 or teaclave-file-128"
        )
    return crypto


def parse_user_list(values: Sequence[str], field: str, *, allow_empty: bool) -> list[str]:
    """Validate a list of user ids: no empty entries, no duplicates; keeps the order."""
    if not values and not allow_empty:
        raise InvalidArgument(f"{field}: empty")
    seen: set[str] = set()
    for index, value in enumerate(values):
        if not value:
            raise InvalidArgument(f"{field}[{index}]: empty")
        if value in seen:
            raise InvalidArgument(f"{field}[{index}]: duplicate {value!r}")
        seen.add(value)
    return list(values)


# ---------------------------------------------------------------------- functions
FunctionRequest = fe.RegisterFunctionRequest | fe.UpdateFunctionRequest


def function_from_request(request: FunctionRequest, owner: str) -> Function:
    """Build and validate a ``Function`` from a register/update request (fresh id)."""
    function = Function(
        name=request.name,
        description=request.description,
        executor_type=ExecutorType.from_wire(request.executor_type, "executor_type"),
        public=request.public,
        payload=bytes(request.payload),
        arguments=[
            FunctionArgument(a.key, a.default_value, a.allow_overwrite) for a in request.arguments
        ],
        inputs=[FunctionIo(i.name, i.description, i.optional) for i in request.inputs],
        outputs=[FunctionIo(o.name, o.description, o.optional) for o in request.outputs],
        owner=owner,
        user_allowlist=parse_user_list(request.user_allowlist, "user_allowlist", allow_empty=True),
        usage_quota=quota_from_wire(request.usage_quota),
    )
    function.validate()
    return function


def function_response(function: Function, *, restricted: bool) -> fe.GetFunctionResponse:
    """Build ``GetFunctionResponse``.

    ``restricted`` blanks payload and allowlist: Teaclave's view for allowlisted users of a
    private function.
    """
    return fe.GetFunctionResponse(
        name=function.name,
        description=function.description,
        executor_type=function.executor_type.value,
        owner=function.owner,
        payload=b"" if restricted else function.payload,
        public=function.public,
        arguments=[
            fe.FunctionArgument(
                key=a.key, default_value=a.default_value, allow_overwrite=a.allow_overwrite
            )
            for a in function.arguments
        ],
        inputs=[
            fe.FunctionInput(name=i.name, description=i.description, optional=i.optional)
            for i in function.inputs
        ],
        outputs=[
            fe.FunctionOutput(name=o.name, description=o.description, optional=o.optional)
            for o in function.outputs
        ],
        user_allowlist=[] if restricted else list(function.user_allowlist),
    )


# ---------------------------------------------------------------------- tasks
def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_arguments(text: str, field: str = "function_arguments") -> dict[str, Any]:
    """Parse the task arguments: the text of a JSON object."""
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise InvalidArgument(f"{field}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise InvalidArgument(f"{field}: expected a JSON object, got {type(value).__name__}")
    return value


def arguments_text(arguments: Mapping[str, Any]) -> str:
    """Compact JSON text with sorted keys (what serde_json prints for the argument map)."""
    return json.dumps(arguments, separators=(",", ":"), sort_keys=True)


def parse_ownership(entries: Iterable[fe.OwnerList], field: str) -> dict[str, frozenset[str]]:
    """``repeated OwnerList`` → data name → owner set (names unique, owners non-empty)."""
    owners: dict[str, frozenset[str]] = {}
    for index, entry in enumerate(entries):
        where = f"{field}[{index}]"
        if not entry.data_name:
            raise InvalidArgument(f"{where}.data_name: empty")
        if entry.data_name in owners:
            raise InvalidArgument(f"{where}.data_name: duplicate {entry.data_name!r}")
        uids = parse_user_list(entry.uids, f"{where}.uids", allow_empty=False)
        owners[entry.data_name] = frozenset(uids)
    return owners


def ownership_to_proto(owners: Mapping[str, frozenset[str]]) -> list[fe.OwnerList]:
    """Data name → owner set as ``repeated OwnerList`` (sorted by name, uids sorted)."""
    return [fe.OwnerList(data_name=n, uids=sorted(u)) for n, u in sorted(owners.items())]


def parse_data_maps(
    entries: Iterable[fe.DataMap], prefix: str, field: str
) -> dict[str, ExternalId]:
    """``repeated DataMap`` → data name → file id of kind ``prefix`` (names unique)."""
    files: dict[str, ExternalId] = {}
    for index, entry in enumerate(entries):
        where = f"{field}[{index}]"
        if not entry.data_name:
            raise InvalidArgument(f"{where}.data_name: empty")
        if entry.data_name in files:
            raise InvalidArgument(f"{where}.data_name: duplicate {entry.data_name!r}")
        files[entry.data_name] = parse_id(entry.data_id, prefix, f"{where}.data_id")
    return files


def result_to_proto(result: TaskResult) -> common_pb.TaskResult:
    """Domain ``TaskResult`` → proto (no oneof member set while NotReady)."""
    message = common_pb.TaskResult()
    if result.ok is not None:
        message.Ok.return_value = result.ok.return_value
        for name, tag in result.ok.tags_map.items():
            message.Ok.tags_map[name] = tag
        message.Ok.log.extend(result.ok.log)
    elif result.err is not None:
        message.Err.reason = result.err
    return message


def task_response(task: TaskState) -> fe.GetTaskResponse:
    """``GetTaskResponse``: assigned files as (name, external id), result and status."""
    response = fe.GetTaskResponse(
        task_id=str(task.external_id),
        creator=task.creator,
        function_id=str(task.function_id),
        function_owner=task.function_owner,
        function_arguments=arguments_text(task.function_arguments),
        inputs_ownership=ownership_to_proto(task.inputs_ownership),
        outputs_ownership=ownership_to_proto(task.outputs_ownership),
        participants=sorted(task.participants),
        approved_users=sorted(task.approved_users),
        assigned_inputs=[
            fe.DataMap(data_name=n, data_id=str(f.external_id))
            for n, f in sorted(task.assigned_inputs.items())
        ],
        assigned_outputs=[
            fe.DataMap(data_name=n, data_id=str(f.external_id))
            for n, f in sorted(task.assigned_outputs.items())
        ],
        status=int(task.status),  # type: ignore[arg-type]
    )
    response.result.CopyFrom(result_to_proto(task.result))
    return response
