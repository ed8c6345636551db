"""The ``Executor`` protocol shared by every executor."""

from __future__ import annotations

import contextlib
import contextvars
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from teaclave.config.runtime import ExecutorConfig
    from teaclave.types.function import Executor as ExecutorName
    from teaclave.types.function import ExecutorType
    from teaclave.worker.runtime import Runtime


def payload_argv(arguments: Mapping[str, Any]) -> list[str]:
    """A payload's argv (spec §2.9): ``[k1, v1, k2, v2, ...]`` with keys sorted.

    String values are passed raw, other values as compact JSON text. Shared by the Python and
    WebAssembly executors.
    """
    argv: list[str] = []
    for key in sorted(arguments):
        value = arguments[key]
        argv.append(key)
        argv.append(
            value
            if isinstance(value, str)
            else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        )
    return argv


class ExecutionError(Exception):
    """An executor could not run the function (its message becomes the task's error)."""


class Executor(Protocol):
    """Runs a function: ``execute(name, arguments, payload, runtime) -> summary``."""

    def execute(
        self, name: str, arguments: dict[str, Any], payload: bytes, runtime: Runtime
    ) -> str:
        """Run function ``name`` (``payload`` is its code, if any) and return the summary.

        Any exception means the run failed; its text is reported as the task's error.
        """
        ...


@dataclass(frozen=True)
class ExecutionContext:
    """What an executor must honour during one run: cancellation and the deadline.

    ``cancel`` is set when the task is canceled or its worker is told to stop; ``deadline``
    is a ``time.monotonic()`` value, ``limit_secs`` the configured time limit it came from.
    Executors that run code they can interrupt (WebAssembly, sandboxed processes) must stop
    promptly when either is reached.
    """

    cancel: threading.Event = field(default_factory=threading.Event)
    deadline: float = float("inf")
    limit_secs: float = float("inf")

    def remaining(self) -> float:
        """Seconds left before the deadline (never negative)."""
        return max(0.0, self.deadline - time.monotonic())

    def expired(self) -> bool:
        """True once canceled or past the deadline."""
        return self.cancel.is_set() or time.monotonic() >= self.deadline


_CURRENT: contextvars.ContextVar[ExecutionContext] = contextvars.ContextVar(
    "teaclave_execution_context"
)


def current_context() -> ExecutionContext:
    """The context of the run in progress (an unlimited one outside any run)."""
    return _CURRENT.get(ExecutionContext())


@contextlib.contextmanager
def execution_context(context: ExecutionContext) -> Iterator[ExecutionContext]:
    """Make ``context`` current for the duration of a run."""
    token = _CURRENT.set(context)
    try:
        yield context
    finally:
        _CURRENT.reset(token)


#: Builds an executor from the worker's executor limits.
ExecutorFactory = Callable[["ExecutorConfig"], Executor]

#: Executors by (function executor_type, task executor); filled by ``register_executor``.
EXECUTOR_FACTORIES: dict[tuple[ExecutorType, ExecutorName], ExecutorFactory] = {}


def register_executor(
    executor_type: ExecutorType, executor: ExecutorName
) -> Callable[[ExecutorFactory], ExecutorFactory]:
    """Decorator: ``factory(config) -> Executor`` serves (``executor_type``, ``executor``)."""

    def wrap(factory: ExecutorFactory) -> ExecutorFactory:
        EXECUTOR_FACTORIES[(executor_type, executor)] = factory
        return factory

    return wrap
