"""Builtin functions, registered under their Teaclave names (``builtin-echo``, ...).

A builtin is ``fn(arguments, runtime) -> summary``: it receives the task's merged argument
object and the runtime (``teaclave.worker.runtime.Runtime``) through which it opens its inputs
and creates its outputs, and returns the summary string that becomes the task's return value.

Modules of this package register themselves with ``@register("<name>")``;
``load_builtin_functions()`` imports every module of the package, so a new builtin needs no
edit here.

Function logs: a function logs through ``function_logger(<module>)`` (logger name
``teaclave_function::<module>``, Teaclave's module path). Those records do not propagate to the
platform's logs (they may carry private data); they reach only the handlers added with
``add_function_log_handler`` — the worker's per-run capture for ``save_log``.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from teaclave.worker.runtime import Runtime

BuiltinFunction = Callable[[dict[str, Any], "Runtime"], str]

#: Builtin functions by Teaclave name.
BUILTIN_FUNCTIONS: dict[str, BuiltinFunction] = {}

FUNCTION_LOGGER_PREFIX = "teaclave_function::"

_loaded = False
_load_lock = threading.Lock()


class FunctionError(Exception):
    """A builtin refused its arguments or failed; the message becomes the task's error."""


def register(name: str) -> Callable[[BuiltinFunction], BuiltinFunction]:
    """Decorator registering ``fn`` as the builtin named ``name`` (names are unique)."""

    def wrap(fn: BuiltinFunction) -> BuiltinFunction:
        existing = BUILTIN_FUNCTIONS.get(name)
        if existing is not None and existing is not fn:
            raise ValueError(f"builtin function {name!r} is already registered")
        BUILTIN_FUNCTIONS[name] = fn
        return fn

    return wrap


def load_builtin_functions() -> dict[str, BuiltinFunction]:
    """Import every module of this package (registering its builtins); return the registry."""
    global _loaded
    with _load_lock:
        if not _loaded:
            for module in pkgutil.iter_modules(__path__):
                if not module.name.startswith("_"):
                    importlib.import_module(f"{__name__}.{module.name}")
            _loaded = True
    return BUILTIN_FUNCTIONS


class _FunctionLogSink(logging.Handler):
    """Forwards function log records to the handlers added by the platform."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.targets: list[logging.Handler] = []

    def emit(self, record: logging.LogRecord) -> None:
        for target in list(self.targets):
            if record.levelno >= target.level:
                target.handle(record)


_SINK = _FunctionLogSink()


def function_logger(module: str) -> logging.Logger:
    """The logger of function module ``module`` (``teaclave_function::<module>``)."""
    logger = logging.getLogger(f"{FUNCTION_LOGGER_PREFIX}{module}")
    if _SINK not in logger.handlers:
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        logger.addHandler(_SINK)
    return logger


def add_function_log_handler(handler: logging.Handler) -> None:
    """Let ``handler`` see every function log record (idempotent)."""
    if handler not in _SINK.targets:
        _SINK.targets.append(handler)


def remove_function_log_handler(handler: logging.Handler) -> None:
    """Undo ``add_function_log_handler``."""
    if handler in _SINK.targets:
        _SINK.targets.remove(handler)


def string_argument(arguments: dict[str, Any], key: str) -> str:
    """``arguments[key]`` as a string, or ``FunctionError("Cannot deserialize arguments")``."""
    value = arguments.get(key)
    if not isinstance(value, str):
        what = "missing" if value is None else f"expected a string, got {type(value).__name__}"
        raise FunctionError(f"Cannot deserialize arguments: {key}: {what}")
    return value


__all__ = [
    "BUILTIN_FUNCTIONS",
    "FUNCTION_LOGGER_PREFIX",
    "BuiltinFunction",
    "FunctionError",
    "add_function_log_handler",
    "function_logger",
    "load_builtin_functions",
    "register",
    "remove_function_log_handler",
    "string_argument",
]
