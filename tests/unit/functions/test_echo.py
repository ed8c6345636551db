"""``builtin-echo``."""

from __future__ import annotations

import pytest

from teaclave.functions import FunctionError, load_builtin_functions
from teaclave.functions.echo import echo
from teaclave.worker import NoFilesRuntime
from teaclave.worker.log_capture import capture_logs


def test_echo_returns_the_message() -> None:
    assert echo({"message": "Hello Teaclave!"}, NoFilesRuntime()) == "Hello Teaclave!"


def test_echo_ignores_other_arguments() -> None:
    assert echo({"message": "m", "save_log": "true", "x": 1}, NoFilesRuntime()) == "m"


def test_echo_logs_the_message_at_info() -> None:
    with capture_logs() as lines:
        echo({"message": "Hello, Teaclave Tests!"}, NoFilesRuntime())
    assert lines == ["[INFO teaclave_function::echo] Hello, Teaclave Tests!"]


@pytest.mark.parametrize("arguments", [{}, {"message": 5}, {"message": None}])
def test_echo_needs_a_string_message(arguments: dict[str, object]) -> None:
    with pytest.raises(FunctionError, match=r"^Cannot deserialize arguments: message"):
        echo(arguments, NoFilesRuntime())


def test_echo_is_registered_under_its_teaclave_name() -> None:
    assert load_builtin_functions()["builtin-echo"] is echo
