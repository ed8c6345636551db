"""Records and conversions (Teaclave's management unit tests, §10.3), without any server."""

from __future__ import annotations

import json
import uuid

import pytest

from teaclave.proto import teaclave_common_pb2 as common_pb
from teaclave.proto import teaclave_frontend_service_pb2 as fe
from teaclave.services.management.audit import AuditEntry
from teaclave.services.management.convert import (
    arguments_text,
    function_from_request,
    function_response,
    parse_arguments,
    parse_id,
    result_to_proto,
    task_response,
)
from teaclave.services.management.records import DisabledFunction, disabled_key, staged_task_key
from teaclave.types import serde
from teaclave.types.errors import InvalidArgument
from teaclave.types.files import FileCrypto, InputFile, OutputFile
from teaclave.types.function import (
    Executor,
    ExecutorType,
    Function,
    FunctionArgument,
    FunctionIo,
    quota_from_wire,
)
from teaclave.types.ids import FUNCTION_PREFIX, INPUT_PREFIX, OUTPUT_PREFIX, TASK_PREFIX
from teaclave.types.task import (
    StagedInput,
    StagedOutput,
    StagedTask,
    TaskOutputs,
    TaskResult,
    TaskState,
    TaskStatus,
)

URL = "s3://bucket_id/path?token=mock_token"


def mock_function(**changes) -> Function:
    fields = {
        "name": "mock_function",
        "description": "mock function",
        "executor_type": ExecutorType.PYTHON,
        "public": True,
        "payload": b"python script",
        "arguments": [FunctionArgument("arg", "", True)],
        "inputs": [FunctionIo("input", "input_desc")],
        "outputs": [FunctionIo("output", "output_desc")],
        "owner": "mock_user",
        "user_allowlist": [],
    }
    fields.update(changes)
    return Function(**fields)


def round_trip(record, cls):
    return cls.from_json(json.loads(serde.dumps(record.to_json())))


def test_handle_input_file():
    file = InputFile(URL, bytes(16), FileCrypto.random_protected(), frozenset({"mock_user"}))
    assert str(file.external_id).startswith(f"{INPUT_PREFIX}-")
    assert round_trip(file, InputFile) == file


def test_handle_output_file():
    file = OutputFile(URL, FileCrypto.random_protected(), frozenset({"mock_user"}))
    assert str(file.external_id).startswith(f"{OUTPUT_PREFIX}-")
    assert round_trip(file, OutputFile) == file


def test_handle_function():
    function = mock_function()
    assert str(function.external_id).startswith(f"{FUNCTION_PREFIX}-")
    assert round_trip(function, Function) == function


def test_check_function_quota():
    assert mock_function().usage_quota is None
    assert quota_from_wire(-5) is None
    assert quota_from_wire(-1) is None
    assert quota_from_wire(5) == 5
    assert quota_from_wire(0) == 0
    request = fe.RegisterFunctionRequest(name="f", executor_type="builtin", usage_quota=-5)
    assert function_from_request(request, "u").usage_quota is None
    request.usage_quota = 5
    assert function_from_request(request, "u").usage_quota == 5


def test_deserialize_function_arguments():
    function = mock_function(
        arguments=[
            FunctionArgument("n_iterations", "", True),
            FunctionArgument("learning_rate", "", True),
            FunctionArgument("max_depth", "10", False),
        ],
        inputs=[],
        outputs=[],
    )
    requested = parse_arguments('{"n_iterations": 4, "learning_rate": 0.1}')
    task = TaskState.create(
        creator="mock_user",
        function=function,
        arguments=requested,
        executor=Executor.BUILTIN,
        inputs_ownership={},
        outputs_ownership={},
    )
    assert task.function_arguments == {"n_iterations": 4, "learning_rate": 0.1, "max_depth": "10"}
    assert isinstance(task.function_arguments["n_iterations"], int)
    # A non-overwritable default stays a string: it does not deserialize as an integer.
    assert not isinstance(task.function_arguments["max_depth"], int)
    assert arguments_text(task.function_arguments) == (
        '{"learning_rate":0.1,"max_depth":"10","n_iterations":4}'
    )


def test_handle_task():
    task = TaskState.create(
        creator="mock_user",
        function=mock_function(inputs=[], outputs=[]),
        arguments={"arg": "data"},
        executor=Executor.MESAPY,
        inputs_ownership={},
        outputs_ownership={},
    )
    assert task.participants == frozenset({"mock_user"})
    assert str(task.external_id).startswith(f"{TASK_PREFIX}-")
    assert round_trip(task, TaskState) == task


