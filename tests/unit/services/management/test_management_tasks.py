"""Task RPCs: create, get, assign, approve, invoke, cancel (Teaclave's tests plus the fixes)."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from teaclave.proto import teaclave_frontend_service_pb2 as fe
from teaclave.rpc.errors import RemoteError
from teaclave.types.errors import StatusCode
from teaclave.types.task import StagedTask, TaskState, TaskStatus

MOCK_FUNCTION_1 = "function-00000000-0000-0000-0000-000000000001"
MOCK_FUNCTION_3 = "function-00000000-0000-0000-0000-000000000003"
MOCK_OUTPUT_1 = "output-00000000-0000-0000-0000-000000000001"
MOCK_INPUT_2 = "input-00000000-0000-0000-0000-000000000002"

STAGED_QUEUE = b"staged-task"
CANCEL_QUEUE = b"cancel_queue"


def valid_request(**changes) -> dict:
    request = {
        "function_id": MOCK_FUNCTION_1,
        "function_arguments": {"arg1": "data1", "arg2": "data2"},
        "executor": "mesapy",
        "inputs_ownership": {"input": ["mock_user1"], "input2": ["mock_user2", "mock_user3"]},
        "outputs_ownership": {"output": ["mock_user1"], "output2": ["mock_user2", "mock_user3"]},
    }
    request.update(changes)
    return request


def create_request(helpers, **changes) -> fe.CreateTaskRequest:
    fields = valid_request(**changes)
    return fe.CreateTaskRequest(
        function_id=fields["function_id"],
        function_arguments=json.dumps(fields["function_arguments"]),
        executor=fields["executor"],
        inputs_ownership=helpers.owners(fields["inputs_ownership"]),
        outputs_ownership=helpers.owners(fields["outputs_ownership"]),
    )


def assign(mgmt, helpers, task_id, user, inputs=None, outputs=None):
    request = fe.AssignDataRequest(
        task_id=task_id,
        inputs=helpers.data_maps(inputs or {}),
        outputs=helpers.data_maps(outputs or {}),
    )
    return mgmt.call("AssignData", request, user)


def assign_fails(mgmt, helpers, task_id, user, inputs=None, outputs=None, code=None):
    request = fe.AssignDataRequest(
        task_id=task_id,
        inputs=helpers.data_maps(inputs or {}),
        outputs=helpers.data_maps(outputs or {}),
    )
    return mgmt.fail(code or StatusCode.PERMISSION_DENIED, "AssignData", request, user)


def assign_everything(mgmt, helpers, task_id):
    input1 = mgmt.input_file("mock_user1", url="input://path")
    output1 = mgmt.output_file("mock_user1", url="https://output_file_path")
    assign(mgmt, helpers, task_id, "mock_user1", {"input": input1}, {"output": output1})
    assign(mgmt, helpers, task_id, "mock_user2", {"input2": MOCK_INPUT_2})
    fusion = mgmt.fusion_output("mock_user3", ["mock_user2", "mock_user3"])
    assign(mgmt, helpers, task_id, "mock_user3", outputs={"output2": fusion})


def approve(mgmt, task_id, user):
    mgmt.call("ApproveTask", fe.ApproveTaskRequest(task_id=task_id), user)


def staged_tasks(platform) -> dict[str, StagedTask]:
    return {
        str(staged.task_id): staged
        for staged in map(StagedTask.from_bytes, platform.drain(STAGED_QUEUE))
    }


def test_create_task(mgmt, helpers):
    empty = fe.CreateTaskRequest(executor="mesapy", function_arguments="{}")
    assert mgmt.fail(StatusCode.INVALID_ARGUMENT, "CreateTask", empty).startswith(
        "invalid function id: function_id: "
    )
    assert mgmt.task("mock_user", **valid_request()).startswith("task-")

    for broken in (
        valid_request(function_arguments={"arg2": "data2"}),
        valid_request(inputs_ownership={"input2": ["mock_user2", "mock_user3"]}),
        valid_request(outputs_ownership={"output2": ["mock_user2", "mock_user3"]}),
        valid_request(function_arguments={"arg1": "a", "arg2": "b", "arg3": "c"}),
        valid_request(
            inputs_ownership={"input": ["a"], "input2": ["b"], "unknown": ["c"]},
        ),
    ):
        request = create_request(helpers, **broken)
        message = mgmt.fail(StatusCode.INVALID_ARGUMENT, "CreateTask", request)
        assert message.startswith("invalid task: ")


def test_create_task_on_private_function(mgmt):
    fields = {"function_id": MOCK_FUNCTION_3, "function_arguments": {"arg1": "arg1_value"}}
    assert mgmt.task("mock_user", **fields).startswith("task-")
    assert mgmt.task("mock_user2", **fields).startswith("task-")  # PlatformAdmin


def test_create_task_allowlist_matches_user_id_or_attribute(mgmt, helpers):
    owner, member, org = "fn_owner", f"member_{uuid.uuid4().hex[:6]}", "org_a"
    by_id = mgmt.function(owner, public=False, user_allowlist=[member])
    by_attribute = mgmt.function(owner, public=False, user_allowlist=[org])
    # Teaclave's examples allowlist user ids; attribute allowlists work as in Teaclave.
    mgmt.task(member, "DataOwner-other", function_id=by_id)
    mgmt.task("someone", f"DataOwner-{org}", function_id=by_attribute)
    mgmt.task("someone", f"DataOwnerManager-{org}", function_id=by_attribute)

    for function_id, user, role in (
        (by_id, "someone", f"DataOwner-{org}"),
        (by_attribute, member, "DataOwner-other"),
        (by_id, member, "FunctionOwner"),
        (by_id, member, "Invalid"),
    ):
        request = fe.CreateTaskRequest(
            function_id=function_id, function_arguments="{}", executor="mesapy"
        )
        mgmt.fail(StatusCode.PERMISSION_DENIED, "CreateTask", request, user, role)
    public = mgmt.function(owner, public=True)
    mgmt.task("anyone", "DataOwner-", function_id=public)


def test_get_task(mgmt):
    task_id = mgmt.task("mock_user", **valid_request())
    response = mgmt.get_task(task_id)
    assert sorted(response.participants) == ["mock_user", "mock_user1", "mock_user2", "mock_user3"]
    assert response.task_id == task_id
    assert response.creator == "mock_user"
    assert response.function_id == MOCK_FUNCTION_1
    assert response.function_owner == "teaclave"
    assert json.loads(response.function_arguments) == {"arg1": "data1", "arg2": "data2"}
    assert response.function_arguments == '{"arg1":"data1","arg2":"data2"}'
    assert {o.data_name: sorted(o.uids) for o in response.inputs_ownership} == {
        "input": ["mock_user1"],
        "input2": ["mock_user2", "mock_user3"],
    }
    assert response.status == TaskStatus.CREATED
    assert response.HasField("result")
    assert response.result.WhichOneof("result") is None
    assert list(response.assigned_inputs) == []


def test_get_task_participants_and_admins_only(mgmt):
    task_id = mgmt.task("mock_user", **valid_request())
    request = fe.GetTaskRequest(task_id=task_id)
    mgmt.fail(StatusCode.PERMISSION_DENIED, "GetTask", request, "outsider", "DataOwner-x")
    # Fixed §13 #4: a PlatformAdmin may read any task.
    assert mgmt.call("GetTask", request, "outsider", "PlatformAdmin").task_id == task_id
    assert mgmt.call("GetTask", request, "mock_user3", "DataOwner-x").task_id == task_id


def test_get_unknown_task(mgmt):
    request = fe.GetTaskRequest(task_id=f"task-{uuid.uuid4()}")
    assert mgmt.fail(StatusCode.INVALID_ARGUMENT, "GetTask", request).startswith(
        "invalid task id: task_id: "
    )


def test_assign_data(mgmt, helpers):
    task_id = mgmt.task("mock_user", **valid_request())

    # Not a participant.
    assign_fails(mgmt, helpers, task_id, "non-participant")

    # Another user's input / output.
    input_user2 = mgmt.input_file("mock_user2", url="https://path")
    assign_fails(mgmt, helpers, task_id, "mock_user1", {"input": input_user2})
    output_user2 = mgmt.output_file("mock_user2", url="https://output_file_path")
    assign_fails(mgmt, helpers, task_id, "mock_user1", outputs={"output": output_user2})

    # Mock output 1 is owned by {mock_user1, frontend_user}: owners differ from the task's.
    assign_fails(mgmt, helpers, task_id, "mock_user1", outputs={"output": MOCK_OUTPUT_1})

    # Input 2 belongs to {mock_user2, mock_user3}.
    assign_fails(mgmt, helpers, task_id, "mock_user1", {"input": MOCK_INPUT_2})

    # Unknown data names.
    assign_fails(mgmt, helpers, task_id, "mock_user2", {"none": input_user2})
    assign_fails(mgmt, helpers, task_id, "mock_user2", outputs={"none": output_user2})

    # Ownership mismatches.
    assign_fails(mgmt, helpers, task_id, "mock_user2", {"input2": input_user2})
    assign_fails(mgmt, helpers, task_id, "mock_user2", {"input": input_user2})
    assign_fails(mgmt, helpers, task_id, "mock_user2", outputs={"output2": output_user2})
    assign_fails(mgmt, helpers, task_id, "mock_user2", outputs={"output1": output_user2})

    # All or nothing: one bad entry leaves the good one unassigned.
    input_user1 = mgmt.input_file("mock_user1", url="input://path")
    assign_fails(
        mgmt, helpers, task_id, "mock_user1", {"input": input_user1}, {"output": output_user2}
    )
    assert list(mgmt.get_task(task_id).assigned_inputs) == []

    output_user1 = mgmt.output_file("mock_user1", url="https://output_file_path")
    assign(mgmt, helpers, task_id, "mock_user1", {"input": input_user1}, {"output": output_user1})
    assign(mgmt, helpers, task_id, "mock_user3", {"input2": MOCK_INPUT_2})
    fusion = mgmt.fusion_output("mock_user3", ["mock_user2", "mock_user3"])
    assert mgmt.get_task(task_id).status == TaskStatus.CREATED
    assign(mgmt, helpers, task_id, "mock_user3", outputs={"output2": fusion})

    response = mgmt.get_task(task_id, "mock_user3")
    assert response.status == TaskStatus.DATA_ASSIGNED
    assert {(d.data_name, d.data_id) for d in response.assigned_inputs} == {
        ("input", input_user1),
        ("input2", MOCK_INPUT_2),
    }
    assert {(d.data_name, d.data_id) for d in response.assigned_outputs} == {
        ("output", output_user1),
        ("output2", fusion),
    }

    # Status is no longer Created.
    message = assign_fails(
        mgmt,
        helpers,
        task_id,
        "mock_user1",
        {"input": input_user1},
        code=StatusCode.FAILED_PRECONDITION,
    )
    assert message.startswith("failed to assign data to task")


def test_assign_data_refuses_an_already_written_output(mgmt, helpers):
    task_id = mgmt.task(
        "mock_user1",
        function_id="function-00000000-0000-0000-0000-000000000002",
        function_arguments={"arg1": "x"},
        outputs_ownership={"output": ["mock_user1", "frontend_user"]},
    )
    message = assign_fails(mgmt, helpers, task_id, "mock_user1", outputs={"output": MOCK_OUTPUT_1})
    assert "already been written" in message
    assert mgmt.get_task(task_id, "mock_user1").status == TaskStatus.CREATED


def test_approve_task(mgmt, helpers):
    task_id = mgmt.task("mock_user", **valid_request())
    request = fe.ApproveTaskRequest(task_id=task_id)
    message = mgmt.fail(StatusCode.FAILED_PRECONDITION, "ApproveTask", request, "mock_user1")
    assert message.startswith("failed to approve task")

    assign_everything(mgmt, helpers, task_id)
    assert mgmt.get_task(task_id, "mock_user2").status == TaskStatus.DATA_ASSIGNED

    mgmt.fail(StatusCode.PERMISSION_DENIED, "ApproveTask", request, "non-participant")
    for user in ("mock_user", "mock_user1", "mock_user2"):
        approve(mgmt, task_id, user)
        assert mgmt.get_task(task_id).status == TaskStatus.DATA_ASSIGNED
    approve(mgmt, task_id, "mock_user3")
    response = mgmt.get_task(task_id, "mock_user2")
    assert response.status == TaskStatus.APPROVED
    assert sorted(response.approved_users) == sorted(response.participants)
    mgmt.fail(StatusCode.FAILED_PRECONDITION, "ApproveTask", request, "mock_user")


def test_invoke_task(mgmt, helpers, platform):
    task_id = mgmt.task("mock_user", **valid_request())
    assign_everything(mgmt, helpers, task_id)
    request = fe.InvokeTaskRequest(task_id=task_id)
    message = mgmt.fail(StatusCode.FAILED_PRECONDITION, "InvokeTask", request)
    assert message.startswith("failed to invoke task")

    for user in ("mock_user", "mock_user1", "mock_user2", "mock_user3"):
        approve(mgmt, task_id, user)
    assert mgmt.get_task(task_id, "mock_user2").status == TaskStatus.APPROVED

    mgmt.fail(StatusCode.PERMISSION_DENIED, "InvokeTask", request, "mock_user2")
    mgmt.call("InvokeTask", request)
    assert mgmt.get_task(task_id, "mock_user2").status == TaskStatus.STAGED

    task_uuid = task_id.removeprefix("task-")
    staged = staged_tasks(platform)[task_uuid]
    assert str(staged.function_id) == MOCK_FUNCTION_1.removeprefix("function-")
    assert staged.function_name == "mock-func-1"
    assert staged.function_payload == b"mock-payload"
    assert staged.user_id == "mock_user"
    assert staged.function_arguments == {"arg1": "data1", "arg2": "data2"}
    assert set(staged.input_data) == {"input", "input2"}
    assert set(staged.output_data) == {"output", "output2"}
    assert staged.input_data["input"].url == "input://path"

    recovery = platform.storage.get(f"stagedtask-{task_uuid}".encode())
    assert recovery is not None
    assert StagedTask.from_bytes(recovery) == staged
    stored = TaskState.from_json(platform.record(task_id))
    assert stored.status is TaskStatus.STAGED

    # Invoking again is a state error and stages nothing.
    mgmt.fail(StatusCode.FAILED_PRECONDITION, "InvokeTask", request)
    assert task_uuid not in staged_tasks(platform)


def test_single_participant_task_goes_straight_to_staged(mgmt, platform):
    function_id = mgmt.function(
        "solo",
        name="builtin-echo",
        executor_type="builtin",
        arguments=[fe.FunctionArgument(key="message", allow_overwrite=True)],
    )
    task_id = mgmt.task(
        "solo", function_id=function_id, function_arguments={"message": "hi"}, executor="builtin"
    )
    mgmt.call("InvokeTask", fe.InvokeTaskRequest(task_id=task_id), "solo")
    assert mgmt.get_task(task_id, "solo").status == TaskStatus.STAGED
    staged = staged_tasks(platform)[task_id.removeprefix("task-")]
    assert staged.function_name == "builtin-echo"
    assert staged.function_arguments == {"message": "hi"}


def test_invoke_uses_the_current_function_definition(mgmt, platform):
    function_id = mgmt.function("solo", payload=b"version 1")
    task_id = mgmt.task("solo", function_id=function_id)
    update = fe.UpdateFunctionRequest(
        function_id=function_id,
        name="renamed",
        executor_type="python",
        public=True,
        payload=b"version 2",
        usage_quota=-1,
    )
    mgmt.call("UpdateFunction", update, "solo")
    mgmt.call("InvokeTask", fe.InvokeTaskRequest(task_id=task_id), "solo")
    staged = staged_tasks(platform)[task_id.removeprefix("task-")]
    assert (staged.function_name, staged.function_payload) == ("renamed", b"version 2")


def test_invoke_after_function_deleted(mgmt, platform):
    function_id = mgmt.function("solo")
    task_id = mgmt.task("solo", function_id=function_id)
    mgmt.call("DeleteFunction", fe.DeleteFunctionRequest(function_id=function_id), "solo")
    before = platform.snapshot()
    message = mgmt.fail(
        StatusCode.INVALID_ARGUMENT, "InvokeTask", fe.InvokeTaskRequest(task_id=task_id), "solo"
    )
    assert message.startswith("invalid function id")
    assert platform.snapshot() == before


@pytest.mark.parametrize("quota", [0, 2])
def test_quota_exhaustion(mgmt, platform, quota):
    function_id = mgmt.function("quota_user", usage_quota=quota)
    tasks = [mgmt.task("quota_user", function_id=function_id) for _ in range(quota + 1)]
    for task_id in tasks[:quota]:
        mgmt.call("InvokeTask", fe.InvokeTaskRequest(task_id=task_id), "quota_user")
    stats = mgmt.call(
        "GetFunctionUsageStats", fe.GetFunctionUsageStatsRequest(function_id=function_id)
    )
    assert (stats.function_quota, stats.current_usage) == (quota, quota)

    before = platform.snapshot()
    request = fe.InvokeTaskRequest(task_id=tasks[-1])
    message = mgmt.fail(StatusCode.RESOURCE_EXHAUSTED, "InvokeTask", request, "quota_user")
    assert message.startswith("function quota has been used up")
    assert platform.snapshot() == before
    assert mgmt.get_task(tasks[-1], "quota_user").status == TaskStatus.CREATED
    staged = staged_tasks(platform)
    assert all(t.removeprefix("task-") in staged for t in tasks[:quota])
    assert tasks[-1].removeprefix("task-") not in staged


def test_cancel_task_early(mgmt):
    task_id = mgmt.task("mock_user", **valid_request())
    request = fe.CancelTaskRequest(task_id=task_id)
    mgmt.fail(StatusCode.PERMISSION_DENIED, "CancelTask", request, "mock_user1", "DataOwner-x")
    mgmt.call("CancelTask", request)
    response = mgmt.get_task(task_id)
    assert response.status == TaskStatus.CANCELED
    assert response.result.WhichOneof("result") == "Err"
    assert response.result.Err.reason == "Task canceled"

    message = mgmt.fail(StatusCode.FAILED_PRECONDITION, "CancelTask", request)
    assert message.startswith("failed to cancel task, reason: ")
    approve_request = fe.ApproveTaskRequest(task_id=task_id)
    mgmt.fail(StatusCode.FAILED_PRECONDITION, "ApproveTask", approve_request)


def test_admin_may_cancel_any_task(mgmt):
    task_id = mgmt.task("mock_user", **valid_request())
    mgmt.call("CancelTask", fe.CancelTaskRequest(task_id=task_id), "other_admin", "PlatformAdmin")
    assert mgmt.get_task(task_id).status == TaskStatus.CANCELED


def test_cancel_task_late_goes_through_the_scheduler(mgmt, platform):
    function_id = mgmt.function("solo")
    task_id = mgmt.task("solo", function_id=function_id)
    mgmt.call("InvokeTask", fe.InvokeTaskRequest(task_id=task_id), "solo")
    platform.drain(CANCEL_QUEUE)
    mgmt.call("CancelTask", fe.CancelTaskRequest(task_id=task_id), "solo", "DataOwner-")
    queued = [TaskState.from_json(json.loads(item)) for item in platform.drain(CANCEL_QUEUE)]
    assert [str(t.external_id) for t in queued] == [task_id]
    assert queued[0].status is TaskStatus.STAGED
    # The scheduler decides; management leaves the task Staged.
    assert mgmt.get_task(task_id, "solo").status == TaskStatus.STAGED


def test_concurrent_approvals_are_not_lost(mgmt, helpers):
    users = [f"approver_{i}" for i in range(12)]
    function_id = mgmt.function(users[0], outputs=[fe.FunctionOutput(name="shared")], arguments=[])
    task_id = mgmt.task(users[0], function_id=function_id, outputs_ownership={"shared": users})
    fusion = mgmt.fusion_output(users[0], users)
    assign(mgmt, helpers, task_id, users[0], outputs={"shared": fusion})

    with ThreadPoolExecutor(len(users)) as pool:
        list(pool.map(lambda user: approve(mgmt, task_id, user), users))
    response = mgmt.get_task(task_id, users[0])
    assert sorted(response.approved_users) == sorted(users)
    assert response.status == TaskStatus.APPROVED


def test_concurrent_invocations_respect_the_quota(mgmt, platform):
    function_id = mgmt.function("racer", usage_quota=3)
    tasks = [mgmt.task("racer", function_id=function_id) for _ in range(8)]

    def invoke(task_id):
        try:
            mgmt.call("InvokeTask", fe.InvokeTaskRequest(task_id=task_id), "racer")
            return "ok"
        except RemoteError as exc:
            return exc.code

    with ThreadPoolExecutor(len(tasks)) as pool:
        outcomes = list(pool.map(invoke, tasks))
    assert outcomes.count("ok") == 3
    assert outcomes.count(StatusCode.RESOURCE_EXHAUSTED) == 5
    usage = platform.record(f"usage-{function_id.removeprefix('function-')}")
    assert usage["use_numbers"] == 3
    staged = staged_tasks(platform)
    assert sum(t.removeprefix("task-") in staged for t in tasks) == 3
