"""The payload's Teaclave file API inside the sandbox (Teaclave's MesaPy API, spec §6.7).

Stdlib only (the child imports it by path). ``install()`` adds the builtin
``teaclave_open(name, mode)`` and a ``teaclave`` module whose ``open`` is the same function, so
both ``teaclave_open("input", "rb")`` and ``from teaclave import open`` work. Modes are ``"rb"``
and ``"wb"`` only (else ``RuntimeError("Teaclave Not Supported")``); a name the task does not
have raises ``RuntimeError("fileio_init: teaclave_ffi_error")`` (both errors also carry
MesaPy's ``.message``). Each open asks the worker over the channel: it decrypts an input into
the read-only input directory, or checks the output is declared, and answers with a path. An
input is returned as a real binary file; an output as a buffered writer that also accepts
``str`` (UTF-8), flushed and closed when ``entrypoint`` returns. At most 1023 opens per run.
"""

from __future__ import annotations

import builtins
import io
import sys
import types

TYPE_CHECKING = False  # typing costs ~10 ms of start-up in the child
if TYPE_CHECKING:
    from typing import Any
if TYPE_CHECKING or __package__:
    from teaclave.executors.sandbox import protocol
else:  # imported from the sandbox directory by the child
    import protocol

NOT_SUPPORTED = "Teaclave Not Supported"
FFI_ERROR = "fileio_init: teaclave_ffi_error"
MODES = ("rb", "wb")
#: Teaclave allocates file handles from one sequence 1..1023 per run.
MAX_OPENS = 1023


def teaclave_error(message: str) -> RuntimeError:
    """A ``RuntimeError`` that also carries Python 2's ``.message`` (MesaPy payloads use it)."""
    error = RuntimeError(message)
    error.message = message  # type: ignore[attr-defined]
    return error


class TeaclaveWriter(io.BufferedWriter):
    """An output file; ``write`` also takes ``str`` (encoded as UTF-8, as MesaPy did)."""

    def write(self, data: Any) -> int:
        """Write bytes (or text, UTF-8 encoded)."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        return super().write(data)


class Channel:
    """The child's end of the worker channel (request and reply pipes)."""

    def __init__(self, request_fd: int, reply_fd: int) -> None:
        self.request_fd = request_fd
        self.reply_fd = reply_fd
        self.opens = 0
        self.writers: list[TeaclaveWriter] = []

    def open_path(self, name: str, mode: str) -> str | None:
        """Ask the worker for the path of ``name`` opened with ``mode`` (None: refused)."""
        protocol.write_frame(self.request_fd, protocol.OPEN, protocol.encode_open(name, mode))
        kind, reply = protocol.read_frame(self.reply_fd)
        if kind != protocol.REPLY:
            raise teaclave_error(FFI_ERROR)
        return protocol.decode_reply(reply)

    def close_writers(self) -> None:
        """Flush and close every output file the payload left open."""
        for writer in self.writers:
            if not writer.closed:
                writer.close()

    def send_result(self, summary: bytes) -> None:
        """End the run with ``summary`` (UTF-8)."""
        protocol.write_frame(self.request_fd, protocol.RESULT, summary)

    def send_error(self, message: str) -> None:
        """End the run with a failure."""
        data = message.encode(errors="replace")[: protocol.MAX_CONTROL_BYTES]
        protocol.write_frame(self.request_fd, protocol.ERROR, data)


def make_open(channel: Channel) -> Any:
    """``teaclave_open(name, mode)`` bound to ``channel``."""

    def teaclave_open(name: Any, mode: Any = "rb") -> io.BufferedIOBase:
        """Open the task's file ``name`` for reading (``"rb"``) or writing (``"wb"``)."""
        if mode not in MODES:
            raise teaclave_error(NOT_SUPPORTED)
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        if not isinstance(name, str) or not name or channel.opens >= MAX_OPENS:
            raise teaclave_error(FFI_ERROR)
        path = channel.open_path(name, mode)
        if path is None:
            raise teaclave_error(FFI_ERROR)
        channel.opens += 1
        if mode == "rb":
            return builtins.open(path, "rb")
        writer = TeaclaveWriter(io.FileIO(path, "w"))
        channel.writers.append(writer)
        return writer

    return teaclave_open


def install(channel: Channel) -> None:
    """Make ``teaclave_open`` a builtin and ``teaclave.open`` importable."""
    teaclave_open = make_open(channel)
    builtins.teaclave_open = teaclave_open  # type: ignore[attr-defined]
    module = types.ModuleType("teaclave", "Teaclave's payload file API (open).")
    module.open = teaclave_open  # type: ignore[attr-defined]
    sys.modules["teaclave"] = module
