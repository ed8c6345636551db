"""Tasks from registration to result through the real platform (SDK → frontend → ... → worker)."""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
import pytest
from platform_harness import Platform

from teaclave.sdk import (
    DataMap,
    FrontendService,
    FunctionArgument,
    FunctionOutput,
    OwnerList,
    TaskStatus,
    TeaclaveException,
)

Factory = Callable[..., FrontendService]


def register_echo(client: FrontendService, **kwargs: object) -> str:
    return client.register_function(
        name="builtin-echo",
        description="Native Echo Function",
        executor_type="builtin",
        arguments=[FunctionArgument("message")],
        **kwargs,  # type: ignore[arg-type]
    )


def test_echo_task_success(user_frontend: Factory) -> None:
    client = user_frontend()
    function_id = register_echo(client)
    task_id = client.create_task(function_id, {"message": "Hello From Teaclave!"}, "builtin")
    client.invoke_task(task_id)
    assert client.get_task_result(task_id, timeout=30) == b"Hello From Teaclave!"
    task = client.get_task(task_id)
    assert task["status"] == TaskStatus.Finished
    assert task["participants"] == [client.metadata["id"]]  # type: ignore[index]


def test_save_log_captures_the_function_log(user_frontend: Factory) -> None:
    client = user_frontend()
    function_id = client.register_function(
        "builtin-echo",
        "echo",
        "builtin",
        arguments=[FunctionArgument("message"), FunctionArgument("save_log", "false")],
    )
    task_id = client.create_task(
        function_id, {"message": "Hello, Teaclave Tests!", "save_log": "true"}, "builtin"
    )
    client.invoke_task(task_id)
    assert client.get_task_result(task_id, timeout=30) == b"Hello, Teaclave Tests!"
    assert "[INFO teaclave_function::echo] Hello, Teaclave Tests!" in client.get_task_log(task_id)


def test_unknown_builtin_ends_failed_with_reason(user_frontend: Factory) -> None:
    client = user_frontend()
    function_id = client.register_function("builtin-no-such-function", "x", "builtin")
    task_id = client.create_task(function_id, {}, "builtin")
    client.invoke_task(task_id)
    task = client.wait_task(task_id, timeout=30)
    assert task.status == TaskStatus.Failed
    assert "Function not found" in task.result.Err.reason
    with pytest.raises(TeaclaveException, match="Failed"):
        client.get_task_result(task_id)


def test_usage_quota(user_frontend: Factory) -> None:
    client = user_frontend()
    function_id = register_echo(client, usage_quota=2)
    for expected_usage in (1, 2):
        task_id = client.create_task(function_id, {"message": "q"}, "builtin")
        client.invoke_task(task_id)
        assert client.get_task_result(task_id, timeout=30) == b"q"
        stats = client.get_function_usage_stats(function_id)
        assert (stats.function_quota, stats.current_usage) == (2, expected_usage)
    task_id = client.create_task(function_id, {"message": "q"}, "builtin")
    with pytest.raises(TeaclaveException, match="quota") as err:
        client.invoke_task(task_id)
    assert err.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert client.get_task(task_id)["status"] == TaskStatus.Created


def test_private_function_needs_the_owner_approval(platform: Platform) -> None:
    owner_id = platform.new_user()
    user_id = platform.new_user()
    with platform.frontend(owner_id) as owner, platform.frontend(user_id) as user:
        function_id = register_echo(owner, public=False, user_allowlist=[user_id])
        task_id = user.create_task(function_id, {"message": "private"}, "builtin")
        assert sorted(user.get_task(task_id)["participants"]) == sorted([owner_id, user_id])
        user.approve_task(task_id)
        with pytest.raises(TeaclaveException, match="failed to invoke task") as err:
            user.invoke_task(task_id)
        assert err.value.code is grpc.StatusCode.FAILED_PRECONDITION
        assert owner_id in err.value.message
        owner.approve_task(task_id)
        assert user.get_task(task_id)["status"] == TaskStatus.Approved
        with pytest.raises(TeaclaveException, match="permission denied"):
            owner.invoke_task(task_id)  # only the creator invokes
        user.invoke_task(task_id)
        assert user.get_task_result(task_id, timeout=30) == b"private"
        assert owner.get_task_result(task_id, timeout=30) == b"private"


