"""The ``Executor`` protocol shared by every executor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from teaclave.worker.runtime import Runtime


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