def test_handle_staged_task():
    staged = StagedTask(
        task_id=uuid.uuid4(),
        function_id=uuid.uuid4(),
        user_id="mock_user",
        executor=Executor.MESAPY,
        executor_type=ExecutorType.PYTHON,
        function_name="mock_function",
        function_arguments={"arg": "data"},
        function_payload=b"python script",
        input_data={"input": StagedInput(URL, bytes(16), FileCrypto.random_protected())},
        output_data={"output": StagedOutput(URL, FileCrypto.random_protected())},
    )
    assert StagedTask.from_bytes(staged.to_bytes()) == staged
    assert staged_task_key(staged.task_id) == f"stagedtask-{staged.task_id}".encode()


def test_audit_entry_conversion():
    epoch = AuditEntry(0, bytes(16), "", "", False)
    assert AuditEntry.from_proto(epoch.to_proto()) == epoch
    assert AuditEntry.from_json(json.loads(serde.dumps(epoch.to_json()))) == epoch
    key = epoch.key(uuid.UUID(int=1)).decode()
    assert key == "audit-00000000000000000000-00000000-0000-0000-0000-000000000001"
    with pytest.raises(InvalidArgument, match=r"^audit log error, reason: logs\[3\]\.ip"):
        AuditEntry.from_proto(common_pb.Entry(ip=b"\0" * 4), "logs[3]")


def test_disabled_marker_round_trip():
    marker = DisabledFunction.now(uuid.uuid4(), "owner")
    assert round_trip(marker, DisabledFunction) == marker
    assert disabled_key(marker.function_id) == f"disabled-{marker.function_id}".encode()


def test_parse_id_keeps_teaclave_text_and_names_the_field():
    with pytest.raises(InvalidArgument) as info:
        parse_id(f"output-{uuid.UUID(int=1)}", INPUT_PREFIX, "inputs[2].data_id")
    assert info.value.message.startswith("invalid data id: inputs[2].data_id: ")
    with pytest.raises(InvalidArgument, match=r"^invalid task id: task_id: "):
        parse_id("task-xyz", TASK_PREFIX, "task_id")
    parsed = parse_id(f"function-{uuid.UUID(int=3)}", FUNCTION_PREFIX, "function_id")
    assert parsed.uuid == uuid.UUID(int=3)


def test_function_response_restricted_view():
    function = mock_function(public=False, user_allowlist=["a"])
    full = function_response(function, restricted=False)
    assert (full.payload, list(full.user_allowlist)) == (b"python script", ["a"])
    assert full.executor_type == "python"
    restricted = function_response(function, restricted=True)
    assert (restricted.payload, list(restricted.user_allowlist)) == (b"", [])
    assert restricted.inputs[0].name == "input"


def test_task_result_to_proto():
    assert result_to_proto(TaskResult()).WhichOneof("result") is None
    err = result_to_proto(TaskResult.failure("Task canceled"))
    assert (err.WhichOneof("result"), err.Err.reason) == ("Err", "Task canceled")
    ok = result_to_proto(
        TaskResult.success(TaskOutputs(b"summary", {"out": b"t" * 16}, ["[INFO] line"]))
    )
    assert ok.WhichOneof("result") == "Ok"
    assert (ok.Ok.return_value, dict(ok.Ok.tags_map), list(ok.Ok.log)) == (
        b"summary",
        {"out": b"t" * 16},
        ["[INFO] line"],
    )


def test_task_response_reports_assigned_files_by_id():
    function = mock_function(arguments=[])
    task = TaskState.create(
        creator="a",
        function=function,
        arguments={},
        executor=Executor.MESAPY,
        inputs_ownership={"input": frozenset({"a"})},
        outputs_ownership={"output": frozenset({"a", "b"})},
    )
    in_file = InputFile(URL, bytes(16), FileCrypto.random_protected(), frozenset({"a"}))
    out_file = OutputFile(URL, FileCrypto.random_protected(), frozenset({"a", "b"}))
    task.assign_data("a", {"input": in_file}, {"output": out_file})
    response = task_response(task)
    assert response.status == TaskStatus.DATA_ASSIGNED
    assert [(d.data_name, d.data_id) for d in response.assigned_inputs] == [
        ("input", str(in_file.external_id))
    ]
    assert [(d.data_name, d.data_id) for d in response.assigned_outputs] == [
        ("output", str(out_file.external_id))
    ]
    assert [(o.data_name, list(o.uids)) for o in response.outputs_ownership] == [
        ("output", ["a", "b"])
    ]
    assert list(response.participants) == ["a", "b"]
