"""``BuiltinExecutor``: dispatch by function name."""

from __future__ import annotations

from typing import Any

import pytest

from teaclave.executors import BuiltinExecutor, ExecutionError
from teaclave.functions import BUILTIN_FUNCTIONS
from teaclave.worker import NoFilesRuntime, Runtime


def test_dispatches_on_the_name_and_ignores_the_payload() -> None:
    summary = BuiltinExecutor().execute(
        "builtin-echo", {"message": "Hello Teaclave!"}, b"ignored", NoFilesRuntime()
    )
    assert summary == "Hello Teaclave!"


def test_unknown_function() -> None:
    with pytest.raises(ExecutionError, match=r"^Function not found\."):
        BuiltinExecutor().execute("builtin-nope", {}, b"", NoFilesRuntime())


def test_builtin_gets_arguments_and_runtime() -> None:
    seen: list[tuple[dict[str, Any], Runtime]] = []

    def probe(arguments: dict[str, Any], runtime: Runtime) -> str:
        seen.append((arguments, runtime))
        return "ok"

    BUILTIN_FUNCTIONS["test-executor-probe"] = probe
    runtime = NoFilesRuntime()
    try:
        assert BuiltinExecutor().execute("test-executor-probe", {"k": 1}, b"", runtime) == "ok"
    finally:
        del BUILTIN_FUNCTIONS["test-executor-probe"]
    assert seen == [({"k": 1}, runtime)]


def test_summary_must_be_a_string() -> None:
    BUILTIN_FUNCTIONS["test-executor-bytes"] = lambda arguments, runtime: b"x"  # type: ignore[assignment,return-value]
    try:
        with pytest.raises(ExecutionError, match="expected a string summary"):
            BuiltinExecutor().execute("test-executor-bytes", {}, b"", NoFilesRuntime())
    finally:
        del BUILTIN_FUNCTIONS["test-executor-bytes"]
