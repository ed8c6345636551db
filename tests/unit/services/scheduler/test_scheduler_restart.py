"""Restart recovery: staged tasks survive a scheduler restart; Running ones are retried/failed."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from scheduler_harness import Platform, take, wait_for

from teaclave.config.build import EXECUTION, SCHEDULER, STORAGE
from teaclave.rpc.clients.scheduler import ExecutorCommand, ExecutorStatus
from teaclave.types.task import TaskStatus


def restart_scheduler(platform: Platform) -> None:
    (scheduler,) = platform.services[SCHEDULER]
    platform.stop(scheduler)
    platform.start(SCHEDULER)


def test_staged_task_survives_restart(platform: Platform) -> None:
    staged = platform.stage({"message": "still here"})
    worker = platform.scheduler_client()
    # The scheduler took the task from the storage queue into memory.
    wait_for(
        lambda: worker.heartbeat(uuid.uuid4(), ExecutorStatus.IDLE) is ExecutorCommand.NEW_TASK,
        what="the task to be queued",
    )
    assert platform.management.dequeue(b"staged-task") is None
    restart_scheduler(platform)
    platform.start(EXECUTION)
    task = platform.wait_status(staged.task_id, TaskStatus.FINISHED)
    assert task.result.ok is not None and task.result.ok.return_value == b"still here"
    # The task record is the commit point; the staged record is dropped right after it.
    wait_for(lambda: platform.staged_record(staged.task_id) is None, what="the staged record to go")


def test_running_task_is_retried_after_restart(platform: Platform) -> None:
    worker = platform.scheduler_client()
    staged, _ = take(platform, worker, arguments={"message": "retried"})
    restart_scheduler(platform)
    task = platform.task(staged.task_id)
    assert task.status is TaskStatus.STAGED and task.attempts == 1
    platform.start(EXECUTION)
    task = platform.wait_status(staged.task_id, TaskStatus.FINISHED)
    assert task.result.ok is not None and task.result.ok.return_value == b"retried"


def test_running_task_fails_after_restart_without_attempts_left(
    make_platform: Callable[..., Platform],
) -> None:
    platform = make_platform(max_attempts=1)
    platform.start(STORAGE)
    platform.start(SCHEDULER)
    worker = platform.scheduler_client()
    staged, _ = take(platform, worker)
    restart_scheduler(platform)
    task = platform.task(staged.task_id)
    assert task.status is TaskStatus.FAILED
    assert task.result.err == (
        "Runtime Error: Executor Timeout: platform restarted while the task was running"
    )
    assert platform.staged_record(staged.task_id) is None


def test_stale_worker_is_stopped_after_restart(platform: Platform) -> None:
    worker = platform.scheduler_client()
    staged, executor_id = take(platform, worker)
    restart_scheduler(platform)
    # The old executor still believes it runs the task: the new scheduler stops it.
    assert worker.heartbeat(executor_id, ExecutorStatus.EXECUTING) is ExecutorCommand.STOP
    assert platform.task(staged.task_id).status is TaskStatus.STAGED
