"""The enclave half: command handlers and the single dispatch entry point."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from teaclave.binder.commands import ECallCommand, Payload, TeeServiceError

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Enclave:
    """Per-instance enclave state handed to every handler.

    ``stop`` is set by ``FinalizeEnclave``; a blocking ``StartService`` handler waits on it.
    ``ready`` is set once the service is listening.
    ``resources`` holds whatever the service started (servers, threads) for finalization.
    """

    package: str
    stop: threading.Event = field(default_factory=threading.Event)
    ready: threading.Event = field(default_factory=threading.Event)
    resources: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Any, Enclave], Any]
_TABLES: dict[str, dict[ECallCommand, tuple[type[Any], type[Any], Handler]]] = {}


def handle_ecall(func: F) -> F:
    """Mark ``func(input, enclave) -> output`` as the handler for its input type."""
    func.__handle_ecall__ = True  # type: ignore[attr-defined]
    return func


def register_table(
    module: str, table: dict[ECallCommand, tuple[type[Any], type[Any], Handler]]
) -> None:
    """Register a dispatch table for ``module`` directly (used by the standard enclave)."""
    _TABLES[module] = dict(table)


def register_ecall_handler(*entries: tuple[ECallCommand, type[Any], type[Any]]) -> None:
    """Register the calling module's ``@handle_ecall`` functions for the given commands.

    Each entry is ``(command, InputType, OutputType)``; the handler is the decorated function
    of the calling module whose first parameter is annotated with ``InputType``.
    """
    caller = sys._getframe(1).f_globals
    module = str(caller["__name__"])
    handlers = {}
    for value in caller.values():
        if callable(value) and getattr(value, "__handle_ecall__", False):
            annotations = getattr(value, "__annotations__", {})
            first = next(iter(annotations.values()), None)
            handlers[first if isinstance(first, str) else getattr(first, "__name__", "")] = value
    table = {}
    for command, in_type, out_type in entries:
        handler = handlers.get(in_type.__name__)
        if handler is None:
            raise TypeError(f"{module}: no @handle_ecall function takes {in_type.__name__}")
        table[command] = (in_type, out_type, handler)
    register_table(module, table)


def dispatch(module: str, enclave: Enclave, command: int, data: bytes) -> bytes:
    """The enclave's single entry point: decode, run the handler, encode the result.

    Always returns JSON ``{"Ok": output}`` or ``{"Err": {"kind", "message"}}``.
    """
    try:
        table = _TABLES[module]
        try:
            cmd = ECallCommand(command)
        except ValueError:
            cmd = ECallCommand.UNIMPLEMENTED
        if cmd not in table:
            raise TeeServiceError(
                "CommandNotRegistered", f"ECallCommandNotRegistered({command:#x})"
            )
        in_type, out_type, handler = table[cmd]
        payload: Payload = in_type.from_json(json.loads(data))
        output = handler(payload, enclave)
        if not isinstance(output, out_type):
            raise TeeServiceError("ServiceError", f"handler returned {type(output).__name__}")
        return json.dumps({"Ok": output.to_json()}).encode()
    except TeeServiceError as exc:
        return json.dumps({"Err": {"kind": exc.kind, "message": exc.message}}).encode()
    except Exception as exc:
        log.exception("enclave command %#x failed", command)
        return json.dumps({"Err": {"kind": "ServiceError", "message": str(exc)}}).encode()


def decode_result(data: bytes, out_type: type[Any]) -> Any:
    """App side: turn a ``dispatch`` result back into the output or raise ``TeeServiceError``."""
    value = json.loads(data)
    if "Ok" in value:
        return out_type.from_json(value["Ok"])
    err = value.get("Err", {})
    raise TeeServiceError(str(err.get("kind", "ServiceError")), str(err.get("message", "")))
