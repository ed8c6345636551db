"""Scheduler RPCs against real storage and scheduler services (Teaclave's scheduler tests+)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from google.protobuf import empty_pb2
from scheduler_harness import Platform, pull, take, wait_for

from teaclave.config.build import EXECUTION, MANAGEMENT, SCHEDULER
from teaclave.proto import teaclave_common_pb2 as common_pb
from teaclave.proto import teaclave_scheduler_service_pb2 as pb
from teaclave.rpc.apis import TeaclaveScheduler
from teaclave.rpc.channel import ServiceClient, connect
from teaclave.rpc.clients.scheduler import (
    EXECUTOR_ID_METADATA,
    ExecutorCommand,
    ExecutorStatus,
)
from teaclave.rpc.errors import RemoteError
from teaclave.services.launcher import service_identity
from teaclave.types.errors import StatusCode
from teaclave.types.task import (
    TaskOutputs,
    TaskResult,
    TaskStatus,
)


def raw_client(platform: Platform) -> ServiceClient:
    identity, verifier = service_identity(platform.config, EXECUTION)
    channel = connect(
        platform.config.internal_endpoints["scheduler"].target, SCHEDULER, verifier, identity
    )
    client = ServiceClient(channel, TeaclaveScheduler)
    platform.clients.append(client)
    return client


# ------------------------------------------------------------------------ Teaclave's tests
def test_pull_task(platform: Platform) -> None:
    # Teaclave stages this one with no task record at all.
    staged = platform.stage(record=False)
    worker = platform.scheduler_client()
    pulled = pull(worker, uuid.uuid4())
    assert pulled.function_id == staged.function_id
    assert pulled.function_name == "builtin-echo"
    assert pulled.function_arguments == {"message": "Hello, Teaclave!"}


def test_update_task_status_result(platform: Platform) -> None:
    worker = platform.scheduler_client()
    staged = platform.stage()
    executor_id = uuid.uuid4()
    pull(worker, executor_id)
    assert platform.task(staged.task_id).status is TaskStatus.STAGED
    worker.update_task_status(staged.task_id, TaskStatus.RUNNING, executor_id=executor_id)
    assert platform.task(staged.task_id).status is TaskStatus.RUNNING
    worker.update_task_result(
        staged.task_id, TaskResult.success(TaskOutputs(b"return value")), executor_id=executor_id
    )
    task = platform.task(staged.task_id)
    assert task.status is TaskStatus.FINISHED
    assert task.result.ok is not None and task.result.ok.return_value == b"return value"
    assert platform.staged_record(staged.task_id) is None


def test_teaclave_clients_without_executor_metadata(platform: Platform) -> None:
    worker = platform.scheduler_client()
    staged = platform.stage()
    pull(worker, uuid.uuid4())
    worker.update_task_status(staged.task_id)
    worker.update_task_result(staged.task_id, TaskResult.success(TaskOutputs(b"ok")))
    assert platform.task(staged.task_id).status is TaskStatus.FINISHED


def test_error_result_fails_task(platform: Platform) -> None:
    worker = platform.scheduler_client()
    staged, executor_id = take(platform, worker)
    worker.update_task_result(
        staged.task_id, TaskResult.failure("it broke"), executor_id=executor_id
    )
    task = platform.task(staged.task_id)
    assert task.status is TaskStatus.FAILED
    assert task.result.err == "it broke"
    assert platform.staged_record(staged.task_id) is None


def test_result_writes_output_cmac_once(platform: Platform) -> None:
    worker = platform.scheduler_client()
    staged, executor_id = take(platform, worker, output=True)
    tag = bytes(range(16))
    worker.update_task_result(
        staged.task_id,
        TaskResult.success(TaskOutputs(b"done", tags_map={"output": tag})),
        executor_id=executor_id,
    )
    task = platform.task(staged.task_id)
    assert task.status is TaskStatus.FINISHED
    output = task.assigned_outputs["output"]
    assert output.cmac == tag
    stored = platform.management.get_json(output.external_id.key)
    assert stored is not None and stored["cmac"] == {"tag": list(tag)}
    with pytest.raises(RemoteError) as err:
        worker.update_task_result(
            staged.task_id,
            TaskResult.success(TaskOutputs(b"again", tags_map={"output": bytes(16)})),
            executor_id=executor_id,
        )
    assert err.value.code in (StatusCode.PERMISSION_DENIED, StatusCode.FAILED_PRECONDITION)
    assert platform.management.get_json(output.external_id.key)["cmac"] == {"tag": list(tag)}


def test_result_with_unknown_output_fails_task(platform: Platform) -> None:
    worker = platform.scheduler_client()
    staged, executor_id = take(platform, worker)
    with pytest.raises(RemoteError) as err:
        worker.update_task_result(
            staged.task_id,
            TaskResult.success(TaskOutputs(b"x", tags_map={"nope": bytes(16)})),
            executor_id=executor_id,
        )
    assert err.value.code is StatusCode.INVALID_ARGUMENT
    assert "nope" in err.value.message
    task = platform.task(staged.task_id)
    assert task.status is TaskStatus.FAILED
    assert task.result.err is not None and task.result.err.startswith("invalid task result")


# ------------------------------------------------------------------------ heartbeats
def test_heartbeat_new_task_and_no_action(platform: Platform) -> None:
    worker = platform.scheduler_client()
    executor_id = uuid.uuid4()
    assert worker.heartbeat(executor_id, ExecutorStatus.IDLE) is ExecutorCommand.NO_ACTION
    platform.stage()
    wait_for(
        lambda: worker.heartbeat(executor_id, ExecutorStatus.IDLE) is ExecutorCommand.NEW_TASK,
        what="NewTask",
    )


def test_idle_heartbeat_is_held_until_a_task_arrives(make_platform) -> None:
    platform = make_platform(heartbeat_wait_secs=5.0, executor_timeout_secs=10.0)
    platform.start_core()
    worker = platform.scheduler_client()
    executor_id = uuid.uuid4()
    answers: list[tuple[ExecutorCommand, float]] = []

    def beat() -> None:
        started = time.monotonic()
        command = worker.heartbeat(executor_id, ExecutorStatus.IDLE, wait_secs=5.0)
        answers.append((command, time.monotonic() - started))

    thread = threading.Thread(target=beat)
    thread.start()
    time.sleep(0.3)
    assert not answers, "the heartbeat was not held"
    platform.stage()
    thread.join(10)
    # Answered by the task's arrival, well before the 5 s hold would have ended.
    assert answers and answers[0][0] is ExecutorCommand.NEW_TASK
    assert answers[0][1] < 4.0


def test_heartbeat_without_wait_answers_at_once(make_platform) -> None:
    platform = make_platform(heartbeat_wait_secs=5.0, executor_timeout_secs=10.0)
    platform.start_core()
    worker = platform.scheduler_client()
    started = time.monotonic()
    assert worker.heartbeat(uuid.uuid4(), ExecutorStatus.IDLE) is ExecutorCommand.NO_ACTION
    assert time.monotonic() - started < 4.0


def test_executing_heartbeat_without_task_is_stopped(platform: Platform) -> None:
    worker = platform.scheduler_client()
    assert worker.heartbeat(uuid.uuid4(), ExecutorStatus.EXECUTING) is ExecutorCommand.STOP


def test_idle_heartbeat_hands_an_unstarted_task_back(platform: Platform) -> None:
    worker = platform.scheduler_client()
    staged = platform.stage()
    first = uuid.uuid4()
    pull(worker, first)
    # The executor went Idle without starting the task: it is queued again.
    assert worker.heartbeat(first, ExecutorStatus.IDLE) is ExecutorCommand.NEW_TASK
    second = uuid.uuid4()
    assert pull(worker, second).task_id == staged.task_id
    with pytest.raises(RemoteError) as err:
        worker.update_task_status(staged.task_id, executor_id=first)
    assert err.value.code is StatusCode.PERMISSION_DENIED
    worker.update_task_status(staged.task_id, executor_id=second)
    assert platform.task(staged.task_id).status is TaskStatus.RUNNING


def test_idle_heartbeat_with_running_task_retries_it(platform: Platform) -> None:
    worker = platform.scheduler_client()
    staged, executor_id = take(platform, worker)
    worker.heartbeat(executor_id, ExecutorStatus.IDLE)
    task = platform.task(staged.task_id)
    assert task.status is TaskStatus.STAGED and task.attempts == 1
    assert pull(worker, uuid.uuid4()).task_id == staged.task_id


# ------------------------------------------------------------------------ publish
def test_publish_task_is_run(platform: Platform) -> None:
    staged = platform.stage({"message": "published"}, enqueue=False)
    platform.scheduler_client().publish_task(staged)
    platform.start(EXECUTION)
    task = platform.wait_status(staged.task_id, TaskStatus.FINISHED)
    assert task.result.ok is not None and task.result.ok.return_value == b"published"


def test_publish_refuses_a_task_that_is_not_staged(platform: Platform) -> None:
    staged = platform.stage(enqueue=False, status=TaskStatus.FINISHED)
    with pytest.raises(RemoteError) as err:
        platform.scheduler_client().publish_task(staged)
    assert err.value.code is StatusCode.INVALID_ARGUMENT
    assert "Finished" in err.value.message


# ------------------------------------------------------------------------ refusals
def test_only_execution_nodes_may_call(platform: Platform) -> None:
    intruder = platform.scheduler_client(MANAGEMENT)
    with pytest.raises(RemoteError) as err:
        intruder.heartbeat(uuid.uuid4(), ExecutorStatus.IDLE)
    assert err.value.code is StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize("bad", ["", "not-a-uuid", "executor-00000000-0000-0000-0000-000000000001"])
def test_malformed_executor_id(platform: Platform, bad: str) -> None:
    worker = platform.scheduler_client()
    for call in (lambda: worker.heartbeat(bad, ExecutorStatus.IDLE), lambda: worker.pull_task(bad)):
        with pytest.raises(RemoteError) as err:
            call()
        assert err.value.code is StatusCode.INVALID_ARGUMENT
        assert "executor_id" in err.value.message


def test_unknown_executor_status(platform: Platform) -> None:
    with pytest.raises(RemoteError) as err:
        platform.scheduler_client().heartbeat(uuid.uuid4(), 7)  # type: ignore[arg-type]
    assert err.value.code is StatusCode.INVALID_ARGUMENT
    assert "status" in err.value.message


def test_malformed_task_id(platform: Platform) -> None:
    worker = platform.scheduler_client()
    bad = f"task-{uuid.uuid4()}"
    for call in (
        lambda: worker.update_task_status(bad),
        lambda: worker.update_task_result(bad, TaskResult.failure("x")),
    ):
        with pytest.raises(RemoteError) as err:
            call()
        assert err.value.code is StatusCode.INVALID_ARGUMENT
        assert "task_id" in err.value.message


def test_update_task_status_accepts_only_running(platform: Platform) -> None:
    worker = platform.scheduler_client()
    staged = platform.stage()
    executor_id = uuid.uuid4()
    pull(worker, executor_id)
    with pytest.raises(RemoteError) as err:
        worker.update_task_status(staged.task_id, TaskStatus.FINISHED, executor_id=executor_id)
    assert err.value.code is StatusCode.INVALID_ARGUMENT
    assert "task_status" in err.value.message
    assert platform.task(staged.task_id).status is TaskStatus.STAGED


def test_updates_from_another_executor_are_refused(platform: Platform) -> None:
    worker = platform.scheduler_client()
    staged = platform.stage()
    owner = uuid.uuid4()
    pull(worker, owner)
    with pytest.raises(RemoteError) as err:
        worker.update_task_status(staged.task_id, executor_id=uuid.uuid4())
    assert err.value.code is StatusCode.PERMISSION_DENIED
    worker.update_task_status(staged.task_id, executor_id=owner)
    with pytest.raises(RemoteError) as err:
        worker.update_task_result(staged.task_id, TaskResult.failure("x"), executor_id=uuid.uuid4())
    assert err.value.code is StatusCode.PERMISSION_DENIED
    assert platform.task(staged.task_id).status is TaskStatus.RUNNING


def test_updates_of_an_unassigned_task_are_refused(platform: Platform) -> None:
    staged = platform.stage()
    worker = platform.scheduler_client()
    with pytest.raises(RemoteError) as err:
        worker.update_task_status(staged.task_id)
    assert err.value.code is StatusCode.PERMISSION_DENIED
    assert platform.task(staged.task_id).status is TaskStatus.STAGED


def test_result_for_a_task_that_is_not_running(platform: Platform) -> None:
    worker = platform.scheduler_client()
    staged = platform.stage()
    executor_id = uuid.uuid4()
    pull(worker, executor_id)
    with pytest.raises(RemoteError) as err:
        worker.update_task_result(
            staged.task_id, TaskResult.success(TaskOutputs(b"x")), executor_id=executor_id
        )
    assert err.value.code is StatusCode.FAILED_PRECONDITION
    assert platform.task(staged.task_id).status is TaskStatus.STAGED


def test_result_must_be_ok_or_err(platform: Platform) -> None:
    worker = platform.scheduler_client()
    staged, executor_id = take(platform, worker)
    client = raw_client(platform)
    request = pb.UpdateTaskResultRequest(task_id=str(staged.task_id), result=common_pb.TaskResult())
    with pytest.raises(RemoteError) as err:
        client.call(
            "UpdateTaskResult",
            request,
            empty_pb2.Empty,
            metadata={EXECUTOR_ID_METADATA: str(executor_id)},
        )
    assert err.value.code is StatusCode.INVALID_ARGUMENT
    assert "result" in err.value.message
    bad_tag = pb.UpdateTaskResultRequest(
        task_id=str(staged.task_id),
        result=common_pb.TaskResult(
            Ok=common_pb.TaskOutputs(return_value=b"", tags_map={"o": b"short"})
        ),
    )
    with pytest.raises(RemoteError) as err:
        client.call("UpdateTaskResult", bad_tag, empty_pb2.Empty)
    assert err.value.code is StatusCode.INVALID_ARGUMENT
    assert "tags_map" in err.value.message
    assert platform.task(staged.task_id).status is TaskStatus.RUNNING


def test_unknown_task_record(platform: Platform) -> None:
    worker = platform.scheduler_client()
    staged = platform.stage(record=False)
    executor_id = uuid.uuid4()
    pull(worker, executor_id)
    with pytest.raises(RemoteError) as err:
        worker.update_task_status(staged.task_id, executor_id=executor_id)
    assert err.value.code is StatusCode.INVALID_ARGUMENT
    assert "invalid task id" in err.value.message


def test_pull_while_holding_a_task_is_refused(platform: Platform) -> None:
    worker = platform.scheduler_client()
    platform.stage()
    executor_id = uuid.uuid4()
    pull(worker, executor_id)
    platform.stage()
    time.sleep(0.2)
    with pytest.raises(RemoteError) as err:
        worker.pull_task(executor_id)
    assert err.value.code is StatusCode.FAILED_PRECONDITION


def test_pull_from_an_empty_queue(platform: Platform) -> None:
    with pytest.raises(RemoteError) as err:
        raw_client(platform).call(
            "PullTask", pb.PullTaskRequest(executor_id=str(uuid.uuid4())), pb.PullTaskResponse
        )
    assert err.value.code is StatusCode.UNKNOWN
    assert err.value.message == "task queue is empty"


def test_publish_task_with_invalid_json(platform: Platform) -> None:
    worker = platform.scheduler_client()
    for bad in (b"{not json", b'{"task_id": "x"}', b"[]"):
        with pytest.raises(RemoteError) as err:
            worker.publish_task(bad)
        assert err.value.code is StatusCode.INVALID_ARGUMENT
        assert "staged_task" in err.value.message


def test_subscribe_is_unimplemented(platform: Platform) -> None:
    with pytest.raises(RemoteError) as err:
        platform.scheduler_client().subscribe()
    assert err.value.code is StatusCode.UNIMPLEMENTED
    assert "Subscribe" in err.value.message
