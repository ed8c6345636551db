"""Running one staged task end to end (Teaclave's ``invoke_task``): stage, invoke, finalize."""

from __future__ import annotations

import logging
import threading

from teaclave.types.task import StagedTask, TaskResult
from teaclave.worker.staging import NoFileStager, TaskFileStager
from teaclave.worker.worker import StagedFunction, Worker

log = logging.getLogger(__name__)


def error_text(exc: BaseException) -> str:
    """The text reported as a task's failure reason (never empty)."""
    text = str(exc)
    return text if text else type(exc).__name__


class TaskRunner:
    """Runs staged tasks with one worker and one file stager; never raises."""

    def __init__(self, worker: Worker | None = None, stager: TaskFileStager | None = None) -> None:
        self.worker = worker if worker is not None else Worker.default()
        self.stager: TaskFileStager = stager if stager is not None else NoFileStager()

    def run(self, task: StagedTask, cancel: threading.Event | None = None) -> TaskResult:
        """``Ok(outputs with tags)`` or ``Err(error text)`` of one run of ``task``.

        ``cancel`` is handed to the executor (a canceled run stops as soon as it can).
        """
        try:
            files = self.stager.stage(task)
            try:
                function = StagedFunction.from_staged_task(task, files)
                outputs = self.worker.invoke(function, cancel)
                outputs.tags_map = self.stager.finalize(task, files)
            finally:
                self.stager.cleanup(task, files)
        except Exception as exc:
            # The text may carry private data: it goes to the task's owners, not the log.
            log.debug("task %s failed", task.task_id, exc_info=True)
            return TaskResult.failure(error_text(exc))
        return TaskResult.success(outputs)
