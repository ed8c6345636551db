"""``core.Scheduler`` driven directly (no threads, controlled clock) over a real storage service."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from scheduler_harness import Platform

from teaclave.config.build import SCHEDULER, STORAGE
from teaclave.rpc.clients.scheduler import ExecutorCommand, ExecutorStatus
from teaclave.rpc.clients.storage import StorageClient
from teaclave.services.launcher import service_identity
from teaclave.services.scheduler.core import CANCEL_QUEUE, PULLED_CANCELED, Scheduler
from teaclave.types.errors import StatusCode, TeaclaveError
from teaclave.types.task import REASON_CANCELED_BY_USER, TaskStatus


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def storage_platform(make_platform: Callable[..., Platform]) -> Platform:
    platform = make_platform(executor_timeout_secs=30.0, heartbeat_wait_secs=1.0, max_attempts=2)
    platform.start(STORAGE)
    return platform


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def scheduler(storage_platform: Platform, clock: Clock) -> Scheduler:
    identity, verifier = service_identity(storage_platform.config, SCHEDULER)
    storage = StorageClient.connect(storage_platform.config, identity, verifier)
    storage_platform.clients.append(storage)
    return Scheduler(storage_platform.config.scheduler, storage, clock)


def test_pull_of_a_task_waiting_for_cancel(
    storage_platform: Platform, scheduler: Scheduler
) -> None:
    staged = storage_platform.stage(enqueue=False)
    assert scheduler.accept(staged) is None
    scheduler.state.tasks_to_cancel[staged.task_id] = b"{}"
    with pytest.raises(TeaclaveError) as err:
        scheduler.pull(uuid.uuid4())
    assert err.value.code is StatusCode.UNKNOWN
    assert err.value.message == PULLED_CANCELED
    task = storage_platform.task(staged.task_id)
    assert task.status is TaskStatus.CANCELED
    assert task.result.err == REASON_CANCELED_BY_USER
    assert storage_platform.staged_record(staged.task_id) is None


def test_accept_writes_the_durable_record_and_deduplicates(
    storage_platform: Platform, scheduler: Scheduler
) -> None:
    staged = storage_platform.stage(enqueue=False)  # e.g. a task staged by PublishTask
    storage_platform.management.delete(f"stagedtask-{staged.task_id}".encode())
    assert scheduler.accept(staged) is None
    assert storage_platform.staged_record(staged.task_id) == staged.to_bytes()
    assert scheduler.accept(staged) == "already queued or assigned"
    assert len(scheduler.state.queue) == 1


def test_accept_ignores_tasks_that_are_not_staged(
    storage_platform: Platform, scheduler: Scheduler
) -> None:
    running = storage_platform.stage(enqueue=False, status=TaskStatus.RUNNING)
    assert scheduler.accept(running) == "task is Running, expected Staged"
    canceled = storage_platform.stage(enqueue=False, status=TaskStatus.CANCELED)
    assert scheduler.accept(canceled) == "task is Canceled"
    assert storage_platform.staged_record(canceled.task_id) is None
    assert not scheduler.state.queue


def test_liveness_uses_the_timeout(
    storage_platform: Platform, scheduler: Scheduler, clock: Clock
) -> None:
    staged = storage_platform.stage(enqueue=False)
    scheduler.accept(staged)
    executor_id = uuid.uuid4()
    scheduler.pull(executor_id)
    scheduler.start_running(staged.task_id, executor_id)
    clock.now += 29.0
    scheduler.expire_executors()
    assert executor_id in scheduler.state.executors
    assert (
        scheduler.heartbeat(executor_id, ExecutorStatus.EXECUTING, 0) is ExecutorCommand.NO_ACTION
    )
    clock.now += 30.5
    scheduler.expire_executors()
    assert executor_id not in scheduler.state.executors
    task = storage_platform.task(staged.task_id)
    assert task.status is TaskStatus.STAGED and task.attempts == 1
    assert [t.task_id for t in scheduler.state.queue] == [staged.task_id]


def test_a_retried_task_goes_to_the_front(
    storage_platform: Platform, scheduler: Scheduler, clock: Clock
) -> None:
    first = storage_platform.stage(enqueue=False)
    scheduler.accept(first)
    executor_id = uuid.uuid4()
    scheduler.pull(executor_id)
    scheduler.start_running(first.task_id, executor_id)
    second = storage_platform.stage(enqueue=False)
    scheduler.accept(second)
    clock.now += 31.0
    scheduler.expire_executors()
    assert [t.task_id for t in scheduler.state.queue] == [first.task_id, second.task_id]


def test_stop_keeps_pending_cancels(storage_platform: Platform, scheduler: Scheduler) -> None:
    staged = storage_platform.stage(enqueue=False)
    scheduler.accept(staged)
    executor_id = uuid.uuid4()
    scheduler.pull(executor_id)
    request = storage_platform.management.get(f"task-{staged.task_id}".encode())
    assert request is not None
    scheduler.request_cancel(staged.task_id, request)
    assert staged.task_id in scheduler.state.tasks_to_cancel
    scheduler.stop()
    assert storage_platform.management.dequeue(CANCEL_QUEUE) == request


def test_recovery_at_start(storage_platform: Platform, scheduler: Scheduler) -> None:
    staged = storage_platform.stage(enqueue=False)
    finished = storage_platform.stage(enqueue=False, status=TaskStatus.FINISHED)
    orphan = storage_platform.stage(enqueue=False, record=False)
    storage_platform.management.put(f"stagedtask-{orphan.task_id}".encode(), orphan.to_bytes())
    running = storage_platform.stage(enqueue=False, status=TaskStatus.RUNNING)
    queued = storage_platform.stage()  # still in the storage queue
    storage_platform.management.put(b"stagedtask-garbage", b"not json")
    scheduler.recover_at_start()
    ids = [t.task_id for t in scheduler.state.queue]
    # The storage queue is drained first (FIFO); the retried Running task goes to the front.
    assert ids[0] == running.task_id
    assert set(ids) == {queued.task_id, staged.task_id, running.task_id}
    assert ids.index(queued.task_id) < ids.index(staged.task_id)
    assert storage_platform.task(running.task_id).status is TaskStatus.STAGED
    assert storage_platform.task(running.task_id).attempts == 1
    assert storage_platform.staged_record(finished.task_id) is None
    assert storage_platform.staged_record(orphan.task_id) is None
    assert storage_platform.management.get(b"stagedtask-garbage") is None
    assert storage_platform.management.dequeue(b"staged-task") is None
