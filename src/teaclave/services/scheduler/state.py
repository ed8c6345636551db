"""The scheduler's in-memory state: the task queue, executors and pending cancels.

Everything here is guarded by one ``threading.Condition`` (``SchedulerState.cond``); callers
hold it around every access. Waiters on the condition (held heartbeats) are woken whenever a
task is queued or the scheduler stops.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from dataclasses import dataclass, field

from teaclave.rpc.clients.scheduler import ExecutorStatus
from teaclave.types.task import StagedTask


@dataclass(slots=True)
class ExecutorRecord:
    """What the scheduler knows about one executor."""

    executor_id: uuid.UUID
    last_seen: float
    status: ExecutorStatus = ExecutorStatus.IDLE
    task: StagedTask | None = None
    holding: int = 0


@dataclass(slots=True)
class SchedulerState:
    """Queue of staged tasks, executors by id, and cancel requests not yet carried out."""

    cond: threading.Condition = field(default_factory=threading.Condition)
    queue: deque[StagedTask] = field(default_factory=deque)
    executors: dict[uuid.UUID, ExecutorRecord] = field(default_factory=dict)
    #: task id → the raw cancel request (re-enqueued on stop so no cancel is lost).
    tasks_to_cancel: dict[uuid.UUID, bytes] = field(default_factory=dict)
    held_calls: int = 0
    stopping: bool = False

    def is_queued(self, task_id: uuid.UUID) -> bool:
        """True when the task waits in the queue."""
        return any(t.task_id == task_id for t in self.queue)

    def assignee(self, task_id: uuid.UUID) -> ExecutorRecord | None:
        """The executor the task is assigned to, if any."""
        for record in self.executors.values():
            if record.task is not None and record.task.task_id == task_id:
                return record
        return None

    def is_known(self, task_id: uuid.UUID) -> bool:
        """True when the task is queued or assigned."""
        return self.is_queued(task_id) or self.assignee(task_id) is not None

    def push(self, task: StagedTask, *, front: bool = False) -> bool:
        """Queue ``task`` (at the front for a retry) unless it is already known; wake waiters."""
        if self.is_known(task.task_id):
            return False
        if front:
            self.queue.appendleft(task)
        else:
            self.queue.append(task)
        self.cond.notify_all()
        return True

    def remove_queued(self, task_id: uuid.UUID) -> StagedTask | None:
        """Take the task out of the queue, if it is there."""
        for task in self.queue:
            if task.task_id == task_id:
                self.queue.remove(task)
                return task
        return None

    def executor(self, executor_id: uuid.UUID, now: float) -> ExecutorRecord:
        """The record of ``executor_id`` (created if new), marked as seen ``now``."""
        record = self.executors.get(executor_id)
        if record is None:
            record = ExecutorRecord(executor_id, now)
            self.executors[executor_id] = record
        record.last_seen = now
        return record
