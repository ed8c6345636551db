"""``Worker``: runtimes by name, executors by (ExecutorType, Executor), and one invocation."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from teaclave.config.runtime import ExecutorConfig
from teaclave.executors import load_executors
from teaclave.executors.base import ExecutionContext, Executor, execution_context
from teaclave.types import function as fn
from teaclave.types.task import StagedTask, TaskOutputs
from teaclave.worker.log_capture import capture_logs
from teaclave.worker.protected_runtime import protected_runtime
from teaclave.worker.runtime import Runtime
from teaclave.worker.staging import StagedFile, StagedFiles

log = logging.getLogger(__name__)

DEFAULT_RUNTIME = "default"
SAVE_LOG_ARGUMENT = "save_log"

#: Builds the runtime of one run from its staged inputs and outputs.
RuntimeFactory = Callable[[Mapping[str, StagedFile], Mapping[str, StagedFile]], Runtime]


class WorkerError(Exception):
    """The worker cannot run the function (unregistered executor or runtime, bad argument)."""


@dataclass(slots=True)
class StagedFunction:
    """What a worker runs (Teaclave's ``StagedFunction``): the function and its staged files."""

    name: str
    arguments: dict[str, Any]
    payload: bytes
    executor_type: fn.ExecutorType
    executor: fn.Executor
    input_files: dict[str, StagedFile] = field(default_factory=dict)
    output_files: dict[str, StagedFile] = field(default_factory=dict)
    runtime_name: str = DEFAULT_RUNTIME

    @classmethod
    def from_staged_task(cls, task: StagedTask, files: StagedFiles | None = None) -> StagedFunction:
        """The function of ``task`` with the files its stager prepared."""
        files = files or StagedFiles()
        return cls(
            name=task.function_name,
            arguments=dict(task.function_arguments),
            payload=task.function_payload,
            executor_type=task.executor_type,
            executor=task.executor,
            input_files=dict(files.inputs),
            output_files=dict(files.outputs),
        )


def parse_save_log(arguments: Mapping[str, Any]) -> bool:
    """The reserved ``save_log`` argument: ``"true"``/``"false"`` (or a JSON bool); default off."""
    value = arguments.get(SAVE_LOG_ARGUMENT, "false")
    if isinstance(value, bool):
        return value
    if value == "true":
        return True
    if value == "false":
        return False
    raise WorkerError(f'{SAVE_LOG_ARGUMENT}: expected "true" or "false", got {value!r}')


class Worker:
    """Registry of runtimes and executors; ``invoke`` runs one staged function."""

    def __init__(self, config: ExecutorConfig | None = None) -> None:
        self.config = config or ExecutorConfig()
        self.runtimes: dict[str, RuntimeFactory] = {}
        self.executors: dict[tuple[fn.ExecutorType, fn.Executor], Executor] = {}
        self.unavailable: dict[tuple[fn.ExecutorType, fn.Executor], str] = {}

    @classmethod
    def default(cls, config: ExecutorConfig | None = None) -> Worker:
        """The platform's worker: runtime ``default`` and every registered executor.

        An executor whose factory fails (e.g. the native sandbox on a kernel without
        Landlock) is left out with a logged reason; tasks that need it then fail with
        "function not available".
        """
        config = config or ExecutorConfig()
        worker = cls(config)
        worker.register_runtime(DEFAULT_RUNTIME, protected_runtime)
        for (executor_type, executor), factory in load_executors().items():
            try:
                worker.register_executor(executor_type, executor, factory(config))
            except Exception as exc:
                worker.unavailable[(executor_type, executor)] = str(exc)
                log.warning(
                    "executor (%s, %s) unavailable: %s", executor_type.value, executor.value, exc
                )
        return worker

    def register_runtime(self, name: str, factory: RuntimeFactory) -> None:
        """Make runtime ``name`` available (replacing any previous one)."""
        self.runtimes[name] = factory

    def register_executor(
        self, executor_type: fn.ExecutorType, executor: fn.Executor, impl: Executor
    ) -> None:
        """Run functions of ``executor_type`` with task executor ``executor`` through ``impl``."""
        self.executors[(executor_type, executor)] = impl

    def invoke(
        self, function: StagedFunction, cancel: threading.Event | None = None
    ) -> TaskOutputs:
        """Run ``function``; the summary becomes ``return_value``, captured logs ``log``.

        ``tags_map`` is left empty: output tags come from the stager's finalization. Raises on
        any failure (the exception text is the task's error).
        """
        key = (function.executor_type, function.executor)
        executor = self.executors.get(key)
        if executor is None:
            reason = self.unavailable.get(key)
            detail = f": {reason}" if reason else ""
            raise WorkerError(
                f"function not available: ({key[0].serde_name}, {key[1].serde_name}){detail}"
            )
        factory = self.runtimes.get(function.runtime_name)
        if factory is None:
            raise WorkerError(f"runtime not available: {function.runtime_name!r}")
        save_log = parse_save_log(function.arguments)
        runtime = factory(function.input_files, function.output_files)
        context = ExecutionContext(
            cancel=cancel or threading.Event(),
            deadline=time.monotonic() + self.config.deadline_secs,
            limit_secs=self.config.deadline_secs,
        )
        with capture_logs(save_log) as lines, execution_context(context):
            summary = executor.execute(
                function.name, dict(function.arguments), function.payload, runtime
            )
        if context.cancel.is_set():
            raise WorkerError("the run was canceled")
        if len(summary.encode()) > self.config.max_result_bytes:
            raise WorkerError(
                f"the function's result is {len(summary.encode())} bytes, over the limit of "
                f"{self.config.max_result_bytes} (executor.max_result_bytes)"
            )
        return TaskOutputs(return_value=summary.encode(), log=list(lines))
