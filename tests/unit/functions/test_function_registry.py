"""The builtin registry and function loggers."""

from __future__ import annotations

from typing import Any

import pytest

from teaclave.functions import (
    BUILTIN_FUNCTIONS,
    FUNCTION_LOGGER_PREFIX,
    function_logger,
    load_builtin_functions,
    register,
)
from teaclave.worker import Runtime


def test_register_and_refuse_duplicates() -> None:
    @register("test-registry-one")
    def one(arguments: dict[str, Any], runtime: Runtime) -> str:
        return "1"

    try:
        assert BUILTIN_FUNCTIONS["test-registry-one"] is one
        assert register("test-registry-one")(one) is one  # re-registering itself is fine
        with pytest.raises(ValueError, match="already registered"):

            @register("test-registry-one")
            def other(arguments: dict[str, Any], runtime: Runtime) -> str:
                return "2"
    finally:
        del BUILTIN_FUNCTIONS["test-registry-one"]


def test_load_builtin_functions_imports_the_package() -> None:
    functions = load_builtin_functions()
    assert "builtin-echo" in functions
    assert load_builtin_functions() is functions


def test_function_logger_names_and_isolation() -> None:
    logger = function_logger("some_module")
    assert logger.name == f"{FUNCTION_LOGGER_PREFIX}some_module" == "teaclave_function::some_module"
    assert logger.propagate is False
    assert function_logger("some_module") is logger
    sinks = [h for h in logger.handlers if type(h).__name__ == "_FunctionLogSink"]
    assert len(sinks) == 1
