"""WriteBehind: positional writes of one file from a bounded set of buffers, in the background.

Real files throughout. Where a test must hold a write in progress it swaps the module's
``_write_at`` for one that waits on an event (or sleeps) and then does the real write.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from crypto_helpers import run_python

from teaclave.crypto import write_behind
from teaclave.crypto.write_behind import WriteBehind

SIZE = 4096


def open_rw(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT)


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def fill(buffer: memoryview, value: int) -> None:
    buffer[:] = bytes([value]) * len(buffer)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@pytest.mark.parametrize("background", [False, True])
def test_buffers_land_at_their_offsets_and_are_reused(tmp_path: Path, background: bool) -> None:
    path = tmp_path / "out.bin"
    fd = open_rw(path)
    writes = WriteBehind(fd, SIZE, limit=3, background=background)
    for i in range(40):
        buffer = writes.take()
        fill(buffer, i)
        writes.submit(buffer, SIZE - i, (39 - i) * SIZE)  # any order, partial lengths
    writes.drain()
    assert writes.buffers <= 3
    data = path.read_bytes()
    for i in range(40):
        start = (39 - i) * SIZE
        assert data[start : start + SIZE - i] == bytes([i]) * (SIZE - i)
    writes.close()
    assert not is_open(fd)  # the descriptor belongs to the WriteBehind
    writes.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        writes.take()
    with pytest.raises(ValueError, match="closed"):
        writes.submit(memoryview(bytearray(SIZE)), SIZE, 0)


class Gate:
    """Holds every write until opened; records the offsets of the writes that started."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opened = threading.Event()
        self.started: list[int] = []
        real = write_behind._write_at

        def gated(fd: int, data: memoryview, offset: int) -> None:
            self.started.append(offset)
            assert self.opened.wait(10)
            real(fd, data, offset)

        monkeypatch.setattr(write_behind, "_write_at", gated)


def test_take_waits_while_every_buffer_is_queued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate(monkeypatch)
    writes = WriteBehind(open_rw(tmp_path / "out.bin"), SIZE, limit=2, background=True)
    for i in range(2):
        writes.submit(writes.take(), SIZE, i * SIZE)
    taken: list[memoryview] = []
    taker = threading.Thread(target=lambda: taken.append(writes.take()))
    taker.start()
    wait_until(lambda: gate.started == [0])
    taker.join(0.2)
    assert taker.is_alive() and not taken  # both buffers are in the queue or being written
    gate.opened.set()
    taker.join(10)
    assert len(taken) == 1 and writes.buffers == 2
    writes.give_back(taken[0])
    writes.drain()
    writes.close()


def test_close_never_waits_and_the_write_in_progress_closes_the_descriptor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.bin"
    gate = Gate(monkeypatch)
    fd = open_rw(path)
    writes = WriteBehind(fd, SIZE, limit=4, background=True)
    for i in range(3):
        buffer = writes.take()
        fill(buffer, i + 1)
        writes.submit(buffer, SIZE, i * SIZE)
    wait_until(lambda: gate.started == [0])
    writes.close()  # returns at once although a write is in progress
    assert is_open(fd)  # so the descriptor stays open for that write ...
    gate.opened.set()
    wait_until(lambda: not is_open(fd))  # ... which closes it when it returns
    assert gate.started == [0]  # the two queued buffers were dropped unwritten
    assert path.read_bytes() == bytes([1]) * SIZE


