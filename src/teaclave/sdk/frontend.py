"""``FrontendService``: functions, data, tasks and audit logs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from google.protobuf import empty_pb2
from google.protobuf.json_format import MessageToDict

from teaclave.proto import teaclave_common_pb2 as common_pb
from teaclave.proto import teaclave_frontend_service_pb2 as pb
from teaclave.rpc.apis import TeaclaveFrontend
from teaclave.rpc.context import WAIT_METADATA
from teaclave.sdk._errors import TeaclaveException
from teaclave.sdk._messages import (
    CryptoInfo,
    DataMap,
    FunctionArgument,
    FunctionInput,
    FunctionOutput,
    OwnerList,
    TaskStatus,
    as_bytes,
)
from teaclave.sdk._service import TeaclaveService

_ENDED = (TaskStatus.Finished, TaskStatus.Canceled, TaskStatus.Failed)
LONG_POLL_SECS = 10.0


def _function_fields(
    name: str,
    description: str,
    executor_type: str,
    public: bool,
    payload: bytes | Iterable[int],
    arguments: Sequence[FunctionArgument],
    inputs: Sequence[FunctionInput],
    outputs: Sequence[FunctionOutput],
    user_allowlist: Sequence[str],
    usage_quota: int,
) -> dict[str, Any]:
    """The fields RegisterFunctionRequest and UpdateFunctionRequest share."""
    return {
        "name": name,
        "description": description,
        "executor_type": executor_type,
        "public": public,
        "payload": as_bytes(payload),
        "arguments": [a.message for a in arguments],
        "inputs": [i.message for i in inputs],
        "outputs": [o.message for o in outputs],
        "user_allowlist": list(user_allowlist),
        "usage_quota": usage_quota,
    }


class FrontendService(TeaclaveService):
    """Client of the frontend API (port 7777). Set ``metadata`` (from a login) before calls."""

    name = "frontend"
    api = TeaclaveFrontend

    # ------------------------------------------------------------------ functions
    def register_function(
        self,
        name: str,
        description: str,
        executor_type: str,
        public: bool = True,
        payload: bytes | Iterable[int] = b"",
        arguments: Sequence[FunctionArgument] = (),
        inputs: Sequence[FunctionInput] = (),
        outputs: Sequence[FunctionOutput] = (),
        user_allowlist: Sequence[str] = (),
        usage_quota: int = -1,
    ) -> str:
        """Register a function; returns its id (``function-<uuid>``)."""
        request = pb.RegisterFunctionRequest(
            **_function_fields(
                name,
                description,
                executor_type,
                public,
                payload,
                arguments,
                inputs,
                outputs,
                user_allowlist,
                usage_quota,
            )
        )
        return str(self._call("RegisterFunction", request, pb.RegisterFunctionResponse).function_id)

    def update_function(
        self,
        function_id: str,
        name: str,
        description: str,
        executor_type: str,
        public: bool = True,
        payload: bytes | Iterable[int] = b"",
        arguments: Sequence[FunctionArgument] = (),
        inputs: Sequence[FunctionInput] = (),
        outputs: Sequence[FunctionOutput] = (),
        user_allowlist: Sequence[str] = (),
        usage_quota: int = -1,
    ) -> str:
        """Replace a function's definition (same id); returns the id."""
        request = pb.UpdateFunctionRequest(
            function_id=function_id,
            **_function_fields(
                name,
                description,
                executor_type,
                public,
                payload,
                arguments,
                inputs,
                outputs,
                user_allowlist,
                usage_quota,
            ),
        )
        return str(self._call("UpdateFunction", request, pb.UpdateFunctionResponse).function_id)

    def list_functions(self, user_id: str) -> dict[str, Any]:
        """``{"registered_functions": [...], "allowed_functions": [...]}`` of a user."""
        response = self._call(
            "ListFunctions", pb.ListFunctionsRequest(user_id=user_id), pb.ListFunctionsResponse
        )
        return {
            "registered_functions": list(response.registered_functions),
            "allowed_functions": list(response.allowed_functions),
        }

    def get_function(self, function_id: str) -> pb.GetFunctionResponse:
        """A function's definition (payload and allowlist blanked for allowlisted non-owners)."""
        return self._call(
            "GetFunction", pb.GetFunctionRequest(function_id=function_id), pb.GetFunctionResponse
        )

    def get_function_usage_stats(self, function_id: str) -> pb.GetFunctionUsageStatsResponse:
        """``function_quota`` (-1 unlimited) and ``current_usage``."""
        return self._call(
            "GetFunctionUsageStats",
            pb.GetFunctionUsageStatsRequest(function_id=function_id),
            pb.GetFunctionUsageStatsResponse,
        )

    def delete_function(self, function_id: str) -> None:
        """Delete a function (owner only)."""
        self._call(
            "DeleteFunction", pb.DeleteFunctionRequest(function_id=function_id), empty_pb2.Empty
        )

    def disable_function(self, function_id: str) -> None:
        """Disable a function: it can no longer be used for new tasks."""
        self._call(
            "DisableFunction", pb.DisableFunctionRequest(function_id=function_id), empty_pb2.Empty
        )

    # ------------------------------------------------------------------ data
    def register_input_file(
        self,
        url: str,
        schema: str,
        key: bytes | Iterable[int],
        iv: bytes | Iterable[int],
        cmac: bytes | Iterable[int],
    ) -> str:
        """Register an encrypted input file; returns ``input-<uuid>``."""
        request = pb.RegisterInputFileRequest(
            url=url, cmac=as_bytes(cmac), crypto_info=CryptoInfo(schema, key, iv).message
        )
        return str(self._call("RegisterInputFile", request, pb.RegisterInputFileResponse).data_id)

    def register_output_file(
        self, url: str, schema: str, key: bytes | Iterable[int], iv: bytes | Iterable[int]
    ) -> str:
        """Register where an output goes and how to encrypt it; returns ``output-<uuid>``."""
        request = pb.RegisterOutputFileRequest(
            url=url, crypto_info=CryptoInfo(schema, key, iv).message
        )
        return str(self._call("RegisterOutputFile", request, pb.RegisterOutputFileResponse).data_id)

    def update_input_file(self, data_id: str, url: str) -> str:
        """Register a copy of an input file at a new URL; returns the new id."""
        request = pb.UpdateInputFileRequest(data_id=data_id, url=url)
        return str(self._call("UpdateInputFile", request, pb.UpdateInputFileResponse).data_id)

    def update_output_file(self, data_id: str, url: str) -> str:
        """Register a copy of an output file at a new URL; returns the new id."""
        request = pb.UpdateOutputFileRequest(data_id=data_id, url=url)
        return str(self._call("UpdateOutputFile", request, pb.UpdateOutputFileResponse).data_id)

    def register_fusion_output(self, owners: Sequence[str]) -> str:
        """Register an output shared by several owners (platform-only key)."""
        request = pb.RegisterFusionOutputRequest(owner_list=list(owners))
        return str(
            self._call("RegisterFusionOutput", request, pb.RegisterFusionOutputResponse).data_id
        )

    def register_input_from_output(self, data_id: str) -> str:
        """Turn a written output into an input; returns ``input-<same uuid>``."""
        request = pb.RegisterInputFromOutputRequest(data_id=data_id)
        return str(
            self._call(
                "RegisterInputFromOutput", request, pb.RegisterInputFromOutputResponse
            ).data_id
        )

    def get_input_file(self, data_id: str) -> pb.GetInputFileResponse:
        """Owners and cmac of an input file."""
        return self._call(
            "GetInputFile", pb.GetInputFileRequest(data_id=data_id), pb.GetInputFileResponse
        )

    def get_output_file(self, data_id: str) -> pb.GetOutputFileResponse:
        """Owners and cmac (empty until written) of an output file."""
        return self._call(
            "GetOutputFile", pb.GetOutputFileRequest(data_id=data_id), pb.GetOutputFileResponse
        )

    # ------------------------------------------------------------------ tasks
    def create_task(
        self,
        function_id: str,
        function_arguments: dict[str, Any],
        executor: str,
        inputs_ownership: Sequence[OwnerList] = (),
        outputs_ownership: Sequence[OwnerList] = (),
    ) -> str:
        """Create a task; ``function_arguments`` is sent as JSON text. Returns ``task-<uuid>``."""
        request = pb.CreateTaskRequest(
            function_id=function_id,
            function_arguments=json.dumps(function_arguments),
            executor=executor,
            inputs_ownership=[o.message for o in inputs_ownership],
            outputs_ownership=[o.message for o in outputs_ownership],
        )
        return str(self._call("CreateTask", request, pb.CreateTaskResponse).task_id)

    def assign_data_to_task(
        self, task_id: str, inputs: Sequence[DataMap], outputs: Sequence[DataMap]
    ) -> None:
        """Assign the caller's registered files to task slots."""
        request = pb.AssignDataRequest(
            task_id=task_id,
            inputs=[i.message for i in inputs],
            outputs=[o.message for o in outputs],
        )
        self._call("AssignData", request, empty_pb2.Empty)

    assign_data = assign_data_to_task

    def approve_task(self, task_id: str) -> None:
        """Approve a task as one of its participants."""
        self._call("ApproveTask", pb.ApproveTaskRequest(task_id=task_id), empty_pb2.Empty)

    def invoke_task(self, task_id: str) -> None:
        """Start a fully assigned and approved task (creator only)."""
        self._call("InvokeTask", pb.InvokeTaskRequest(task_id=task_id), empty_pb2.Empty)

    def cancel_task(self, task_id: str) -> None:
        """Cancel a task (creator or PlatformAdmin)."""
        self._call("CancelTask", pb.CancelTaskRequest(task_id=task_id), empty_pb2.Empty)

    def get_task_response(self, task_id: str, wait_secs: float = 0.0) -> pb.GetTaskResponse:
        """The task as a protobuf message.

        ``wait_secs`` > 0 asks the platform to answer as soon as the task has ended (or after
        ``wait_secs``) instead of at once: a long poll.
        """
        return self._call(
            "GetTask",
            pb.GetTaskRequest(task_id=task_id),
            pb.GetTaskResponse,
            extra_metadata={WAIT_METADATA: str(int(wait_secs * 1000))} if wait_secs > 0 else None,
            timeout=self.timeout + wait_secs,
        )

    def get_task(self, task_id: str) -> dict[str, Any]:
        """The task as a dict (proto field names, integer enums), every field present."""
        return MessageToDict(
            self.get_task_response(task_id),
            preserving_proto_field_name=True,
            use_integers_for_enums=True,
            always_print_fields_with_no_presence=True,
        )

    def wait_task(self, task_id: str, timeout: float | None = None) -> pb.GetTaskResponse:
        """Wait until the task has ended (long polls: no fixed polling interval)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        wait = LONG_POLL_SECS
        while True:
            if deadline is not None:
                wait = min(LONG_POLL_SECS, max(0.0, deadline - time.monotonic()))
            task = self.get_task_response(task_id, wait_secs=wait)
            if TaskStatus(task.status) in _ENDED:
                return task
            if deadline is not None and time.monotonic() >= deadline:
                status = TaskStatus(task.status).name
                raise TeaclaveException(f"task {task_id} still {status} after {timeout} s")

    def get_task_result(self, task_id: str, timeout: float | None = None) -> bytes:
        """Wait for the task and return its result value; raises if it failed or was canceled."""
        task = self.wait_task(task_id, timeout)
        result: common_pb.TaskResult = task.result
        if TaskStatus(task.status) is TaskStatus.Finished and result.HasField("Ok"):
            return bytes(result.Ok.return_value)
        reason = result.Err.reason if result.HasField("Err") else "no result"
        raise TeaclaveException(f"task {TaskStatus(task.status).name}: {reason}")

    def get_task_log(self, task_id: str, timeout: float | None = None) -> list[str]:
        """Captured log lines of a finished task (needs the ``save_log`` argument)."""
        task = self.wait_task(task_id, timeout)
        return list(task.result.Ok.log) if task.result.HasField("Ok") else []

    def get_output_cmac_by_tag(self, task_id: str, tag: str, timeout: float | None = None) -> bytes:
        """Wait for the task and return the new cmac of output ``tag``."""
        task = self.wait_task(task_id, timeout)
        if TaskStatus(task.status) is not TaskStatus.Finished or not task.result.HasField("Ok"):
            raise TeaclaveException(f"task {task_id} did not finish: {task.result.Err.reason}")
        if tag not in task.result.Ok.tags_map:
            raise TeaclaveException(f"task {task_id} has no output named {tag!r}")
        return bytes(task.result.Ok.tags_map[tag])

    # ------------------------------------------------------------------ audit
    def query_audit_logs(self, query: str, limit: int) -> list[common_pb.Entry]:
        """Audit entries matching ``query``, newest first (PlatformAdmin only)."""
        request = pb.QueryAuditLogsRequest(query=query, limit=limit)
        return list(self._call("QueryAuditLogs", request, pb.QueryAuditLogsResponse).logs)
