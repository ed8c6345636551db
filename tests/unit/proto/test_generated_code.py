"""The committed generated code is current, and it carries Teaclave 0.6's exact wire names."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import FieldDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from repo_scripts import load_script

from teaclave.proto import (
    teaclave_access_control_service_pb2,
    teaclave_authentication_service_pb2,
    teaclave_common_pb2,
    teaclave_frontend_service_pb2,
    teaclave_management_service_pb2,
    teaclave_scheduler_service_pb2,
    teaclave_storage_service_pb2,
)

REPO_ROOT = Path(__file__).parents[3]
PROTO_DIR = REPO_ROOT / "src" / "teaclave" / "proto"

PROTO_STEMS = [
    "teaclave_common",
    "teaclave_authentication_service",
    "teaclave_frontend_service",
    "teaclave_management_service",
    "teaclave_access_control_service",
    "teaclave_scheduler_service",
    "teaclave_storage_service",
]

FRONTEND_RPCS = [
    "RegisterInputFile",
    "RegisterOutputFile",
    "UpdateInputFile",
    "UpdateOutputFile",
    "RegisterFusionOutput",
    "RegisterInputFromOutput",
    "GetOutputFile",
    "GetInputFile",
    "RegisterFunction",
    "GetFunction",
    "GetFunctionUsageStats",
    "UpdateFunction",
    "ListFunctions",
    "DeleteFunction",
    "DisableFunction",
    "CreateTask",
    "GetTask",
    "AssignData",
    "ApproveTask",
    "InvokeTask",
    "CancelTask",
    "QueryAuditLogs",
]

MANAGEMENT_RPCS = [
    "RegisterInputFile",
    "RegisterOutputFile",
    "UpdateInputFile",
    "UpdateOutputFile",
    "RegisterFusionOutput",
    "RegisterInputFromOutput",
    "GetOutputFile",
    "GetInputFile",
    "RegisterFunction",
    "UpdateFunction",
    "GetFunction",
    "GetFunctionUsageStats",
    "DeleteFunction",
    "DisableFunction",
    "ListFunctions",
    "CreateTask",
    "GetTask",
    "AssignData",
    "ApproveTask",
    "InvokeTask",
    "CancelTask",
    "SaveLogs",
    "QueryAuditLogs",
]


def load_gen_proto() -> ModuleType:
    """Import scripts/gen_proto.py."""
    return load_script("gen_proto")


def service(module: ModuleType, name: str) -> ServiceDescriptor:
    svc: ServiceDescriptor = module.DESCRIPTOR.services_by_name[name]
    return svc


def method_path(svc: ServiceDescriptor, rpc: str) -> str:
    return f"/{svc.full_name}/{svc.methods_by_name[rpc].name}"


def field(message: type[Message], name: str) -> FieldDescriptor:
    # types-protobuf types this as a union of the pure-Python and upb descriptor classes.
    return message.DESCRIPTOR.fields_by_name[name]  # type: ignore[return-value]


# --- drift -----------------------------------------------------------------------------------


def test_generator_output_matches_committed_files(tmp_path: Path) -> None:
    gen_proto = load_gen_proto()
    gen_proto.generate(tmp_path, PROTO_DIR)

    fresh = sorted(p.name for p in tmp_path.iterdir())
    expected = sorted(
        f"{stem}{suffix}"
        for stem in PROTO_STEMS
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
    )
    assert fresh == expected
    for name in fresh:
        committed = PROTO_DIR / name
        assert committed.exists(), f"{name} is not committed; run `python scripts/gen_proto.py`"
        assert (tmp_path / name).read_bytes() == committed.read_bytes(), (
            f"{name} is stale; run `python scripts/gen_proto.py`"
        )
    assert gen_proto.compare(tmp_path, PROTO_DIR) == []


def test_check_reports_a_modified_file(tmp_path: Path) -> None:
    gen_proto = load_gen_proto()
    gen_proto.generate(tmp_path, PROTO_DIR)
    committed_copy = tmp_path / "committed"
    committed_copy.mkdir()
    for p in PROTO_DIR.iterdir():
        if gen_proto.is_generated(p):
            (committed_copy / p.name).write_bytes(p.read_bytes())
    (committed_copy / "teaclave_common_pb2.py").write_bytes(b"# edited by hand\n")
    (committed_copy / "teaclave_storage_service_pb2.pyi").unlink()

    assert gen_proto.compare(tmp_path, committed_copy) == [
        "differs: teaclave_common_pb2.py",
        "missing: teaclave_storage_service_pb2.pyi",
    ]


def test_generated_imports_are_package_relative() -> None:
    for path in sorted(PROTO_DIR.glob("*_pb2*.py*")):
        for line in path.read_text(encoding="utf-8").splitlines():
            assert not line.startswith("import teaclave_"), f"{path.name}: {line}"
            assert not line.startswith("from teaclave_"), f"{path.name}: {line}"


def test_proto_files_are_the_seven_teaclave_files() -> None:
    assert sorted(p.stem for p in PROTO_DIR.glob("*.proto")) == sorted(PROTO_STEMS)


# --- imports ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stem", PROTO_STEMS)
@pytest.mark.parametrize("suffix", ["_pb2", "_pb2_grpc"])
def test_every_generated_module_imports(stem: str, suffix: str) -> None:
    module = importlib.import_module(f"teaclave.proto.{stem}{suffix}")
    assert module.__name__ == f"teaclave.proto.{stem}{suffix}"


def test_frontend_module_imports_from_package() -> None:
    from teaclave.proto import teaclave_frontend_service_pb2 as frontend

    assert frontend.DESCRIPTOR.package == "teaclave_frontend_service_proto"


# --- packages and services -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "file_name", "package"),
    [
        (teaclave_common_pb2, "teaclave_common.proto", "teaclave_common_proto"),
        (
            teaclave_authentication_service_pb2,
            "teaclave_authentication_service.proto",
            "teaclave_authentication_service_proto",
        ),
        (
            teaclave_frontend_service_pb2,
            "teaclave_frontend_service.proto",
            "teaclave_frontend_service_proto",
        ),
        (
            teaclave_management_service_pb2,
            "teaclave_management_service.proto",
            "teaclave_management_service_proto",
        ),
        (
            teaclave_access_control_service_pb2,
            "teaclave_access_control_service.proto",
            "teaclave_access_control_service_proto",
        ),
        (
            teaclave_scheduler_service_pb2,
            "teaclave_scheduler_service.proto",
            "teaclave_scheduler_service_proto",
        ),
        (
            teaclave_storage_service_pb2,
            "teaclave_storage_service.proto",
            "teaclave_storage_service_proto",
        ),
    ],
)
def test_file_and_package_names(module: ModuleType, file_name: str, package: str) -> None:
    assert module.DESCRIPTOR.name == file_name
    assert module.DESCRIPTOR.package == package
    file_proto = descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
    assert file_proto.syntax == "proto3"


def test_authentication_method_paths() -> None:
    api = service(teaclave_authentication_service_pb2, "TeaclaveAuthenticationApi")
    assert method_path(api, "UserLogin") == (
        "/teaclave_authentication_service_proto.TeaclaveAuthenticationApi/UserLogin"
    )
    assert [m.name for m in api.methods] == [
        "UserRegister",
        "UserUpdate",
        "UserLogin",
        "UserChangePassword",
        "ResetUserPassword",
        "DeleteUser",
        "ListUsers",
    ]
    internal = service(teaclave_authentication_service_pb2, "TeaclaveAuthenticationInternal")
    assert method_path(internal, "UserAuthenticate") == (
        "/teaclave_authentication_service_proto.TeaclaveAuthenticationInternal/UserAuthenticate"
    )
    assert [m.name for m in internal.methods] == ["UserAuthenticate"]


def test_frontend_has_the_22_rpcs_in_spec_order() -> None:
    frontend = service(teaclave_frontend_service_pb2, "TeaclaveFrontend")
    assert [m.name for m in frontend.methods] == FRONTEND_RPCS
    assert len(frontend.methods) == 22
    assert method_path(frontend, "CreateTask") == (
        "/teaclave_frontend_service_proto.TeaclaveFrontend/CreateTask"
    )


def test_management_has_frontend_rpcs_plus_save_logs_in_spec_order() -> None:
    management = service(teaclave_management_service_pb2, "TeaclaveManagement")
    names = [m.name for m in management.methods]
    assert names == MANAGEMENT_RPCS
    assert len(names) == 23
    assert sorted(names) == sorted([*FRONTEND_RPCS, "SaveLogs"])


def test_management_reuses_frontend_messages() -> None:
    management = service(teaclave_management_service_pb2, "TeaclaveManagement")
    frontend = service(teaclave_frontend_service_pb2, "TeaclaveFrontend")
    for method in management.methods:
        if method.name == "SaveLogs":
            request = "teaclave_management_service_proto.SaveLogsRequest"
            assert method.input_type.full_name == request
            assert method.output_type.full_name == "google.protobuf.Empty"
            continue
        request = f"teaclave_frontend_service_proto.{method.name}Request"
        assert method.input_type.full_name == request
        frontend_method = frontend.methods_by_name[method.name]
        assert method.output_type.full_name == frontend_method.output_type.full_name


@pytest.mark.parametrize(
    ("module", "service_name", "rpcs"),
    [
        (teaclave_access_control_service_pb2, "TeaclaveAccessControl", ["AuthorizeApi"]),
        (
            teaclave_scheduler_service_pb2,
            "TeaclaveScheduler",
            [
                "PublishTask",
                "Subscribe",
                "PullTask",
                "UpdateTaskStatus",
                "UpdateTaskResult",
                "Heartbeat",
            ],
        ),
        (
            teaclave_storage_service_pb2,
            "TeaclaveStorage",
            ["Get", "Put", "Delete", "Enqueue", "Dequeue", "GetKeysByPrefix"],
        ),
    ],
)
def test_internal_service_rpcs(module: ModuleType, service_name: str, rpcs: list[str]) -> None:
    assert [m.name for m in service(module, service_name).methods] == rpcs


def test_empty_requests_and_responses() -> None:
    scheduler = service(teaclave_scheduler_service_pb2, "TeaclaveScheduler")
    subscribe = scheduler.methods_by_name["Subscribe"]
    assert subscribe.input_type.full_name == "google.protobuf.Empty"
    assert subscribe.output_type.full_name == "teaclave_scheduler_service_proto.SubscribeResponse"
    for rpc in ["DeleteFunction", "DisableFunction", "AssignData", "ApproveTask", "InvokeTask"]:
        method = service(teaclave_frontend_service_pb2, "TeaclaveFrontend").methods_by_name[rpc]
        assert method.output_type.full_name == "google.protobuf.Empty"


# --- messages, fields, enums -----------------------------------------------------------------


def test_field_numbers_with_gaps() -> None:
    fe = teaclave_frontend_service_pb2
    assert field(fe.RegisterFunctionRequest, "arguments").number == 6
    assert field(fe.RegisterFunctionRequest, "inputs").number == 10
    assert field(fe.RegisterFunctionRequest, "usage_quota").number == 13
    assert field(fe.UpdateFunctionRequest, "arguments").number == 7
    assert field(fe.CreateTaskRequest, "inputs_ownership").number == 10
    assert field(fe.GetTaskResponse, "status").number == 20
    assert field(fe.GetTaskResponse, "result").number == 21
    assert field(teaclave_common_pb2.Entry, "ip").number == 2
    assert "usage_quota" not in fe.GetFunctionResponse.DESCRIPTOR.fields_by_name


def test_field_types() -> None:
    fe = teaclave_frontend_service_pb2
    status_type = field(fe.GetTaskResponse, "status").enum_type
    assert status_type is not None
    assert status_type.full_name == "teaclave_common_proto.TaskStatus"
    result_type = field(fe.GetTaskResponse, "result").message_type
    assert result_type is not None
    assert result_type.full_name == "teaclave_common_proto.TaskResult"
    assert field(fe.RegisterFunctionRequest, "usage_quota").type == FieldDescriptor.TYPE_INT32
    assert field(fe.QueryAuditLogsRequest, "limit").type == FieldDescriptor.TYPE_UINT64
    assert field(teaclave_common_pb2.Entry, "microsecond").type == FieldDescriptor.TYPE_INT64
    assert field(teaclave_common_pb2.Entry, "ip").type == FieldDescriptor.TYPE_BYTES
    assert field(teaclave_authentication_service_pb2.UserAuthClaims, "exp").type == (
        FieldDescriptor.TYPE_UINT64
    )


def test_task_result_oneof_uses_ok_and_err() -> None:
    result = teaclave_common_pb2.TaskResult.DESCRIPTOR
    assert [f.name for f in result.oneofs_by_name["result"].fields] == ["Ok", "Err"]
    assert field(teaclave_common_pb2.TaskResult, "Ok").number == 1
    assert field(teaclave_common_pb2.TaskResult, "Err").number == 2

    not_ready = teaclave_common_pb2.TaskResult()
    assert not_ready.WhichOneof("result") is None
    failed = teaclave_common_pb2.TaskResult(Err=teaclave_common_pb2.TaskFailure(reason="boom"))
    assert failed.WhichOneof("result") == "Err"


def test_enum_values() -> None:
    assert dict(teaclave_common_pb2.TaskStatus.items()) == {
        "Created": 0,
        "DataAssigned": 1,
        "Approved": 2,
        "Staged": 3,
        "Running": 4,
        "Finished": 10,
        "Canceled": 20,
        "Failed": 99,
    }
    assert teaclave_common_pb2.TaskStatus.Value("Failed") == 99
    assert dict(teaclave_common_pb2.ExecutorStatus.items()) == {"Idle": 0, "Executing": 1}
    assert dict(teaclave_common_pb2.ExecutorCommand.items()) == {
        "NoAction": 0,
        "Stop": 1,
        "NewTask": 2,
    }


def test_round_trip_across_packages() -> None:
    entry = teaclave_common_pb2.Entry(
        microsecond=1, ip=bytes(16), user="admin", message="m", result=True
    )
    request = teaclave_management_service_pb2.SaveLogsRequest(logs=[entry])
    decoded = teaclave_management_service_pb2.SaveLogsRequest.FromString(
        request.SerializeToString()
    )
    assert decoded == request
    assert decoded.logs[0].ip == bytes(16)
