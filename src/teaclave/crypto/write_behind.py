"""Positional writes of one file, done by a background thread from a bounded set of buffers.

The teaclave-file-128 writer encrypts MHT groups into buffers taken from here and hands each
back with its file offset. With ``background=True`` one thread writes them while the caller
goes on (reads its next chunk, encrypts the next groups): page-cache writes to one file are
serialized by the kernel anyway (ext4 holds the inode lock for a whole write), so one writer
thread loses nothing and keeps other threads from spinning on that lock. With
``background=False`` every buffer is written at once by the thread that hands it back.

At most ``limit`` buffers ever exist, so memory is bounded; :meth:`WriteBehind.take` waits
while all are filled and queued. The first write error is kept: buffers queued after it are
dropped unwritten, and every later call raises it. :meth:`WriteBehind.stop` returns only once
no write is in progress, so the caller may then close the descriptor safely.
"""

from __future__ import annotations

import os
import threading
from collections import deque

__all__ = ["WriteBehind"]


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
    """Buffers of ``size`` bytes for ``fd``: :meth:`take` one, fill it, :meth:`submit` it."""

    def __init__(self, fd: int, size: int, limit: int, background: bool) -> None:
        if limit < 1:
            raise ValueError(f"limit: {limit}, must be at least 1")
        self._fd = fd
        self._size = size
        self._limit = limit
        self._background = background
        self._made = 0
        self._free: list[memoryview] = []
        self._queue: deque[tuple[memoryview, int, int]] = deque()
        self._cond = threading.Condition()
        self._writing = False
        self._stopped = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

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

        At once, in the calling thread, with ``now`` or without a background thread. The buffer
        is free again afterwards. Raises the kept error (the buffer is then dropped
        unwritten).
        """
        if now or not self._background:
            try:
                self._check()
                _write_at(self._fd, buffer[:length], offset)
            except BaseException as exc:
                with self._cond:
                    self._error = self._error or exc
                raise
            finally:
                self.give_back(buffer)
            return
        with self._cond:
            if self._error is not None or self._stopped:
                self._free.append(buffer)
                self._cond.notify_all()
                self._check()
            self._queue.append((buffer, length, offset))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="teaclave-write-behind", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def drain(self) -> None:
        """Wait until every submitted buffer is written; raise the kept error, if any."""
        with self._cond:
            while self._queue or self._writing:
                self._cond.wait()
            self._check()

    def stop(self) -> None:
        """Drop what is queued, wait for the write in progress, end the thread (idempotent).

        Returns only once no write runs, even if interrupted meanwhile (the interrupt is
        raised afterwards), so the descriptor can be closed.
        """
        interrupted: BaseException | None = None
        with self._cond:
            self._stopped = True
            while self._queue:
                self._free.append(self._queue.popleft()[0])
            self._cond.notify_all()
            while self._writing:
                try:
                    self._cond.wait()
                except BaseException as exc:  # e.g. KeyboardInterrupt: keep waiting
                    interrupted = interrupted or exc
        if interrupted is not None:
            raise interrupted

    def _check(self) -> None:
        if self._error is not None:
            raise self._error
        if self._stopped:
            raise ValueError("write to a stopped writer")

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopped:
                    self._cond.wait()
                if not self._queue:
                    self._thread = None
                    return
                buffer, length, offset = self._queue.popleft()
                skip = self._error is not None
                self._writing = True
            error: BaseException | None = None
            try:
                if not skip:
                    _write_at(self._fd, buffer[:length], offset)
            except BaseException as exc:
                error = exc
            with self._cond:
                self._writing = False
                if error is not None and self._error is None:
                    self._error = error
                self._free.append(buffer)
                self._cond.notify_all()
