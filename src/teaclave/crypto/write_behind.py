"""Positional writes of one file, done by a background thread from a bounded set of buffers.

The teaclave-file-128 writer encrypts MHT groups into buffers taken from here and hands each
back with its file offset. With ``background=True`` one thread writes them while the caller
goes on (reads its next chunk, encrypts the next groups): page-cache writes to one file are
serialized by the kernel anyway (ext4 holds the inode lock for a whole write), so one writer
thread loses nothing and keeps other threads from spinning on that lock. With
``background=False`` every buffer is written at once by the thread that hands it back.

At most ``limit`` buffers ever exist, so memory is bounded; :meth:`WriteBehind.take` waits
while all are filled and queued. The first write error is kept: buffers queued after it are
dropped unwritten, and every later call raises it.

A :class:`WriteBehind` owns its descriptor. :meth:`WriteBehind.close` never waits: it drops
what is queued and closes the descriptor at once, or, when a write is in progress, lets the
thread close it as soon as that write returns. So no write can ever land on a later file that
reuses the descriptor number, and dropping a writer cannot hang, not at interpreter exit, not
in a forked child (where every instance is closed: it belongs to the parent), and not when the
garbage collector runs it on the writing thread itself.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections import deque

__all__ = ["WriteBehind"]

_live: weakref.WeakSet[WriteBehind] = weakref.WeakSet()


def _write_at(fd: int, data: memoryview, offset: int) -> None:
    """Allocate the blocks of ``data`` (one extent; a full disk fails here), then write it.

    ``posix_fallocate`` first makes ext4 page-cache writes about 25 % cheaper.
    """
    os.posix_fallocate(fd, offset, len(data))
    while data:
        written = os.pwrite(fd, data, offset)
        data = data[written:]
        offset += written


class WriteBehind:
    """Buffers of ``size`` bytes for ``fd``: :meth:`take` one, fill it, :meth:`submit` it.

    ``fd`` belongs to this object from now on: :meth:`close` closes it.
    """

    def __init__(self, fd: int, size: int, limit: int, background: bool) -> None:
        if limit < 1:
            raise ValueError(f"limit: {limit}, must be at least 1")
        self.fd = fd
        self._size = size
        self._limit = limit
        self._background = background
        self._made = 0
        self._free: list[memoryview] = []
        self._queue: deque[tuple[memoryview, int, int]] = deque()
        self._cond = threading.Condition()
        self._writing = False
        self._closed = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        _live.add(self)

    @property
    def buffers(self) -> int:
        """How many buffers were made so far (at most ``limit``)."""
        return self._made

    def take(self) -> memoryview:
        """A buffer of ``size`` bytes to fill (contents undefined); waits while none is free."""
        with self._cond:
            while True:
                self._check()
                if self._free:
                    return self._free.pop()
                if self._made < self._limit:
                    self._made += 1
                    break
                self._cond.wait()
        return memoryview(bytearray(self._size))

    def give_back(self, buffer: memoryview) -> None:
        """Return a taken buffer unwritten."""
        with self._cond:
            self._free.append(buffer)
            self._cond.notify_all()

    def submit(self, buffer: memoryview, length: int, offset: int, now: bool = False) -> None:
        """Write ``buffer[:length]`` at ``offset``, in the background or at once.

        At once, in the calling thread, with ``now`` or without a background thread (or when
        none can be started: interpreter shutdown). From here on the buffer is this object's:
        it is free again once written, or dropped on an error, which is raised (and kept).
        """
        if not (now or self._background) or not self._enqueue(buffer, length, offset):
            try:
                self._check()
                _write_at(self.fd, buffer[:length], offset)
            except BaseException as exc:
                with self._cond:
                    self._error = self._error or exc
                raise
            finally:
                self.give_back(buffer)

    def _enqueue(self, buffer: memoryview, length: int, offset: int) -> bool:
        """Queue a write for the thread (started if need be); False if no thread can start."""
        with self._cond:
            if self._error is not None or self._closed:
                self._free.append(buffer)
                self._cond.notify_all()
                self._check()
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="teaclave-write-behind")
                thread.daemon = True
                try:
                    thread.start()
                except RuntimeError:  # interpreter shutdown: no new threads
                    self._background = False
                    return False
                self._thread = thread
            self._queue.append((buffer, length, offset))
            self._cond.notify_all()
        return True

    def drain(self) -> None:
        """Wait until every submitted buffer is written; raise the kept error, if any."""
        with self._cond:
            while self._queue or self._writing:
                self._cond.wait()
            self._check()

    def close(self) -> None:
        """Drop what is queued and close the descriptor (idempotent; never waits).

        With a write in progress the writing thread closes the descriptor when it returns.
        """
        with self._cond:
            if self._closed:
                return
            self._closed = True
            while self._queue:
                self._free.append(self._queue.popleft()[0])
            close_now = not self._writing
            self._cond.notify_all()
        if close_now:
            os.close(self.fd)

    def _check(self) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise ValueError("write to a closed writer")

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:  # closed, and close() closed the descriptor
                    self._thread = None
                    return
                buffer, length, offset = self._queue.popleft()
                skip = self._error is not None
                self._writing = True
            error: BaseException | None = None
            try:
                if not skip:
                    _write_at(self.fd, buffer[:length], offset)
            except BaseException as exc:
                error = exc
            with self._cond:
                self._writing = False
                if error is not None and self._error is None:
                    self._error = error
                self._free.append(buffer)
                self._cond.notify_all()
                close_now = self._closed
                if close_now:
                    self._thread = None
            if close_now:  # close() came during the write and left the descriptor to us
                os.close(self.fd)
                return

    def _forget_after_fork(self) -> None:
        """In a forked child: no thread writes here; close this process's copy of the fd."""
        self._cond = threading.Condition()
        self._thread = None
        self._writing = False
        self._error = self._error or ValueError("writer belongs to the parent process (fork)")
        self.close()


def _after_fork_in_child() -> None:
    for writes in list(_live):
        with contextlib.suppress(OSError):
            writes._forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
