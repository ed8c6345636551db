"""``builtin-echo``: return the ``message`` argument (and log it at INFO)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from teaclave.functions import function_logger, register, string_argument

if TYPE_CHECKING:
    from teaclave.worker.runtime import Runtime

NAME = "builtin-echo"

log = function_logger("echo")


@register(NAME)
def echo(arguments: dict[str, Any], runtime: Runtime) -> str:
    """Summary = ``arguments["message"]`` (a string); other arguments are ignored."""
    message = string_argument(arguments, "message")
    log.info("%s", message)
    return message
