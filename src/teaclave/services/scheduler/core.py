"""The scheduler's logic: queueing, assignment, cancels, liveness and restart recovery.

Differences from Teaclave (``spec/services.md`` §6.1-6.3), wire behaviour unchanged:

* Event-driven: two threads long-poll the storage queues ``staged-task`` and ``cancel_queue``
  (no 2 s daemon tick); an idle executor's heartbeat may be held until a task arrives.
* A cancel request for a task still in the queue cancels it at once; a task assigned to an
  executor is canceled at that executor's next Executing heartbeat (answered ``Stop``).
* An executor that stops heart-beating loses its task to a retry (``task.requeue()``, front of
  the queue) while ``attempts + 1 < max_attempts``, else the task fails with a reason.
* An executor reporting Idle while its task is unfinished, and an executor reporting Executing
  with no task assigned (e.g. after a scheduler restart), are treated as having lost the task.
* Staged tasks survive restarts: every queued task has a ``stagedtask-<uuid>`` record (written
  by management, or here on arrival), deleted when the task ends; at start the records are
  rescanned and Running tasks are retried or failed.

Task records are the commit point of every change: other records are written before them and
clean-up (deleting ``stagedtask-``) happens after. Read-modify-write of task records is
serialized by one lock (taken before the state condition, never after).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from teaclave.config.runtime import SchedulerConfig
from teaclave.rpc.clients.scheduler import ExecutorCommand, ExecutorStatus
from teaclave.rpc.clients.storage import StorageClient
from teaclave.rpc.errors import RemoteError
from teaclave.services.scheduler.state import SchedulerState
from teaclave.types import serde
from teaclave.types.errors import (
    DecodeError,
    FailedPrecondition,
    InternalError,
    InvalidArgument,
    PermissionDenied,
    StatusCode,
    TeaclaveError,
)
from teaclave.types.files import OutputFile
from teaclave.types.ids import TASK_PREFIX, ExternalId
from teaclave.types.task import (
    REASON_EXECUTOR_TIMEOUT,
    StagedTask,
    TaskResult,
    TaskState,
    TaskStatus,
)

log = logging.getLogger(__name__)

STAGED_TASK_QUEUE = b"staged-task"
CANCEL_QUEUE = b"cancel_queue"
STAGED_RECORD_PREFIX = "stagedtask"

QUEUE_EMPTY = "task queue is empty"
PULLED_CANCELED = "task to pull has been canceled"

#: Held heartbeats at once; beyond this idle executors are answered at once.
MAX_HELD_CALLS = 48

_TRANSIENT = (StatusCode.UNAVAILABLE, StatusCode.DEADLINE_EXCEEDED, StatusCode.CANCELLED)


def staged_record_key(task_id: uuid.UUID) -> bytes:
    """``stagedtask-<uuid>``: the durable copy of a queued task."""
    return f"{STAGED_RECORD_PREFIX}-{task_id}".encode()


def task_key(task_id: uuid.UUID) -> bytes:
    """``task-<uuid>``."""
    return ExternalId(TASK_PREFIX, task_id).key


@contextmanager
def storage_errors() -> Iterator[None]:
    """Turn storage failures into scheduler errors (transient ones stay UNAVAILABLE)."""
    try:
        yield
    except RemoteError as exc:
        if exc.code in _TRANSIENT:
            raise TeaclaveError(
                f"storage service error: {exc.message}", StatusCode.UNAVAILABLE
            ) from None
        log.error("storage call %s failed: %s %s", exc.method, exc.code.name, exc.message)
        raise InternalError("storage service error") from None
    except DecodeError as exc:
        log.error("undecodable record in storage: %s", exc)
        raise InternalError("storage service error") from None


class Scheduler:
    """Staged-task queue and executor bookkeeping over the storage service."""

    def __init__(
        self,
        config: SchedulerConfig,
        storage: StorageClient,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.storage = storage
        self.clock = clock
        self.state = SchedulerState()
        self._task_lock = threading.RLock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.poll_secs = min(1.0, max(0.05, config.heartbeat_wait_secs))

    # ------------------------------------------------------------------ storage helpers
    def load_task(self, task_id: uuid.UUID) -> TaskState | None:
        """The stored task record, or None."""
        with storage_errors():
            value = self.storage.get_json(task_key(task_id))
            return None if value is None else TaskState.from_json(value)

    def save_task(self, task: TaskState) -> None:
        """Write the task record (the commit point of every change)."""
        with storage_errors():
            self.storage.put_json(task_key(task.task_id), task.to_json())

    def _forget_staged_record(self, task_id: uuid.UUID) -> None:
        with storage_errors():
            self.storage.delete(staged_record_key(task_id))

    # ------------------------------------------------------------------ arrivals
    def accept(self, staged: StagedTask) -> str | None:
        """Queue a staged task (from the storage queue or PublishTask).

        Returns None when queued, else why it was not. A task without a stored record is
        queued too (Teaclave's scheduler tests stage tasks that way) but is not durable.
        """
        with self._task_lock:
            with self.state.cond:
                if self.state.is_known(staged.task_id):
                    return "already queued or assigned"
            task = self.load_task(staged.task_id)
            if task is not None:
                if task.status.is_ended:
                    self._forget_staged_record(staged.task_id)
                    return f"task is {task.status.serde_name}"
                if task.status is not TaskStatus.STAGED:
                    return f"task is {task.status.serde_name}, expected Staged"
                with storage_errors():
                    self.storage.put(staged_record_key(staged.task_id), staged.to_bytes())
            with self.state.cond:
                canceled = self.state.tasks_to_cancel.pop(staged.task_id, None) is not None
                if not canceled:
                    self.state.push(staged)
                    return None
            self._cancel_task(staged.task_id)
            return "task was canceled"

    def _accept_raw(self, raw: bytes) -> None:
        try:
            staged = StagedTask.from_bytes(raw)
        except (DecodeError, ValueError) as exc:
            log.error("dropping undecodable staged task from %s: %s", STAGED_TASK_QUEUE, exc)
            return
        reason = self.accept(staged)
        if reason is not None:
            log.info("staged task %s not queued: %s", staged.task_id, reason)

    # ------------------------------------------------------------------ cancels
    def request_cancel(self, task_id: uuid.UUID, raw: bytes) -> None:
        """A late CancelTask: cancel a queued task now, an assigned one at its next heartbeat."""
        with self._task_lock:
            with self.state.cond:
                queued = self.state.remove_queued(task_id)
                if queued is None and self.state.assignee(task_id) is not None:
                    self.state.tasks_to_cancel[task_id] = raw
                    return
            if queued is not None:
                self._cancel_task(task_id)
                return
            task = self.load_task(task_id)
            if task is None or task.status.is_ended:
                return
            if task.status is TaskStatus.STAGED:
                # Not arrived yet from the storage queue: canceled on arrival.
                with self.state.cond:
                    self.state.tasks_to_cancel[task_id] = raw
            elif task.status is TaskStatus.RUNNING:
                self._cancel_task(task_id)

    def _cancel_raw(self, raw: bytes) -> None:
        try:
            task_id = uuid.UUID(str(serde.require(serde.loads(raw, "cancel"), "task_id", "task")))
        except (DecodeError, ValueError) as exc:
            log.error("dropping undecodable cancel request from %s: %s", CANCEL_QUEUE, exc)
            return
        self.request_cancel(task_id, raw)

    def _cancel_task(self, task_id: uuid.UUID) -> None:
        """Cancel a Staged or Running task (result "Task Canceled by the user")."""
        with self._task_lock:
            task = self.load_task(task_id)
            if task is not None and not task.status.is_ended:
                task.cancel_by_scheduler()
                self.save_task(task)
            if task is not None:
                self._forget_staged_record(task_id)
            log.info("task %s canceled", task_id)

    # ------------------------------------------------------------------ lost tasks
    def recover(self, staged: StagedTask, reason: str) -> None:
        """A task lost its executor: queue it again, retry it, or fail it with ``reason``."""
        with self._task_lock:
            task = self.load_task(staged.task_id)
            if task is None:
                log.warning("lost task %s has no task record; dropped", staged.task_id)
                return
            if task.status.is_ended:
                self._forget_staged_record(task.task_id)
                return
            if task.status is TaskStatus.RUNNING:
                if task.attempts + 1 >= self.config.max_attempts:
                    task.fail(reason)
                    self.save_task(task)
                    self._forget_staged_record(task.task_id)
                    log.warning("task %s failed: %s", task.task_id, reason)
                    return
                task.requeue()
                self.save_task(task)
                log.warning("task %s retried (attempt %d): %s", task.task_id, task.attempts, reason)
            elif task.status is not TaskStatus.STAGED:
                return
            with self.state.cond:
                self.state.push(staged, front=True)

    def expire_executors(self) -> None:
        """Forget executors silent for longer than ``executor_timeout_secs``; recover tasks."""
        now = self.clock()
        timeout = self.config.executor_timeout_secs
        with self.state.cond:
            expired = [
                r.executor_id
                for r in self.state.executors.values()
                if r.holding == 0 and now - r.last_seen > timeout
            ]
        for executor_id in expired:
            with self._task_lock:
                with self.state.cond:
                    record = self.state.executors.get(executor_id)
                    if record is None or record.holding or now - record.last_seen <= timeout:
                        continue
                    del self.state.executors[executor_id]
                    staged = record.task
                    cancel = staged is not None and (
                        self.state.tasks_to_cancel.pop(staged.task_id, None) is not None
                    )
                log.warning("executor %s stopped heart-beating; forgotten", executor_id)
                if staged is None:
                    continue
                try:
                    if cancel:
                        self._cancel_task(staged.task_id)
                    else:
                        self.recover(
                            staged,
                            f"{REASON_EXECUTOR_TIMEOUT}: executor {executor_id} "
                            "stopped heart-beating",
                        )
                except TeaclaveError as exc:
                    log.error("cannot recover task %s: %s; will retry", staged.task_id, exc)
                    with self.state.cond:
                        self.state.executors.setdefault(executor_id, record)

    # ------------------------------------------------------------------ RPC logic
    def heartbeat(
        self,
        executor_id: uuid.UUID,
        status: ExecutorStatus,
        wait_secs: float,
        is_active: Callable[[], bool] = lambda: True,
    ) -> ExecutorCommand:
        """Record a heartbeat and answer with a command (``spec/services.md`` §6.3)."""
        with self.state.cond:
            record = self.state.executor(executor_id, self.clock())
            record.status = status
            staged = record.task
            if staged is None and status is ExecutorStatus.EXECUTING:
                return ExecutorCommand.STOP
        if staged is not None:
            if status is ExecutorStatus.EXECUTING:
                if self._stop_if_canceled(executor_id, staged):
                    return ExecutorCommand.STOP
            else:
                self._release(
                    executor_id,
                    staged,
                    f"Runtime Error: executor {executor_id} went idle without reporting a result",
                )
        return self._answer(executor_id, status, wait_secs, is_active)

    def _stop_if_canceled(self, executor_id: uuid.UUID, staged: StagedTask) -> bool:
        with self._task_lock:
            with self.state.cond:
                record = self.state.executors.get(executor_id)
                if record is None or record.task is not staged:
                    return False
                if self.state.tasks_to_cancel.pop(staged.task_id, None) is None:
                    return False
                record.task = None
            self._cancel_task(staged.task_id)
            return True

    def _release(self, executor_id: uuid.UUID, staged: StagedTask, reason: str) -> None:
        with self._task_lock:
            with self.state.cond:
                record = self.state.executors.get(executor_id)
                if record is None or record.task is not staged:
                    return
                record.task = None
                cancel = self.state.tasks_to_cancel.pop(staged.task_id, None) is not None
            if cancel:
                self._cancel_task(staged.task_id)
            else:
                self.recover(staged, reason)

    def _answer(
        self,
        executor_id: uuid.UUID,
        status: ExecutorStatus,
        wait_secs: float,
        is_active: Callable[[], bool],
    ) -> ExecutorCommand:
        state = self.state
        with state.cond:
            record = state.executor(executor_id, self.clock())
            wait = min(wait_secs, self.config.heartbeat_wait_secs)
            if (
                wait > 0
                and not state.queue
                and status is ExecutorStatus.IDLE
                and record.task is None
                and not state.stopping
                and state.held_calls < MAX_HELD_CALLS
            ):
                deadline = self.clock() + wait
                record.holding += 1
                state.held_calls += 1
                try:
                    while not state.queue and not state.stopping and is_active():
                        remaining = deadline - self.clock()
                        if remaining <= 0:
                            break
                        state.cond.wait(min(remaining, 0.25))
                finally:
                    record.holding -= 1
                    state.held_calls -= 1
                    state.executor(executor_id, self.clock())
            return ExecutorCommand.NEW_TASK if state.queue else ExecutorCommand.NO_ACTION

    def pull(self, executor_id: uuid.UUID) -> StagedTask:
        """Assign the queue head to ``executor_id``."""
        with self.state.cond:
            record = self.state.executor(executor_id, self.clock())
            if record.task is not None:
                raise FailedPrecondition(
                    f"executor {executor_id} already has task {record.task.task_id}: report its "
                    "result or send an Idle heartbeat first"
                )
            if not self.state.queue:
                raise TeaclaveError(QUEUE_EMPTY)
            staged = self.state.queue.popleft()
            canceled = self.state.tasks_to_cancel.pop(staged.task_id, None) is not None
            if not canceled:
                record.task = staged
                return staged
        self._cancel_task(staged.task_id)
        raise TeaclaveError(PULLED_CANCELED)

    def _check_assignee(self, task_id: uuid.UUID, caller: uuid.UUID | None) -> None:
        with self.state.cond:
            record = self.state.assignee(task_id)
        if record is None:
            raise PermissionDenied(
                f"permission denied: task {task_id} is not assigned to an executor"
            )
        if caller is not None and record.executor_id != caller:
            raise PermissionDenied(
                f"permission denied: task {task_id} is assigned to another executor"
            )

    def start_running(self, task_id: uuid.UUID, caller: uuid.UUID | None) -> None:
        """UpdateTaskStatus(Running) from the task's executor: Staged → Running."""
        with self._task_lock:
            self._check_assignee(task_id, caller)
            task = self.load_task(task_id)
            if task is None:
                raise InvalidArgument(f"invalid task id: {task_id}")
            task.start_running()
            self.save_task(task)

    def complete(self, task_id: uuid.UUID, result: TaskResult, caller: uuid.UUID | None) -> None:
        """UpdateTaskResult from the task's executor: store result and output tags, end task."""
        with self._task_lock:
            self._check_assignee(task_id, caller)
            task = self.load_task(task_id)
            if task is None:
                raise InvalidArgument(f"invalid task id: {task_id}")
            if task.status is not TaskStatus.RUNNING:
                raise FailedPrecondition(
                    f"task {task.external_id} is {task.status.serde_name}, expected Running"
                )
            try:
                task.complete(result)
                outputs = self._tagged_output_records(task, result)
            except (InvalidArgument, FailedPrecondition) as exc:
                # The result cannot be stored: the run is lost, end the task with the reason.
                failed = self.load_task(task_id)
                if failed is not None and failed.status is TaskStatus.RUNNING:
                    failed.fail(f"invalid task result: {exc}")
                    self.save_task(failed)
                    self._finish(task_id)
                raise
            with storage_errors():
                for key, record in outputs:
                    self.storage.put_json(key, record.to_json())
            self.save_task(task)
            self._finish(task_id)

    def _tagged_output_records(
        self, task: TaskState, result: TaskResult
    ) -> list[tuple[bytes, OutputFile]]:
        """The ``output-<uuid>`` records to write with their new cmac (validated, unwritten)."""
        if result.ok is None:
            return []
        records = []
        for name, tag in sorted(result.ok.tags_map.items()):
            snapshot = task.assigned_outputs[name]
            key = snapshot.external_id.key
            with storage_errors():
                stored = self.storage.get_json(key)
                record = snapshot if stored is None else OutputFile.from_json(stored)
            if record.cmac is not None and record.cmac != tag:
                raise FailedPrecondition(f"cannot overwrite output file cmac of {name!r}")
            record.cmac = tag
            records.append((key, record))
        return records

    def _finish(self, task_id: uuid.UUID) -> None:
        """Clean-up after a task ended: unassign it and drop its staged record."""
        with self.state.cond:
            record = self.state.assignee(task_id)
            if record is not None:
                record.task = None
            self.state.tasks_to_cancel.pop(task_id, None)
        self._forget_staged_record(task_id)

    # ------------------------------------------------------------------ lifecycle
    def recover_at_start(self) -> None:
        """Drain the storage queue, then rescan ``stagedtask-`` records (restart recovery)."""
        with storage_errors():
            while (raw := self.storage.dequeue(STAGED_TASK_QUEUE)) is not None:
                self._accept_raw(raw)
            keys = self.storage.keys_by_prefix(STAGED_RECORD_PREFIX)
        for key in keys:
            with storage_errors():
                raw_record = self.storage.get(key)
            if raw_record is None:
                continue
            try:
                staged = StagedTask.from_bytes(raw_record)
            except (DecodeError, ValueError) as exc:
                log.error("dropping undecodable record %r: %s", key, exc)
                with storage_errors():
                    self.storage.delete(key)
                continue
            with self.state.cond:
                if self.state.is_known(staged.task_id):
                    continue
            task = self.load_task(staged.task_id)
            if task is None or task.status.is_ended:
                self._forget_staged_record(staged.task_id)
            elif task.status is TaskStatus.STAGED:
                with self.state.cond:
                    self.state.push(staged)
            elif task.status is TaskStatus.RUNNING:
                self.recover(
                    staged,
                    f"{REASON_EXECUTOR_TIMEOUT}: platform restarted while the task was running",
                )
        with self.state.cond:
            queued = len(self.state.queue)
        log.info("scheduler recovered %d staged task(s)", queued)

    def start(self) -> None:
        """Start the queue listeners and the liveness checker."""
        self._spawn("staged-task", lambda: self._pump(STAGED_TASK_QUEUE, self._accept_raw))
        self._spawn("cancel-queue", lambda: self._pump(CANCEL_QUEUE, self._cancel_raw))
        self._spawn("liveness", self._liveness)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=f"scheduler-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _pump(self, queue: bytes, handle: Callable[[bytes], None]) -> None:
        failing = False
        backoff = 0.05
        while not self._stop.is_set():
            try:
                raw = self.storage.dequeue(queue, wait_secs=self.poll_secs)
            except RemoteError as exc:
                if self._stop.is_set():
                    return
                if not failing:
                    log.error("cannot read storage queue %r: %s", queue, exc.message)
                    failing = True
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            if failing:
                log.info("storage queue %r reachable again", queue)
                failing, backoff = False, 0.05
            if raw is None:
                continue
            try:
                handle(raw)
            except Exception:
                log.exception("handling an item of %r failed", queue)

    def _liveness(self) -> None:
        interval = min(1.0, max(0.05, self.config.executor_timeout_secs / 4))
        while not self._stop.wait(interval):
            try:
                self.expire_executors()
            except Exception:
                log.exception("liveness check failed")

    def stop(self, grace: float | None = None) -> None:
        """Stop the threads, release held heartbeats, and keep pending cancels for later."""
        self._stop.set()
        with self.state.cond:
            self.state.stopping = True
            self.state.cond.notify_all()
        for thread in self._threads:
            thread.join(self.poll_secs + 2.0)
        with self.state.cond:
            pending = list(self.state.tasks_to_cancel.values())
            self.state.tasks_to_cancel.clear()
        for raw in pending:
            try:
                self.storage.enqueue(CANCEL_QUEUE, raw)
            except RemoteError as exc:
                log.error("pending cancel request lost at stop: %s", exc.message)
