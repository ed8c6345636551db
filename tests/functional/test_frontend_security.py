"""The frontend as an attacker sees it: credentials, roles, audit, bad input, big messages."""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
import jwt
import pytest
from platform_harness import Platform

from teaclave.proto import teaclave_frontend_service_pb2 as pb
from teaclave.sdk import FrontendService, FunctionArgument, TeaclaveException

Factory = Callable[..., FrontendService]


def raw_frontend(platform: Platform, metadata: dict[str, str]) -> FrontendService:
    client = FrontendService(
        platform.platform.frontend_address,
        platform.platform.attestation_root_path,
        platform.platform.enclave_info_path,
    )
    client.connect().metadata = metadata
    return client


def test_missing_credentials(platform: Platform) -> None:
    client = raw_frontend(platform, {"id": "someone"})
    with pytest.raises(TeaclaveException, match="missing token") as err:
        client.list_functions("someone")
    assert err.value.code is grpc.StatusCode.UNAUTHENTICATED
    client.metadata = {"token": "x"}
    with pytest.raises(TeaclaveException, match="missing user id"):
        client.list_functions("someone")
    client.close()


@pytest.mark.parametrize("rpc", ["register_function", "create_task", "get_task", "list_functions"])
def test_invalid_token_refused_everywhere(platform: Platform, rpc: str) -> None:
    user = platform.new_user()
    client = raw_frontend(platform, {"id": user, "token": "InvalidToken"})
    calls = {
        "register_function": lambda: client.register_function("builtin-echo", "d", "builtin"),
        "create_task": lambda: client.create_task("function-x", {}, "builtin"),
        "get_task": lambda: client.get_task("task-x"),
        "list_functions": lambda: client.list_functions(user),
    }
    with pytest.raises(TeaclaveException, match="incorrect credential") as err:
        calls[rpc]()
    assert err.value.code is grpc.StatusCode.UNAUTHENTICATED
    client.close()


def test_forged_token_with_guessed_secret_refused(platform: Platform) -> None:
    user = platform.new_user()
    forged = jwt.encode(
        {"sub": user, "role": "PlatformAdmin", "iss": "Teaclave", "exp": int(time.time()) + 600},
        b"\x00" * 64,
        algorithm="HS512",
    )
    client = raw_frontend(platform, {"id": user, "token": forged})
    with pytest.raises(TeaclaveException, match="incorrect credential"):
        client.list_functions(user)
    client.close()


def test_token_of_another_user_refused(platform: Platform) -> None:
    victim = platform.new_user()
    attacker = platform.new_user()
    with platform.frontend(attacker) as own:
        token = own.metadata["token"]  # type: ignore[index]
    client = raw_frontend(platform, {"id": victim, "token": token})
    with pytest.raises(TeaclaveException, match="incorrect credential"):
        client.list_functions(victim)
    client.close()


def test_role_acl(platform: Platform) -> None:
    function_owner = platform.new_user("FunctionOwner", prefix="fowner")
    data_owner = platform.new_user("DataOwner", "org", prefix="downer")
    with platform.frontend(function_owner) as fo:
        function_id = fo.register_function("builtin-echo", "d", "builtin")
        with pytest.raises(TeaclaveException, match="permission denied") as err:
            fo.create_task(function_id, {}, "builtin")
        assert err.value.code is grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(TeaclaveException, match="permission denied"):
            fo.query_audit_logs("*", 10)
    with platform.frontend(data_owner) as do:
        with pytest.raises(TeaclaveException, match="permission denied"):
            do.register_function("builtin-echo", "d", "builtin")
        assert do.get_function(function_id).name == "builtin-echo"


def test_audit_log_records_success_and_failure(platform: Platform) -> None:
    user = platform.new_user()
    with platform.frontend(user) as client:
        client.register_function("builtin-echo", "d", "builtin", arguments=[FunctionArgument("m")])
        with pytest.raises(TeaclaveException):
            client.get_task("task-00000000-0000-0000-0000-000000000000")
        deadline = time.monotonic() + 10
        while True:
            entries = client.query_audit_logs(f"user:{user}", 100)
            messages = {(e.message.split(":")[0], e.result) for e in entries}
            if ("register_function", True) in messages and ("get_task", False) in messages:
                break
            assert time.monotonic() < deadline, messages
            time.sleep(0.05)
        assert all(len(e.ip) == 16 for e in entries)
        assert entries == sorted(entries, key=lambda e: -e.microsecond)
    bad = raw_frontend(platform, {"id": user, "token": "nope"})
    with pytest.raises(TeaclaveException):
        bad.list_functions(user)
    bad.close()
    with platform.frontend(user) as client:
        deadline = time.monotonic() + 10
        while not any(
            e.message == "authenticate to list_functions: authentication failed" and not e.result
            for e in client.query_audit_logs("message:authenticate", 100)
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_oversized_request_refused_and_platform_keeps_serving(user_frontend: Factory) -> None:
    client = user_frontend()
    with pytest.raises(TeaclaveException) as err:
        client.register_function("big", "d", "python", payload=b"x" * (5 * 1024 * 1024))
    assert err.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert client.register_function("small", "d", "python", payload=b"x").startswith("function-")


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (
            lambda c: c.register_input_file(
                "not a url", "aes-gcm-128", bytes(16), bytes(12), bytes(16)
            ),
            "url",
        ),
        (
            lambda c: c.register_input_file(
                "http://h/f", "aes-gcm-128", bytes(16), bytes(12), bytes(15)
            ),
            "cmac",
        ),
        (
            lambda c: c.register_input_file(
                "http://h/f", "aes-gcm-128", bytes(15), bytes(12), bytes(16)
            ),
            "key",
        ),
        (
            lambda c: c.register_input_file("http://h/f", "rot13", bytes(16), bytes(12), bytes(16)),
            "schema",
        ),
        (lambda c: c.register_output_file("http://h/f", "raw", b"", b""), "raw"),
        (lambda c: c.register_function("f", "d", "cobol"), "executor_type"),
        (lambda c: c.create_task("function-nope", {}, "builtin"), "function"),
        (lambda c: c.get_task("task-not-a-uuid"), "task"),
    ],
)
def test_bad_input_names_the_field(
    user_frontend: Factory, call: Callable[[FrontendService], object], field: str
) -> None:
    client = user_frontend()
    with pytest.raises(TeaclaveException) as err:
        call(client)
    assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert field in err.value.message


def test_create_task_with_non_object_arguments(platform: Platform) -> None:
    user = platform.new_user()
    with platform.frontend(user) as client:
        function_id = client.register_function("builtin-echo", "d", "builtin")
        with pytest.raises(TeaclaveException, match="function_arguments") as err:
            client._call(
                "CreateTask",
                pb.CreateTaskRequest(
                    function_id=function_id, function_arguments="[1]", executor="builtin"
                ),
                pb.CreateTaskResponse,
            )
        assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
