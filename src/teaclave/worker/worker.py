"""``Worker``: runtimes by name, executors by (ExecutorType, Executor), and one invocation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from teaclave.executors.base import Executor
from teaclave.executors.builtin import BuiltinExecutor
from teaclave.types import function as fn
from teaclave.types.task import StagedTask, TaskOutputs
from teaclave.worker.log_capture import capture_logs
from teaclave.worker.protected_runtime import protected_runtime
from teaclave.worker.runtime import Runtime
from teaclave.worker.staging import StagedFile, StagedFiles

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

    def __init__(self) -> None:
        self.runtimes: dict[str, RuntimeFactory] = {}
        self.executors: dict[tuple[fn.ExecutorType, fn.Executor], Executor] = {}

    @classmethod
    def default(cls) -> Worker:
        """The platform's worker: runtime ``default`` and the (builtin, builtin) executor."""
        worker = cls()
        worker.register_runtime(DEFAULT_RUNTIME, protected_runtime)
        worker.register_executor(fn.ExecutorType.BUILTIN, fn.Executor.BUILTIN, BuiltinExecutor())
        return worker

    def register_runtime(self, name: str, factory: RuntimeFactory) -> None:
        """Make runtime ``name`` available (replacing any previous one)."""
        self.runtimes[name] = factory

    def register_executor(
        self, executor_type: fn.ExecutorType, executor: fn.Executor, impl: Executor
    ) -> None:
        """Run functions of ``executor_type`` with task executor ``executor`` through ``impl``."""
        self.executors[(executor_type, executor)] = impl

    def invoke(self, function: StagedFunction) -> TaskOutputs:
        """Run ``function``; the summary becomes ``return_value``, captured logs ``log``.

        ``tags_map`` is left empty: output tags come from the stager's finalization. Raises on
        any failure (the exception text is the task's error).
        """
        key = (function.executor_type, function.executor)
        executor = self.executors.get(key)
        if executor is None:
            raise WorkerError(f"function not available: ({key[0].serde_name}, {key[1].serde_name})")
        factory = self.runtimes.get(function.runtime_name)
        if factory is None:
            raise WorkerError(f"runtime not available: {function.runtime_name!r}")
        save_log = parse_save_log(function.arguments)
        runtime = factory(function.input_files, function.output_files)
        with capture_logs(save_log) as lines:
            summary = executor.execute(
                function.name, dict(function.arguments), function.payload, runtime
            )
        return TaskOutputs(return_value=summary.encode(), log=list(lines))