def test_close_on_the_writing_thread_itself_does_not_deadlock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The garbage collector may drop a writer (and close its writes) on the writing thread."""
    fd = open_rw(tmp_path / "out.bin")
    writes = WriteBehind(fd, SIZE, limit=2, background=True)
    real = write_behind._write_at

    def closing(fd: int, data: memoryview, offset: int) -> None:
        writes.close()
        real(fd, data, offset)  # the descriptor is still open for the write in progress

    monkeypatch.setattr(write_behind, "_write_at", closing)
    writes.submit(writes.take(), SIZE, 0)
    wait_until(lambda: not is_open(fd))
    assert (tmp_path / "out.bin").stat().st_size == SIZE


@pytest.mark.parametrize("background", [False, True])
def test_a_write_error_is_kept_and_raised_by_every_later_call(
    tmp_path: Path, background: bool
) -> None:
    path = tmp_path / "read-only.bin"
    path.write_bytes(b"")
    writes = WriteBehind(os.open(path, os.O_RDONLY), SIZE, limit=2, background=background)
    buffer = writes.take()
    if background:
        writes.submit(buffer, SIZE, 0)
        with pytest.raises(OSError) as failure:
            writes.drain()
    else:
        with pytest.raises(OSError) as failure:
            writes.submit(buffer, SIZE, 0)
    assert failure.value.errno == errno.EBADF
    with pytest.raises(OSError):
        writes.take()
    with pytest.raises(OSError):
        writes.submit(memoryview(bytearray(SIZE)), SIZE, SIZE)
    writes.close()
    assert path.stat().st_size == 0


def test_without_a_thread_to_be_had_it_writes_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At interpreter shutdown Python 3.12+ refuses new threads: the writes happen inline."""

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    path = tmp_path / "out.bin"
    writes = WriteBehind(open_rw(path), SIZE, limit=2, background=True)
    for i in range(3):
        buffer = writes.take()
        fill(buffer, i)
        writes.submit(buffer, SIZE, i * SIZE)
        assert path.stat().st_size == (i + 1) * SIZE  # written before submit returned
    writes.close()
    assert path.read_bytes() == bytes([0]) * SIZE + bytes([1]) * SIZE + bytes([2]) * SIZE


def test_limit_must_be_positive(tmp_path: Path) -> None:
    fd = open_rw(tmp_path / "out.bin")
    with pytest.raises(ValueError, match="limit"):
        WriteBehind(fd, SIZE, limit=0, background=True)
    os.close(fd)


SLOW_WRITES = r"""
import os, sys, time
from teaclave.crypto import protected_fs_nodes, write_behind
from teaclave.crypto.protected_fs import ProtectedFileWriter
protected_fs_nodes.set_thread_count(2)
real = write_behind._write_at
def slow(fd, data, offset):
    time.sleep(0.2)  # slow storage
    real(fd, data, offset)
write_behind._write_at = slow
writer = ProtectedFileWriter(sys.argv[1], bytes(16))
writer.write(os.urandom(3072 + 6 * 96 * 4096))  # six groups queued behind a slow write
time.sleep(0.05)
"""

EXIT_WITH_OPEN_WRITER = SLOW_WRITES + "sys.exit(0)  # the writer is dropped at exit\n"

FORK_WITH_OPEN_WRITER = (
    SLOW_WRITES
    + r"""
pid = os.fork()
if pid == 0:
    try:
        writer.write(b"x" * 4096 * 200)
    except (OSError, ValueError) as exc:
        print("child refused:", exc, flush=True)
    del writer  # drops the copy: must not wait for the parent's write
    os._exit(0)
_, status = os.waitpid(pid, 0)
print("child status", status, flush=True)
print("parent tag", len(writer.close()), flush=True)
"""
)


def test_an_open_writer_at_interpreter_exit_does_not_hang(tmp_path: Path) -> None:
    for attempt in range(3):
        done = run_python(EXIT_WITH_OPEN_WRITER, str(tmp_path / f"exit{attempt}.enc"))
        assert done.returncode == 0, done.stderr


def test_a_forked_child_cannot_use_or_wait_for_the_parents_writer(tmp_path: Path) -> None:
    path = tmp_path / "fork.enc"
    done = run_python(FORK_WITH_OPEN_WRITER, str(path))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("child refused: writer belongs to the parent process")
    assert lines[1:] == ["child status 0", "parent tag 16"]


FULL_DISK = r"""
import os, resource, signal, sys
from teaclave.crypto import ProtectedFileWriter, protected_fs_nodes
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
protected_fs_nodes.set_thread_count(2)
resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, 2 << 20))
writer = ProtectedFileWriter(sys.argv[1], bytes(16))
try:
    for _ in range(8):
        writer.write(os.urandom(1 << 20))
    writer.close()
except OSError as exc:
    print("failed", exc.errno, writer.closed, writer.tag)
else:
    print("written")
"""


def test_a_full_disk_during_background_writes_fails_the_writer(tmp_path: Path) -> None:
    """A file-size limit (EFBIG, as a full disk gives ENOSPC) reached by the background thread."""
    path = tmp_path / "big.enc"
    done = run_python(FULL_DISK, str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["failed", str(errno.EFBIG), "True", "None"]
    with path.open("rb") as f:
        assert f.read(4096) == bytes(4096)  # node 0 was never written
