"""A small enclave module for the binder tests (imported in-process and by the child host).

Commands:
* ``INIT_ENCLAVE`` / ``FINALIZE_ENCLAVE``: count calls; finalize sets ``enclave.stop``.
* ``START_SERVICE``: marks the enclave ready and blocks until finalized.
* ``RAW``: ``echo`` (reply with the input text and the process id), ``fail`` (raise),
  ``sleep`` (hold the call), ``exit`` (kill the enclave process), ``status`` (counters),
  ``wrong_output`` (return the wrong type).
``RUN_TEST`` is deliberately not registered.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from teaclave.binder import (
    ECallCommand,
    Enclave,
    FinalizeEnclaveInput,
    FinalizeEnclaveOutput,
    InitEnclaveInput,
    InitEnclaveOutput,
    handle_ecall,
    register_ecall_handler,
)

_LOCK = threading.Lock()


def _counters(enclave: Enclave) -> dict[str, int]:
    """Per-enclave call counters (each TeeBinder has its own ``Enclave``)."""
    with _LOCK:
        counters: dict[str, int] = enclave.resources.setdefault(
            "counters", {"init": 0, "finalize": 0, "started": 0, "stopped": 0}
        )
        return counters


def _count(enclave: Enclave, name: str) -> None:
    counters = _counters(enclave)
    with _LOCK:
        counters[name] += 1


@dataclass(frozen=True)
class RawInput:
    """``RAW`` input. ``to_json`` marks the text so the tests can see the JSON crossing."""

    op: str
    text: str = ""
    secs: float = 0.0

    def to_json(self) -> Any:
        return {"op": self.op, "text": f"<{self.text}>", "secs": self.secs}

    @classmethod
    def from_json(cls, value: Any) -> RawInput:
        return cls(str(value["op"]), str(value["text"]) + "|decoded", float(value["secs"]))


@dataclass(frozen=True)
class RawOutput:
    """``RAW`` output; ``from_json`` also marks the text."""

    text: str
    pid: int
    counters: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> Any:
        return {"text": self.text, "pid": self.pid, "counters": self.counters}

    @classmethod
    def from_json(cls, value: Any) -> RawOutput:
        return cls(str(value["text"]) + "|received", int(value["pid"]), dict(value["counters"]))


@dataclass(frozen=True)
class StartInput:
    """``START_SERVICE`` input (a name for the pretend service)."""

    name: str

    def to_json(self) -> Any:
        return {"name": self.name}

    @classmethod
    def from_json(cls, value: Any) -> StartInput:
        return cls(str(value["name"]))


@dataclass(frozen=True)
class StartOutput:
    """``START_SERVICE`` output: how the service ended."""

    name: str
    stopped_by_finalize: bool

    def to_json(self) -> Any:
        return {"name": self.name, "stopped_by_finalize": self.stopped_by_finalize}

    @classmethod
    def from_json(cls, value: Any) -> StartOutput:
        return cls(str(value["name"]), bool(value["stopped_by_finalize"]))


@handle_ecall
def handle_init(request: InitEnclaveInput, enclave: Enclave) -> InitEnclaveOutput:
    """Count the init."""
    _count(enclave, "init")
    return InitEnclaveOutput()


@handle_ecall
def handle_finalize(request: FinalizeEnclaveInput, enclave: Enclave) -> FinalizeEnclaveOutput:
    """Count the finalize and release a blocked StartService."""
    _count(enclave, "finalize")
    enclave.stop.set()
    return FinalizeEnclaveOutput()


@handle_ecall
def handle_start(request: StartInput, enclave: Enclave) -> StartOutput:
    """Pretend to serve until finalized."""
    _count(enclave, "started")
    enclave.ready.set()
    stopped = enclave.stop.wait(30)
    _count(enclave, "stopped")
    return StartOutput(request.name, stopped)


@handle_ecall
def handle_raw(request: RawInput, enclave: Enclave) -> RawOutput:
    """Dispatch on ``request.op``."""
    if request.op == "echo":
        return RawOutput(request.text, os.getpid(), dict(_counters(enclave)))
    if request.op == "status":
        return RawOutput(enclave.package, os.getpid(), dict(_counters(enclave)))
    if request.op == "fail":
        raise ValueError(f"boom: {request.text}")
    if request.op == "sleep":
        time.sleep(request.secs)
        return RawOutput(request.text, os.getpid(), dict(_counters(enclave)))
    if request.op == "exit":
        time.sleep(request.secs)
        os._exit(3)
    if request.op == "wrong_output":
        return StartOutput("not a raw output", False)  # type: ignore[return-value]
    raise ValueError(f"unknown op {request.op!r}")


register_ecall_handler(
    (ECallCommand.INIT_ENCLAVE, InitEnclaveInput, InitEnclaveOutput),
    (ECallCommand.FINALIZE_ENCLAVE, FinalizeEnclaveInput, FinalizeEnclaveOutput),
    (ECallCommand.START_SERVICE, StartInput, StartOutput),
    (ECallCommand.RAW, RawInput, RawOutput),
)
