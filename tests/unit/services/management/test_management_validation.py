"""Who may call management, what metadata it needs, and how malformed requests are refused.

Every malformed request gets INVALID_ARGUMENT naming the field and leaves storage untouched.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from google.protobuf.message import Message

from teaclave.config.build import EXECUTION, SCHEDULER
from teaclave.proto import teaclave_common_pb2 as common_pb
from teaclave.proto import teaclave_frontend_service_pb2 as fe
from teaclave.proto import teaclave_management_service_pb2 as mg
from teaclave.rpc.apis import TeaclaveManagement
from teaclave.rpc.errors import RemoteError
from teaclave.rpc.service import message_class
from teaclave.types.errors import StatusCode

ALL_RPCS = [m.name for m in TeaclaveManagement.methods]
ROLE_RPCS = [
    "GetFunction",
    "GetFunctionUsageStats",
    "DisableFunction",
    "ListFunctions",
    "CreateTask",
    "GetTask",
    "CancelTask",
    "QueryAuditLogs",
]
UUID = "00000000-0000-0000-0000-0000000000aa"


def test_management_has_23_rpcs():
    assert len(ALL_RPCS) == 23


@pytest.mark.parametrize("rpc", ALL_RPCS)
def test_every_rpc_needs_the_user_id(mgmt, platform, rpc):
    request = message_class(TeaclaveManagement.methods_by_name[rpc].input_type)()
    before = platform.snapshot()
    message = mgmt.fail(StatusCode.UNAUTHENTICATED, rpc, request, user=None)
    assert message == "missing user id"
    assert platform.snapshot() == before


@pytest.mark.parametrize("rpc", ROLE_RPCS)
def test_role_dependent_rpcs_need_the_role(mgmt, rpc):
    request = message_class(TeaclaveManagement.methods_by_name[rpc].input_type)()
    message = mgmt.fail(StatusCode.UNAUTHENTICATED, rpc, request, role=None)
    assert message == "missing user role"


@pytest.mark.parametrize("identity", [SCHEDULER, EXECUTION])
def test_only_the_frontend_may_connect(platform, identity):
    client = platform.client(identity)
    try:
        with pytest.raises(RemoteError) as info:
            client.call(
                "GetFunction",
                fe.GetFunctionRequest(function_id=f"function-{UUID}"),
                fe.GetFunctionResponse,
                metadata={"id": "mock_user", "role": "PlatformAdmin"},
                timeout=10,
            )
        assert info.value.code is StatusCode.PERMISSION_DENIED
        assert identity in info.value.message
    finally:
        client.close()


# ---------------------------------------------------------------------- malformed requests
@dataclass
class Existing:
    input_id: str
    output_id: str
    function_id: str
    task_id: str


@pytest.fixture(scope="module")
def existing(mgmt) -> Existing:
    function_id = mgmt.function(
        "mock_user",
        arguments=[fe.FunctionArgument(key="a", allow_overwrite=True)],
        inputs=[fe.FunctionInput(name="in")],
    )
    return Existing(
        input_id=mgmt.input_file("mock_user"),
        output_id=mgmt.output_file("mock_user"),
        function_id=function_id,
        task_id=mgmt.task(
            "mock_user",
            function_id=function_id,
            function_arguments={"a": 1},
            inputs_ownership={"in": ["mock_user"]},
        ),
    )


def crypto(schema: str = "teaclave-file-128", key: bytes = b"k" * 16, iv: bytes = b"") -> Any:
    return common_pb.FileCryptoInfo(schema=schema, key=key, iv=iv)


def owner_list(name: str, uids: list[str]) -> fe.OwnerList:
    return fe.OwnerList(data_name=name, uids=uids)


def data_map(name: str, data_id: str) -> fe.DataMap:
    return fe.DataMap(data_name=name, data_id=data_id)


def input_request(**changes: Any) -> fe.RegisterInputFileRequest:
    fields: dict[str, Any] = {"url": "https://host/f", "cmac": b"c" * 16, "crypto_info": crypto()}
    fields.update(changes)
    return fe.RegisterInputFileRequest(**{k: v for k, v in fields.items() if v is not None})


def output_request(**changes: Any) -> fe.RegisterOutputFileRequest:
    fields: dict[str, Any] = {"url": "https://host/f", "crypto_info": crypto()}
    fields.update(changes)
    return fe.RegisterOutputFileRequest(**{k: v for k, v in fields.items() if v is not None})


def function_request(kind: type[Message] = fe.RegisterFunctionRequest, **changes: Any) -> Any:
    fields: dict[str, Any] = {"name": "f", "executor_type": "python", "public": True}
    fields.update(changes)
    return kind(**fields)


def task_request(e: Existing, **changes: Any) -> fe.CreateTaskRequest:
    fields: dict[str, Any] = {
        "function_id": e.function_id,
        "function_arguments": '{"a": 1}',
        "executor": "mesapy",
        "inputs_ownership": [owner_list("in", ["mock_user"])],
    }
    fields.update(changes)
    return fe.CreateTaskRequest(**fields)


def entry(ip: bytes = bytes(16), microsecond: int = 1) -> common_pb.Entry:
    return common_pb.Entry(microsecond=microsecond, ip=ip, user="u", message="m", result=True)


def bad_ids(prefix: str) -> list[str]:
    other = "task" if prefix != "task" else "function"
    return ["", f"{prefix}-not-a-uuid", f"{other}-{UUID}", UUID, f"{prefix}{UUID}"]


# (rpc, build request from the existing records, text the message must contain)
CASES: list[tuple[str, Any, str]] = [
    ("RegisterInputFile", lambda e: input_request(url=""), "url: empty"),
    ("RegisterInputFile", lambda e: input_request(url="not a url"), "url: "),
    ("RegisterInputFile", lambda e: input_request(cmac=b"c" * 15), "cmac: expected 16 bytes"),
    ("RegisterInputFile", lambda e: input_request(cmac=b"c" * 17), "cmac: expected 16 bytes"),
    ("RegisterInputFile", lambda e: input_request(cmac=b""), "cmac: "),
    ("RegisterInputFile", lambda e: input_request(crypto_info=None), "crypto_info: missing"),
    (
        "RegisterInputFile",
        lambda e: input_request(crypto_info=crypto("aes-gcm-512")),
        "crypto_info.schema",
    ),
    (
        "RegisterInputFile",
        lambda e: input_request(crypto_info=crypto("aes-gcm-128", b"k" * 15, b"i" * 12)),
        "crypto_info.key",
    ),
    (
        "RegisterInputFile",
        lambda e: input_request(crypto_info=crypto("aes-gcm-128", b"k" * 16, b"i" * 11)),
        "crypto_info.iv",
    ),
    (
        "RegisterInputFile",
        lambda e: input_request(crypto_info=crypto("aes-gcm-256", b"k" * 16, b"i" * 12)),
        "crypto_info.key",
    ),
    (
        "RegisterInputFile",
        lambda e: input_request(crypto_info=crypto("teaclave-file-128", b"k" * 16, b"i" * 12)),
        "crypto_info.iv",
    ),
    ("RegisterOutputFile", lambda e: output_request(url=""), "url: empty"),
    ("RegisterOutputFile", lambda e: output_request(crypto_info=None), "crypto_info: missing"),
    ("RegisterOutputFile", lambda e: output_request(crypto_info=crypto("raw")), "crypto_info"),
    (
        "RegisterOutputFile",
        lambda e: output_request(crypto_info=crypto("teaclave-file-128", b"k")),
        "crypto_info.key",
    ),
    *[
        (
            "UpdateInputFile",
            lambda e, i=i: fe.UpdateInputFileRequest(data_id=i, url="https://h/x"),
            "invalid data id: data_id",
        )
        for i in bad_ids("input")
    ],
    (
        "UpdateInputFile",
        lambda e: fe.UpdateInputFileRequest(data_id=e.input_id, url="nope"),
        "url: ",
    ),
    (
        "UpdateInputFile",
        lambda e: fe.UpdateInputFileRequest(data_id=e.output_id, url="https://h/x"),
        "invalid data id: data_id",
    ),
    *[
        (
            "UpdateOutputFile",
            lambda e, i=i: fe.UpdateOutputFileRequest(data_id=i, url="https://h/x"),
            "invalid data id: data_id",
        )
        for i in bad_ids("output")
    ],
    (
        "UpdateOutputFile",
        lambda e: fe.UpdateOutputFileRequest(data_id=e.output_id, url=""),
        "url: empty",
    ),
    ("RegisterFusionOutput", lambda e: fe.RegisterFusionOutputRequest(), "owner_list: empty"),
    (
        "RegisterFusionOutput",
        lambda e: fe.RegisterFusionOutputRequest(owner_list=["mock_user", ""]),
        "owner_list[1]: empty",
    ),
    (
        "RegisterFusionOutput",
        lambda e: fe.RegisterFusionOutputRequest(owner_list=["mock_user", "b", "b"]),
        "owner_list[2]: duplicate",
    ),
    *[
        (
            "RegisterInputFromOutput",
            lambda e, i=i: fe.RegisterInputFromOutputRequest(data_id=i),
            "invalid data id: data_id",
        )
        for i in [*bad_ids("output"), f"input-{UUID}"]
    ],
    *[
        (
            "GetOutputFile",
            lambda e, i=i: fe.GetOutputFileRequest(data_id=i),
            "invalid data id: data_id",
        )
        for i in bad_ids("output")
    ],
    *[
        (
            "GetInputFile",
            lambda e, i=i: fe.GetInputFileRequest(data_id=i),
            "invalid data id: data_id",
        )
        for i in bad_ids("input")
    ],
    ("RegisterFunction", lambda e: function_request(executor_type="java"), "executor_type: "),
    ("RegisterFunction", lambda e: function_request(executor_type=""), "executor_type: "),
    ("RegisterFunction", lambda e: function_request(name=""), "name: empty"),
    (
        "RegisterFunction",
        lambda e: function_request(
            arguments=[fe.FunctionArgument(key="a"), fe.FunctionArgument(key="a")]
        ),
        "arguments[1]: duplicate",
    ),
    (
        "RegisterFunction",
        lambda e: function_request(inputs=[fe.FunctionInput(name="x"), fe.FunctionInput(name="x")]),
        "inputs[1]: duplicate",
    ),
    (
        "RegisterFunction",
        lambda e: function_request(outputs=[fe.FunctionOutput(name="")]),
        "outputs[0]: empty",
    ),
    (
        "RegisterFunction",
        lambda e: function_request(user_allowlist=["a", ""]),
        "user_allowlist[1]: empty",
    ),
    (
        "RegisterFunction",
        lambda e: function_request(user_allowlist=["a", "a"]),
        "user_allowlist[1]: duplicate",
    ),
    *[
        (
            "UpdateFunction",
            lambda e, i=i: function_request(fe.UpdateFunctionRequest, function_id=i),
            "invalid function id: function_id",
        )
        for i in bad_ids("function")
    ],
    (
        "UpdateFunction",
        lambda e: function_request(
            fe.UpdateFunctionRequest, function_id=e.function_id, executor_type="mesapy"
        ),
        "executor_type: ",
    ),
    *[
        (rpc, lambda e, i=i, m=m: m(function_id=i), "invalid function id: function_id")
        for rpc, m in [
            ("GetFunction", fe.GetFunctionRequest),
            ("GetFunctionUsageStats", fe.GetFunctionUsageStatsRequest),
            ("DeleteFunction", fe.DeleteFunctionRequest),
            ("DisableFunction", fe.DisableFunctionRequest),
        ]
        for i in bad_ids("function")
    ],
    ("ListFunctions", lambda e: fe.ListFunctionsRequest(), "user_id: empty"),
    *[
        (
            "CreateTask",
            lambda e, i=i: task_request(e, function_id=i),
            "invalid function id: function_id",
        )
        for i in bad_ids("function")
    ],
    ("CreateTask", lambda e: task_request(e, function_arguments=""), "function_arguments: "),
    ("CreateTask", lambda e: task_request(e, function_arguments="[1]"), "function_arguments: "),
    ("CreateTask", lambda e: task_request(e, function_arguments='"a"'), "function_arguments: "),
    ("CreateTask", lambda e: task_request(e, function_arguments="{bad"), "function_arguments: "),
    (
        "CreateTask",
        lambda e: task_request(e, function_arguments='{"a": NaN}'),
        "function_arguments: ",
    ),
    ("CreateTask", lambda e: task_request(e, executor="python"), "executor: "),
    ("CreateTask", lambda e: task_request(e, executor=""), "executor: "),
    (
        "CreateTask",
        lambda e: task_request(e, inputs_ownership=[owner_list("", ["mock_user"])]),
        "inputs_ownership[0].data_name: empty",
    ),
    (
        "CreateTask",
        lambda e: task_request(
            e, inputs_ownership=[owner_list("in", ["mock_user"]), owner_list("in", ["x"])]
        ),
        "inputs_ownership[1].data_name: duplicate",
    ),
    (
        "CreateTask",
        lambda e: task_request(e, inputs_ownership=[owner_list("in", [])]),
        "inputs_ownership[0].uids: empty",
    ),
    (
        "CreateTask",
        lambda e: task_request(e, inputs_ownership=[owner_list("in", ["mock_user", ""])]),
        "inputs_ownership[0].uids[1]: empty",
    ),
    (
        "CreateTask",
        lambda e: task_request(e, outputs_ownership=[owner_list("out", ["u", "u"])]),
        "outputs_ownership[0].uids[1]: duplicate",
    ),
    *[
        (rpc, lambda e, i=i, m=m: m(task_id=i), "invalid task id: task_id")
        for rpc, m in [
            ("GetTask", fe.GetTaskRequest),
            ("AssignData", fe.AssignDataRequest),
            ("ApproveTask", fe.ApproveTaskRequest),
            ("InvokeTask", fe.InvokeTaskRequest),
            ("CancelTask", fe.CancelTaskRequest),
        ]
        for i in bad_ids("task")
    ],
    (
        "AssignData",
        lambda e: fe.AssignDataRequest(task_id=e.task_id, inputs=[data_map("in", e.output_id)]),
        "invalid data id: inputs[0].data_id",
    ),
    (
        "AssignData",
        lambda e: fe.AssignDataRequest(task_id=e.task_id, outputs=[data_map("o", e.input_id)]),
        "invalid data id: outputs[0].data_id",
    ),
    (
        "AssignData",
        lambda e: fe.AssignDataRequest(task_id=e.task_id, inputs=[data_map("", e.input_id)]),
        "inputs[0].data_name: empty",
    ),
    (
        "AssignData",
        lambda e: fe.AssignDataRequest(
            task_id=e.task_id, inputs=[data_map("in", e.input_id), data_map("in", e.input_id)]
        ),
        "inputs[1].data_name: duplicate",
    ),
    (
        "AssignData",
        lambda e: fe.AssignDataRequest(
            task_id=e.task_id, inputs=[data_map("in", f"input-{uuid.UUID(int=77)}")]
        ),
        "invalid data id: inputs[0].data_id",
    ),
    ("SaveLogs", lambda e: mg.SaveLogsRequest(logs=[entry(ip=b"\x7f\0\0\x01")]), "logs[0].ip"),
    ("SaveLogs", lambda e: mg.SaveLogsRequest(logs=[entry(), entry(ip=b"")]), "logs[1].ip"),
    ("SaveLogs", lambda e: mg.SaveLogsRequest(logs=[entry(microsecond=-1)]), "logs[0].microsecond"),
    ("QueryAuditLogs", lambda e: fe.QueryAuditLogsRequest(query="*"), "limit: must be > 0"),
    ("QueryAuditLogs", lambda e: fe.QueryAuditLogsRequest(query="", limit=1), "query: "),
    ("QueryAuditLogs", lambda e: fe.QueryAuditLogsRequest(query="foo:bar", limit=1), "query: "),
    ("QueryAuditLogs", lambda e: fe.QueryAuditLogsRequest(query="(a)", limit=1), "query: "),
]


def _case_id(case: tuple[str, Any, str]) -> str:
    return f"{case[0]}-{case[2]}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_malformed_requests_are_refused_without_writing(mgmt, platform, existing, case):
    rpc, build, expected = case
    request = build(existing)
    before = platform.snapshot()
    message = mgmt.fail(StatusCode.INVALID_ARGUMENT, rpc, request)
    assert expected in message
    assert platform.snapshot() == before


def test_every_rpc_has_a_malformed_request_case():
    covered = {case[0] for case in CASES}
    assert covered == set(ALL_RPCS)


def test_id_errors_keep_teaclave_text(mgmt):
    checks = [
        ("GetInputFile", fe.GetInputFileRequest(data_id="x"), "invalid data id"),
        ("GetFunction", fe.GetFunctionRequest(function_id="x"), "invalid function id"),
        ("GetTask", fe.GetTaskRequest(task_id="x"), "invalid task id"),
    ]
    for rpc, request, text in checks:
        assert mgmt.fail(StatusCode.INVALID_ARGUMENT, rpc, request).startswith(text + ": ")
