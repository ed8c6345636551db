"""The execution service (worker node) against real storage and scheduler services."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from scheduler_harness import Platform

from teaclave.config.build import EXECUTION, SCHEDULER, STORAGE
from teaclave.functions import BUILTIN_FUNCTIONS, register
from teaclave.types.files import CryptoSchema, FileCrypto
from teaclave.types.function import Executor, ExecutorType
from teaclave.types.task import REASON_CANCELED_BY_USER, StagedInput, TaskStatus
from teaclave.worker.runtime import Runtime

RAISING = "test-execution-raising"
BLOCKING = "test-execution-blocking"
release = threading.Event()
started = threading.Event()


@pytest.fixture(autouse=True)
def test_functions() -> Iterator[None]:
    @register(RAISING)
    def raising(arguments: dict[str, Any], runtime: Runtime) -> str:
        raise ValueError(f"cannot handle {arguments.get('message')!r}")

    @register(BLOCKING)
    def blocking(arguments: dict[str, Any], runtime: Runtime) -> str:
        started.set()
        release.wait(10)
        return "released"

    release.clear()
    started.clear()
    yield
    release.set()
    BUILTIN_FUNCTIONS.pop(RAISING, None)
    BUILTIN_FUNCTIONS.pop(BLOCKING, None)


@pytest.fixture
def running(platform: Platform) -> Platform:
    platform.start(EXECUTION)
    return platform


def test_execute_function(running: Platform) -> None:
    staged = running.stage({"message": "Hello, Teaclave Tests!", "save_log": "true"})
    task = running.wait_status(staged.task_id, TaskStatus.FINISHED, TaskStatus.FAILED)
    assert task.status is TaskStatus.FINISHED
    assert task.result.ok is not None
    assert task.result.ok.return_value == b"Hello, Teaclave Tests!"
    assert "[INFO teaclave_function::echo] Hello, Teaclave Tests!" in task.result.ok.log
    assert running.staged_record(staged.task_id) is None


def test_log_is_empty_without_save_log(running: Platform) -> None:
    staged = running.stage({"message": "quiet"})
    task = running.wait_status(staged.task_id, TaskStatus.FINISHED, TaskStatus.FAILED)
    assert task.result.ok is not None and task.result.ok.log == []


def test_staged_task_reaches_an_idle_worker(running: Platform) -> None:
    time.sleep(0.3)  # the worker is idle, its heartbeat held by the scheduler
    begin = time.monotonic()
    staged = running.stage({"message": "fast"})
    task = running.wait_status(staged.task_id, TaskStatus.FINISHED, TaskStatus.FAILED)
    latency = time.monotonic() - begin  # measured, asserted only by the benchmarks
    assert latency >= 0
    assert task.status is TaskStatus.FINISHED


def test_tasks_run_one_after_another(running: Platform) -> None:
    staged = [running.stage({"message": f"message {i}"}) for i in range(5)]
    for i, item in enumerate(staged):
        task = running.wait_status(item.task_id, TaskStatus.FINISHED, TaskStatus.FAILED)
        assert task.result.ok is not None
        assert task.result.ok.return_value == f"message {i}".encode()


def test_function_error_fails_the_task(running: Platform) -> None:
    staged = running.stage({"message": "boom"}, function_name=RAISING)
    task = running.wait_status(staged.task_id, TaskStatus.FINISHED, TaskStatus.FAILED)
    assert task.status is TaskStatus.FAILED
    assert task.result.err == "cannot handle 'boom'"


def test_unknown_function_fails(running: Platform) -> None:
    staged = running.stage(function_name="builtin-no-such-function")
    task = running.wait_status(staged.task_id, TaskStatus.FINISHED, TaskStatus.FAILED)
    assert task.status is TaskStatus.FAILED
    assert task.result.err is not None and task.result.err.startswith("Function not found.")


def test_unavailable_executor_pair_fails(running: Platform) -> None:
    # A builtin function asked to run under the WebAssembly executor: no such pair.
    staged = running.stage(executor=Executor.WAMR, executor_type=ExecutorType.BUILTIN)
    task = running.wait_status(staged.task_id, TaskStatus.FINISHED, TaskStatus.FAILED)
    assert task.status is TaskStatus.FAILED
    assert task.result.err == "function not available: (Builtin, WAMicroRuntime)"


def test_bad_arguments_fail(running: Platform) -> None:
    staged = running.stage({"message": 42})
    task = running.wait_status(staged.task_id, TaskStatus.FINISHED, TaskStatus.FAILED)
    assert task.status is TaskStatus.FAILED
    assert task.result.err is not None
    assert task.result.err.startswith("Cannot deserialize arguments")


def test_task_whose_input_cannot_be_fetched_fails_with_the_reason(platform: Platform) -> None:
    staged = platform.stage(enqueue=False)
    staged.input_data = {
        "input": StagedInput("file:///nowhere", bytes(16), FileCrypto(CryptoSchema.RAW))
    }
    platform.management.put(f"stagedtask-{staged.task_id}".encode(), staged.to_bytes())
    platform.management.enqueue(b"staged-task", staged.to_bytes())
    platform.start(EXECUTION)
    task = platform.wait_status(staged.task_id, TaskStatus.FINISHED, TaskStatus.FAILED)
    assert task.status is TaskStatus.FAILED
    assert task.result.err is not None
    assert task.result.err.startswith("cannot fetch inputs: file:///nowhere: file URLs are")


def test_cancel_abandons_the_running_task_and_the_worker_goes_on(running: Platform) -> None:
    staged = running.stage(function_name=BLOCKING)
    running.wait_status(staged.task_id, TaskStatus.RUNNING)
    assert started.wait(5)
    running.cancel(staged.task_id)
    task = running.wait_status(staged.task_id, TaskStatus.CANCELED)
    assert task.result.err == REASON_CANCELED_BY_USER
    # The node went Idle (it did not exit) and takes the next task.
    follow_up = running.stage({"message": "next"})
    task = running.wait_status(follow_up.task_id, TaskStatus.FINISHED)
    assert task.result.ok is not None and task.result.ok.return_value == b"next"
    release.set()
    time.sleep(0.2)
    assert running.task(staged.task_id).status is TaskStatus.CANCELED


def test_two_workers_share_the_queue(running: Platform) -> None:
    running.start(EXECUTION)
    first = running.stage(function_name=BLOCKING)
    running.wait_status(first.task_id, TaskStatus.RUNNING)
    second = running.stage({"message": "other worker"})
    task = running.wait_status(second.task_id, TaskStatus.FINISHED)
    assert task.result.ok is not None and task.result.ok.return_value == b"other worker"
    assert running.task(first.task_id).status is TaskStatus.RUNNING
    release.set()
    running.wait_status(first.task_id, TaskStatus.FINISHED)


def test_result_is_kept_while_storage_is_down(platform: Platform) -> None:
    platform.start(EXECUTION)
    staged = platform.stage(function_name=BLOCKING)
    platform.wait_status(staged.task_id, TaskStatus.RUNNING)
    (storage,) = platform.services[STORAGE]
    platform.stop(storage)
    release.set()  # the run ends while the scheduler cannot store its result
    time.sleep(0.5)
    platform.start(STORAGE)
    task = platform.wait_status(staged.task_id, TaskStatus.FINISHED, timeout=15)
    assert task.result.ok is not None and task.result.ok.return_value == b"released"


def test_worker_waits_for_the_scheduler(make_platform: Any) -> None:
    platform = make_platform()
    platform.start(STORAGE)
    platform.start(EXECUTION)  # no scheduler yet: the node keeps retrying
    staged = platform.stage({"message": "late scheduler"})
    time.sleep(0.3)
    platform.start(SCHEDULER)
    task = platform.wait_status(staged.task_id, TaskStatus.FINISHED)
    assert task.result.ok is not None and task.result.ok.return_value == b"late scheduler"


def test_worker_survives_a_scheduler_restart(running: Platform) -> None:
    (scheduler,) = running.services[SCHEDULER]
    running.stop(scheduler)
    time.sleep(0.3)
    running.start(SCHEDULER)
    staged = running.stage({"message": "after restart"})
    task = running.wait_status(staged.task_id, TaskStatus.FINISHED, timeout=15)
    assert task.result.ok is not None and task.result.ok.return_value == b"after restart"
