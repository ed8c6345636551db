"""Executors: run one function payload against a runtime and return its summary string.

``Executor`` (base.py) is the protocol (Teaclave's ``TeaclaveExecutor``); ``BuiltinExecutor``
runs the compiled-in builtins of ``teaclave.functions``. MesaPy-compatible Python and WASM
executors plug in the same way.
"""

from teaclave.executors.base import ExecutionError, Executor
from teaclave.executors.builtin import BuiltinExecutor

__all__ = ["BuiltinExecutor", "ExecutionError", "Executor"]
