"""Functions, executors, usage counters and management user records (spec §2.2, §2.3)."""

from __future__ import annotations

import json
import uuid

import pytest

from teaclave.types.errors import DecodeError, InvalidArgument
from teaclave.types.function import (
    Executor,
    ExecutorType,
    Function,
    FunctionArgument,
    FunctionIo,
    FunctionUsage,
    UserRecord,
    quota_from_wire,
)

FID = uuid.UUID("00000000-0000-0000-0000-000000000001")


def make_function(**overrides: object) -> Function:
    fields: dict[str, object] = {
        "name": "mock-func-1",
        "description": "a function",
        "executor_type": ExecutorType.PYTHON,
        "public": False,
        "payload": b"def entrypoint(argv): return 'ok'",
        "arguments": [FunctionArgument("arg1"), FunctionArgument("n", "10", False)],
        "inputs": [FunctionIo("input", "in"), FunctionIo("input2", "", True)],
        "outputs": [FunctionIo("output", "out")],
        "owner": "mock_user",
        "user_allowlist": ["mock_user", "mock_user1"],
        "usage_quota": 5,
        "id": FID,
    }
    fields.update(overrides)
    return Function(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("wire", "member", "serde"),
    [
        ("builtin", ExecutorType.BUILTIN, "Builtin"),
        ("python", ExecutorType.PYTHON, "Python"),
        ("wamr", ExecutorType.WAMR, "WAMicroRuntime"),
    ],
)
def test_executor_type_wire_and_serde_names(wire: str, member: ExecutorType, serde: str):
    assert ExecutorType.from_wire(wire) is member
    assert member.serde_name == serde
    assert ExecutorType.from_serde(serde) is member


@pytest.mark.parametrize(
    ("wire", "member", "serde"),
    [
        ("builtin", Executor.BUILTIN, "Builtin"),
        ("mesapy", Executor.MESAPY, "MesaPy"),
        ("wamr", Executor.WAMR, "WAMicroRuntime"),
    ],
)
def test_executor_wire_and_serde_names(wire: str, member: Executor, serde: str):
    assert Executor.from_wire(wire) is member
    assert member.serde_name == serde
    assert Executor.from_serde(serde) is member


def test_unknown_executor_strings_name_the_field_and_the_choices():
    with pytest.raises(InvalidArgument, match=r"^executor_type: unsupported executor type 'js'"):
        ExecutorType.from_wire("js")
    with pytest.raises(InvalidArgument, match=r"^executor: unsupported executor 'python'") as err:
        Executor.from_wire("python")
    assert "builtin, mesapy, wamr" in err.value.message
    with pytest.raises(DecodeError):
        ExecutorType.from_serde("builtin")
    with pytest.raises(DecodeError):
        Executor.from_serde("Mesapy")


def test_function_serde_shape():
    value = make_function().to_json()
    assert value == {
        "id": str(FID),
        "name": "mock-func-1",
        "description": "a function",
        "public": False,
        "executor_type": "Python",
        "payload": list(b"def entrypoint(argv): return 'ok'"),
        "arguments": [
            {"key": "arg1", "default_value": "", "allow_overwrite": True},
            {"key": "n", "default_value": "10", "allow_overwrite": False},
        ],
        "inputs": [
            {"name": "input", "description": "in", "optional": False},
            {"name": "input2", "description": "", "optional": True},
        ],
        "outputs": [{"name": "output", "description": "out", "optional": False}],
        "owner": "mock_user",
        "user_allowlist": ["mock_user", "mock_user1"],
        "usage_quota": 5,
    }


@pytest.mark.parametrize("quota", [None, 0, 7])
def test_function_round_trips_through_json_text(quota: int | None):
    function = make_function(usage_quota=quota, public=True, executor_type=ExecutorType.WAMR)
    again = Function.from_json(json.loads(json.dumps(function.to_json())))
    assert again == function
    assert str(again.external_id) == f"function-{FID}"


def test_function_from_json_fills_optional_fields_and_refuses_missing_required_ones():
    minimal = {
        "id": str(FID),
        "name": "f",
        "public": True,
        "executor_type": "Builtin",
        "owner": "o",
    }
    function = Function.from_json(minimal)
    assert function.arguments == [] and function.inputs == [] and function.payload == b""
    assert function.usage_quota is None and function.user_allowlist == []
    for key in ("id", "name", "public", "executor_type", "owner"):
        broken = {k: v for k, v in minimal.items() if k != key}
        with pytest.raises(DecodeError, match=repr(key)):
            Function.from_json(broken)


def test_argument_and_io_defaults_on_decode():
    assert FunctionArgument.from_json({"key": "k"}) == FunctionArgument("k", "", True)
    assert FunctionIo.from_json({"name": "n"}) == FunctionIo("n", "", False)
    with pytest.raises(DecodeError):
        FunctionArgument.from_json({"default_value": "x"})


def test_validate_accepts_well_formed_declarations():
    make_function().validate()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": ""}, r"^name: empty$"),
        ({"arguments": [FunctionArgument("a"), FunctionArgument("a")]}, r"^arguments\[1\]: dup"),
        ({"arguments": [FunctionArgument("")]}, r"^arguments\[0\]: empty name$"),
        ({"inputs": [FunctionIo("x"), FunctionIo("y"), FunctionIo("x")]}, r"^inputs\[2\]: dup"),
        ({"outputs": [FunctionIo("")]}, r"^outputs\[0\]: empty name$"),
    ],
)
def test_validate_names_the_offending_declaration(overrides: dict[str, object], message: str):
    with pytest.raises(InvalidArgument, match=message):
        make_function(**overrides).validate()


@pytest.mark.parametrize(("wire", "quota"), [(-1, None), (-5, None), (0, 0), (5, 5)])
def test_quota_from_wire(wire: int, quota: int | None):
    assert quota_from_wire(wire) == quota


def test_function_usage_serde():
    usage = FunctionUsage(FID, 3)
    assert usage.to_json() == {"function_id": str(FID), "use_numbers": 3}
    assert FunctionUsage.from_json(json.loads(json.dumps(usage.to_json()))) == usage
    assert FunctionUsage(FID).use_numbers == 0
    with pytest.raises(DecodeError, match="use_numbers"):
        FunctionUsage.from_json({"function_id": str(FID)})


def test_user_record_serde():
    record = UserRecord("frontend_user", [f"function-{FID}"], [])
    assert record.to_json() == {
        "id": "frontend_user",
        "registered_functions": [f"function-{FID}"],
        "allowed_functions": [],
    }
    assert UserRecord.from_json(json.loads(json.dumps(record.to_json()))) == record
    assert UserRecord.from_json({"id": "x"}) == UserRecord("x")
    # The default lists are not shared between records.
    a, b = UserRecord("a"), UserRecord("b")
    a.registered_functions.append("function-1")
    assert b.registered_functions == []
