"""What an execution node runs: the worker (runtimes by executors) and the task runner.

``Worker.invoke(StagedFunction)`` runs one function; ``TaskRunner.run(StagedTask)`` wraps it
with file staging (``TaskFileStager``) and turns every failure into an ``Err`` result.
"""

from teaclave.worker.runtime import NoFilesRuntime, RawIoRuntime, Runtime, RuntimeFileError
from teaclave.worker.staging import (
    FileStagingError,
    NoFileStager,
    StagedFile,
    StagedFiles,
    TaskFileStager,
)
from teaclave.worker.task_runner import TaskRunner
from teaclave.worker.worker import StagedFunction, Worker, WorkerError

__all__ = [
    "FileStagingError",
    "NoFileStager",
    "NoFilesRuntime",
    "RawIoRuntime",
    "Runtime",
    "RuntimeFileError",
    "StagedFile",
    "StagedFiles",
    "StagedFunction",
    "TaskFileStager",
    "TaskRunner",
    "Worker",
    "WorkerError",
]
