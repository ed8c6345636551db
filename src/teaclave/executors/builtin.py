"""``BuiltinExecutor``: dispatch on the function name to a builtin of ``teaclave.functions``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from teaclave.executors.base import ExecutionError, register_executor
from teaclave.functions import load_builtin_functions
from teaclave.types.function import Executor, ExecutorType

if TYPE_CHECKING:
    from teaclave.config.runtime import ExecutorConfig
    from teaclave.worker.runtime import Runtime

FUNCTION_NOT_FOUND = "Function not found."


class BuiltinExecutor:
    """Runs builtins by Teaclave name; the payload is ignored."""

    def execute(
        self, name: str, arguments: dict[str, Any], payload: bytes, runtime: Runtime
    ) -> str:
        """Call the builtin ``name``; unknown names fail with ``"Function not found."``."""
        function = load_builtin_functions().get(name)
        if function is None:
            raise ExecutionError(f"{FUNCTION_NOT_FOUND} ({name!r})")
        summary = function(arguments, runtime)
        if not isinstance(summary, str):
            raise ExecutionError(
                f"builtin {name!r} returned {type(summary).__name__}, expected a string summary"
            )
        return summary


@register_executor(ExecutorType.BUILTIN, Executor.BUILTIN)
def builtin_executor(config: ExecutorConfig) -> BuiltinExecutor:
    """Factory of the (builtin, builtin) executor."""
    return BuiltinExecutor()
