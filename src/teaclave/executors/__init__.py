"""Executors: run one function payload against a runtime and return its summary string.

``Executor`` (base.py) is the protocol (Teaclave's ``TeaclaveExecutor``). Each executor module
registers a factory for its (executor_type, executor) pair with ``@register_executor``;
``load_executors()`` imports every module of this package, so a new executor needs no edit
elsewhere. ``ExecutionContext`` carries cancellation and the deadline of the run in progress.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading

from teaclave.executors.base import (
    EXECUTOR_FACTORIES,
    ExecutionContext,
    ExecutionError,
    Executor,
    ExecutorFactory,
    current_context,
    execution_context,
    register_executor,
)
from teaclave.executors.builtin import BuiltinExecutor
from teaclave.types.function import Executor as ExecutorName
from teaclave.types.function import ExecutorType

_loaded = False
_lock = threading.Lock()


def load_executors() -> dict[tuple[ExecutorType, ExecutorName], ExecutorFactory]:
    """Import every executor module (registering its factory); return the registry."""
    global _loaded
    with _lock:
        if not _loaded:
            for module in pkgutil.iter_modules(__path__):
                if not module.name.startswith("_") and module.name != "base":
                    importlib.import_module(f"{__name__}.{module.name}")
            _loaded = True
    return dict(EXECUTOR_FACTORIES)


__all__ = [
    "EXECUTOR_FACTORIES",
    "BuiltinExecutor",
    "ExecutionContext",
    "ExecutionError",
    "Executor",
    "ExecutorFactory",
    "current_context",
    "execution_context",
    "load_executors",
    "register_executor",
]