def test_outsider_cannot_use_a_private_function(platform: Platform) -> None:
    owner_id = platform.new_user("DataOwner", "org_a", prefix="owner")
    outsider_id = platform.new_user("DataOwner", "org_b", prefix="outsider")
    admin = platform.new_user()
    with platform.frontend(admin) as adm:
        function_id = register_echo(adm, public=False, user_allowlist=[owner_id])
    with platform.frontend(outsider_id) as outsider:
        with pytest.raises(TeaclaveException) as err:
            outsider.create_task(function_id, {"message": "x"}, "builtin")
        assert err.value.code is grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(TeaclaveException):
            outsider.get_function(function_id)


def test_cancel_created_task(user_frontend: Factory) -> None:
    client = user_frontend()
    function_id = register_echo(client)
    task_id = client.create_task(function_id, {"message": "x"}, "builtin")
    client.cancel_task(task_id)
    task = client.wait_task(task_id, timeout=5)
    assert task.status == TaskStatus.Canceled
    assert task.result.Err.reason == "Task canceled"
    with pytest.raises(TeaclaveException, match="Canceled"):
        client.get_task_result(task_id)
    with pytest.raises(TeaclaveException, match="failed to cancel task"):
        client.cancel_task(task_id)


def test_output_to_a_non_public_host_is_refused(user_frontend: Factory) -> None:
    client = user_frontend()
    user = client.metadata["id"]  # type: ignore[index]
    function_id = client.register_function(
        "builtin-echo",
        "echo",
        "builtin",
        arguments=[FunctionArgument("message")],
        outputs=[FunctionOutput("output", "result")],
    )
    task_id = client.create_task(
        function_id,
        {"message": "x"},
        "builtin",
        outputs_ownership=[OwnerList("output", [user])],
    )
    output_id = client.register_output_file(
        "http://localhost:6789/out.enc", "teaclave-file-128", bytes(16), b""
    )
    client.assign_data_to_task(task_id, [], [DataMap("output", output_id)])
    assert client.get_task(task_id)["status"] == TaskStatus.DataAssigned
    client.invoke_task(task_id)
    task = client.wait_task(task_id, timeout=30)
    assert task.status == TaskStatus.Failed
    assert "denied" in task.result.Err.reason.lower()


def test_function_lifecycle(user_frontend: Factory) -> None:
    client = user_frontend()
    user = client.metadata["id"]  # type: ignore[index]
    function_id = register_echo(client)
    assert client.get_function(function_id).name == "builtin-echo"
    assert client.update_function(function_id, "builtin-echo", "updated", "builtin") == function_id
    assert client.get_function(function_id).description == "updated"
    listed = client.list_functions(user)
    assert function_id in listed["registered_functions"]
    client.disable_function(function_id)
    with pytest.raises(TeaclaveException):
        client.create_task(function_id, {}, "builtin")
    client.delete_function(function_id)
    with pytest.raises(TeaclaveException, match="invalid function id") as err:
        client.get_function(function_id)
    assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT


def test_many_tasks_in_flight_all_finish(user_frontend: Factory) -> None:
    client = user_frontend()
    function_id = register_echo(client)
    task_ids = [client.create_task(function_id, {"message": f"m{i}"}, "builtin") for i in range(20)]
    for task_id in task_ids:
        client.invoke_task(task_id)
    deadline = time.monotonic() + 60
    for i, task_id in enumerate(task_ids):
        remaining = max(1.0, deadline - time.monotonic())
        assert client.get_task_result(task_id, timeout=remaining) == f"m{i}".encode()
