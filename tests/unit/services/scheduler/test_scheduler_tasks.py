"""Cancels and lost executors with real storage, scheduler and execution services."""

from __future__ import annotations

import time
import uuid

import pytest
from scheduler_harness import Platform, pull, take, wait_for

from teaclave.config.build import EXECUTION
from teaclave.rpc.clients.scheduler import ExecutorCommand, ExecutorStatus, SchedulerClient
from teaclave.rpc.errors import RemoteError
from teaclave.types.errors import StatusCode
from teaclave.types.task import (
    REASON_CANCELED_BY_USER,
    StagedTask,
    TaskOutputs,
    TaskResult,
    TaskStatus,
)


# ------------------------------------------------------------------------ cancel
def test_cancel_task(platform: Platform) -> None:
    # Teaclave's test_cancel_task: the queued task is announced, canceled, cannot be pulled.
    worker = platform.scheduler_client()
    executor_id = uuid.uuid4()
    staged = platform.stage()
    wait_for(
        lambda: worker.heartbeat(executor_id, ExecutorStatus.IDLE) is ExecutorCommand.NEW_TASK,
        what="NewTask",
    )
    platform.cancel(staged.task_id)
    task = platform.wait_status(staged.task_id, TaskStatus.CANCELED)
    assert task.result.err == REASON_CANCELED_BY_USER
    assert worker.pull_task(executor_id) is None
    wait_for(lambda: platform.staged_record(staged.task_id) is None, what="the staged record to go")


def test_cancel_running_task_stops_its_executor(platform: Platform) -> None:
    worker = platform.scheduler_client()
    staged, executor_id = take(platform, worker)
    assert worker.heartbeat(executor_id, ExecutorStatus.EXECUTING) is ExecutorCommand.NO_ACTION
    platform.cancel(staged.task_id)
    wait_for(
        lambda: worker.heartbeat(executor_id, ExecutorStatus.EXECUTING) is ExecutorCommand.STOP,
        what="Stop",
    )
    task = platform.task(staged.task_id)
    assert task.status is TaskStatus.CANCELED
    assert task.result.err == REASON_CANCELED_BY_USER
    with pytest.raises(RemoteError) as err:
        worker.update_task_result(
            staged.task_id, TaskResult.success(TaskOutputs(b"late")), executor_id=executor_id
        )
    assert err.value.code is StatusCode.PERMISSION_DENIED
    assert platform.task(staged.task_id).status is TaskStatus.CANCELED


def test_cancel_before_the_task_reaches_the_scheduler(platform: Platform) -> None:
    staged = platform.stage(enqueue=False)
    platform.cancel(staged.task_id)
    time.sleep(0.3)  # the cancel request is consumed first
    platform.management.enqueue(b"staged-task", staged.to_bytes())
    task = platform.wait_status(staged.task_id, TaskStatus.CANCELED)
    assert task.result.err == REASON_CANCELED_BY_USER
    assert platform.scheduler_client().pull_task(uuid.uuid4()) is None


# ------------------------------------------------------------------------ liveness
def _fake_worker_dies(platform: Platform, worker: SchedulerClient, staged: StagedTask) -> uuid.UUID:
    executor_id = uuid.uuid4()
    assert pull(worker, executor_id).task_id == staged.task_id
    worker.update_task_status(staged.task_id, executor_id=executor_id)
    assert worker.heartbeat(executor_id, ExecutorStatus.EXECUTING) is ExecutorCommand.NO_ACTION
    return executor_id  # ... and never heart-beats again


def test_fail_task_is_retried_then_finished_by_a_real_worker(platform: Platform) -> None:
    worker = platform.scheduler_client()
    staged = platform.stage({"message": "second time lucky"})
    _fake_worker_dies(platform, worker, staged)
    task = platform.wait_status(staged.task_id, TaskStatus.STAGED)
    assert task.attempts == 1
    platform.start(EXECUTION)
    task = platform.wait_status(staged.task_id, TaskStatus.FINISHED)
    assert task.result.ok is not None and task.result.ok.return_value == b"second time lucky"


def test_fail_task_when_both_workers_die(platform: Platform) -> None:
    worker = platform.scheduler_client()
    staged = platform.stage()
    first = _fake_worker_dies(platform, worker, staged)
    platform.wait_status(staged.task_id, TaskStatus.STAGED)
    second = _fake_worker_dies(platform, worker, staged)
    task = platform.wait_status(staged.task_id, TaskStatus.FAILED)
    assert task.result.err is not None
    assert task.result.err.startswith("Runtime Error: Executor Timeout")
    assert str(second) in task.result.err and str(first) not in task.result.err
    # The task record is the commit point; the staged record is dropped right after it.
    wait_for(lambda: platform.staged_record(staged.task_id) is None, what="the staged record to go")


def test_fail_task_with_a_single_attempt(make_platform) -> None:
    platform = make_platform(max_attempts=1)
    platform.start_core()
    worker = platform.scheduler_client()
    staged = platform.stage()
    executor_id = _fake_worker_dies(platform, worker, staged)
    task = platform.wait_status(staged.task_id, TaskStatus.FAILED)
    assert (
        task.result.err
        == f"Runtime Error: Executor Timeout: executor {executor_id} stopped heart-beating"
    )
    assert task.attempts == 0
