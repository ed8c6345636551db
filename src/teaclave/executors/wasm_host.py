"""Teaclave's WebAssembly host API (``teaclave_context.h``) over one run's ``Runtime``.

A payload imports five functions from module ``env``::

    int teaclave_open_input(char *fid);          // handle or -1
    int teaclave_create_output(char *fid);       // handle or -1
    int teaclave_read_file(int fd, char *buf, int size);   // bytes read or -1
    int teaclave_write_file(int fd, char *buf, int size);  // bytes written or -1
    int teaclave_close_file(int fd);             // 0 or -1

``HandleTable`` is the executor context of Teaclave (services.md §6.5): handles come from one
sequence 1..1023 per run (a closed handle is never reused), write handles carry bit
``0x4000_0000``, and closing an unknown or already closed handle is an error. ``HostApi``
implements the five calls against a ``GuestMemory``: every pointer and length is bounds-checked,
and no call ever raises into the guest — any failure is ``-1`` (the reason is logged at debug
level). Only the task's declared inputs and outputs are reachable, because names go straight
to ``runtime.open_input``/``create_output`` (never to a path).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from teaclave.worker.runtime import Runtime

log = logging.getLogger(__name__)

#: Handles a run may open in total (Teaclave's executor context: sequence 1..1023).
MAX_HANDLES = 1023
#: Bit set in every write handle.
WRITE_FLAG = 0x4000_0000
#: Longest file name (C string, without its NUL) a payload may pass.
MAX_NAME_BYTES = 4096
#: Default cap on the bytes one run may write to its outputs, all files together (1 GiB).
DEFAULT_MAX_OUTPUT_BYTES = 1 << 30
#: The error return of every host call.
FAILURE = -1

_U32 = 0xFFFF_FFFF


class GuestMemory(Protocol):
    """The linear memory of the running instance (bounds are checked by ``HostApi``)."""

    def size(self) -> int:
        """Current size in bytes."""
        ...

    def read(self, address: int, length: int) -> bytes:
        """``length`` bytes at ``address`` (the caller guarantees they are in bounds)."""
        ...

    def write(self, address: int, data: bytes) -> None:
        """Store ``data`` at ``address`` (the caller guarantees it fits)."""
        ...


class HostCallError(Exception):
    """A host call is refused; the guest sees ``-1`` and the reason is logged."""


@dataclass(slots=True)
class _OpenFile:
    name: str
    stream: BinaryIO
    writable: bool


class HandleTable:
    """The files one run has open, by handle (Teaclave's executor context).

    ``max_output_bytes`` caps the bytes written to all outputs of the run together; the first
    write over the cap fails and records ``violation``, which fails the run.
    """

    def __init__(self, runtime: Runtime, max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES) -> None:
        self.runtime = runtime
        self.max_output_bytes = max_output_bytes
        self.written = 0
        self.violation: str | None = None
        self._next = 1
        self._files: dict[int, _OpenFile] = {}

    @property
    def open_count(self) -> int:
        """Handles currently open."""
        return len(self._files)

    def _allocate(self, writable: bool) -> int:
        if self._next > MAX_HANDLES:
            raise HostCallError(f"file handles exhausted ({MAX_HANDLES} per run)")
        index = self._next
        self._next += 1
        return index | WRITE_FLAG if writable else index

    def open_input(self, name: str) -> int:
        """Open input ``name`` for reading; returns its handle."""
        handle = self._allocate(writable=False)
        self._files[handle] = _OpenFile(name, self.runtime.open_input(name), writable=False)
        return handle

    def create_output(self, name: str) -> int:
        """Create output ``name`` for writing; returns its (write-flagged) handle."""
        handle = self._allocate(writable=True)
        self._files[handle] = _OpenFile(name, self.runtime.create_output(name), writable=True)
        return handle

    def lookup(self, handle: int, writable: bool) -> _OpenFile:
        """The open file behind ``handle``; refused if unknown, closed or of the wrong kind."""
        entry = self._files.get(handle)
        if entry is None:
            raise HostCallError(f"unknown or closed handle {handle:#x}")
        if entry.writable != writable:
            kind = "an output" if entry.writable else "an input"
            raise HostCallError(f"handle {handle:#x} is {kind} ({entry.name!r})")
        return entry

    def read(self, handle: int, size: int) -> bytes:
        """Up to ``size`` bytes from the input behind ``handle`` (empty at end of file)."""
        return self.lookup(handle, writable=False).stream.read(size)

    def write(self, handle: int, data: bytes) -> int:
        """Append ``data`` to the output behind ``handle``; returns the bytes written."""
        entry = self.lookup(handle, writable=True)
        if self.written + len(data) > self.max_output_bytes:
            self.violation = (
                f"output limit exceeded: the run tried to write more than "
                f"{self.max_output_bytes} bytes to its outputs"
            )
            raise HostCallError(self.violation)
        entry.stream.write(data)
        self.written += len(data)
        return len(data)

    def close(self, handle: int) -> None:
        """Close ``handle``; an unknown or already closed handle is an error."""
        entry = self._files.pop(handle, None)
        if entry is None:
            raise HostCallError(f"unknown or closed handle {handle:#x}")
        entry.stream.close()

    def close_all(self) -> list[str]:
        """Close every open file (end of run); returns the errors met, if any."""
        errors: list[str] = []
        for handle in sorted(self._files):
            entry = self._files.pop(handle)
            try:
                entry.stream.close()
            except Exception as exc:
                errors.append(f"closing {entry.name!r}: {exc}")
        return errors


def read_c_string(memory: GuestMemory, address: int) -> str:
    """The NUL-terminated UTF-8 string at ``address`` (at most ``MAX_NAME_BYTES`` bytes)."""
    start = address & _U32
    size = memory.size()
    if start >= size:
        raise HostCallError(f"string pointer {start:#x} is outside memory ({size} bytes)")
    chunk = memory.read(start, min(size - start, MAX_NAME_BYTES + 1))
    end = chunk.find(b"\0")
    if end < 0:
        raise HostCallError(f"string at {start:#x} has no NUL within {MAX_NAME_BYTES} bytes")
    try:
        return chunk[:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HostCallError(f"string at {start:#x} is not UTF-8") from exc


def checked_range(memory: GuestMemory, address: int, length: int) -> tuple[int, int]:
    """``(start, length)`` of a guest buffer, refused unless wholly inside memory."""
    if length < 0:
        raise HostCallError(f"negative buffer size {length}")
    start = address & _U32
    size = memory.size()
    if start + length > size:
        raise HostCallError(f"buffer {start:#x}+{length} is outside memory ({size} bytes)")
    return start, length


class HostApi:
    """The five ``env.teaclave_*`` calls of one run; each returns ``-1`` instead of raising."""

    def __init__(self, table: HandleTable, memory: Callable[[], GuestMemory | None]) -> None:
        self.table = table
        self._memory = memory

    def memory(self) -> GuestMemory:
        """The instance's exported memory (a call needing memory fails without one)."""
        memory = self._memory()
        if memory is None:
            raise HostCallError('the module exports no memory named "memory"')
        return memory

    @staticmethod
    def _guard(call: str, body: Callable[[], int]) -> int:
        try:
            return body()
        except Exception as exc:  # the guest must only ever see -1
            log.debug("%s failed: %s", call, exc)
            return FAILURE

    def open_input(self, fid: int) -> int:
        """``teaclave_open_input(char *fid)``: a read handle, or -1."""
        return self._guard(
            "teaclave_open_input",
            lambda: self.table.open_input(read_c_string(self.memory(), fid)),
        )

    def create_output(self, fid: int) -> int:
        """``teaclave_create_output(char *fid)``: a write handle, or -1."""
        return self._guard(
            "teaclave_create_output",
            lambda: self.table.create_output(read_c_string(self.memory(), fid)),
        )

    def read_file(self, fd: int, buf: int, size: int) -> int:
        """``teaclave_read_file(fd, buf, size)``: bytes read into ``buf`` (0 at EOF), or -1."""

        def body() -> int:
            memory = self.memory()
            start, length = checked_range(memory, buf, size)
            self.table.lookup(fd, writable=False)  # refuse a bad handle before reading
            data = self.table.read(fd, length) if length else b""
            if len(data) > length:
                raise HostCallError(f"input returned {len(data)} bytes for {length} asked")
            if data:
                memory.write(start, data)
            return len(data)

        return self._guard("teaclave_read_file", body)

    def write_file(self, fd: int, buf: int, size: int) -> int:
        """``teaclave_write_file(fd, buf, size)``: bytes written from ``buf``, or -1."""

        def body() -> int:
            memory = self.memory()
            start, length = checked_range(memory, buf, size)
            self.table.lookup(fd, writable=True)
            data = memory.read(start, length) if length else b""
            return self.table.write(fd, data)

        return self._guard("teaclave_write_file", body)

    def close_file(self, fd: int) -> int:
        """``teaclave_close_file(fd)``: 0, or -1 for an unknown or already closed handle."""

        def body() -> int:
            self.table.close(fd)
            return 0

        return self._guard("teaclave_close_file", body)
