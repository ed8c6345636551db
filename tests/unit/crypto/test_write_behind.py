"""WriteBehind: positional writes of one file from a bounded set of buffers, in the background.

Real files throughout. Where a test must hold a write in progress it swaps the module's
``_write_at`` for one that waits on an event and then does the real write.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from teaclave.crypto import write_behind
from teaclave.crypto.write_behind import WriteBehind

SIZE = 4096


@pytest.fixture
def fd(tmp_path: Path) -> Iterator[int]:
    descriptor = os.open(tmp_path / "out.bin", os.O_RDWR | os.O_CREAT)
    yield descriptor
    os.close(descriptor)


def fill(buffer: memoryview, value: int) -> None:
    buffer[:] = bytes([value]) * len(buffer)


@pytest.mark.parametrize("background", [False, True])
def test_buffers_land_at_their_offsets_and_are_reused(fd: int, background: bool) -> None:
    writes = WriteBehind(fd, SIZE, limit=3, background=background)
    for i in range(40):
        buffer = writes.take()
        fill(buffer, i)
        writes.submit(buffer, SIZE - i, (39 - i) * SIZE)  # any order, partial lengths
    writes.drain()
    assert writes.buffers <= 3
    for i in range(40):
        data = os.pread(fd, SIZE, (39 - i) * SIZE)
        assert data[: SIZE - i] == bytes([i]) * (SIZE - i)
    writes.stop()
    writes.stop()  # idempotent
    with pytest.raises(ValueError, match="stopped"):
        writes.take()


class Gate:
    """Holds every write until opened; counts the writes that started."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opened = threading.Event()
        self.started: list[int] = []
        real = write_behind._write_at

        def gated(fd: int, data: memoryview, offset: int) -> None:
            self.started.append(offset)
            assert self.opened.wait(10)
            real(fd, data, offset)

        monkeypatch.setattr(write_behind, "_write_at", gated)


def wait_until(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_take_waits_while_every_buffer_is_queued(fd: int, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = Gate(monkeypatch)
    writes = WriteBehind(fd, SIZE, limit=2, background=True)
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
    writes.stop()


def test_stop_drops_the_queue_and_returns_once_no_write_runs(
    fd: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate(monkeypatch)
    writes = WriteBehind(fd, SIZE, limit=4, background=True)
    for i in range(3):
        buffer = writes.take()
        fill(buffer, i + 1)
        writes.submit(buffer, SIZE, i * SIZE)
    wait_until(lambda: gate.started == [0])
    stopper = threading.Thread(target=writes.stop)
    stopper.start()
    stopper.join(0.2)
    assert stopper.is_alive()  # the first write is still in progress
    gate.opened.set()
    stopper.join(10)
    assert not stopper.is_alive()
    assert gate.started == [0]  # the two queued buffers were dropped unwritten
    assert os.pread(fd, 3 * SIZE, 0) == bytes([1]) * SIZE
    with pytest.raises(ValueError, match="stopped"):
        writes.take()
    with pytest.raises(ValueError, match="stopped"):
        writes.submit(memoryview(bytearray(SIZE)), SIZE, 0)


@pytest.mark.parametrize("background", [False, True])
def test_a_write_error_is_kept_and_raised_by_every_later_call(
    tmp_path: Path, background: bool
) -> None:
    path = tmp_path / "read-only.bin"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDONLY)
    try:
        writes = WriteBehind(fd, SIZE, limit=2, background=background)
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
        writes.stop()
    finally:
        os.close(fd)
    assert path.stat().st_size == 0


def test_limit_must_be_positive(fd: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        WriteBehind(fd, SIZE, limit=0, background=True)


FULL_DISK = r"""
import os, resource, signal, sys
from teaclave.crypto import ProtectedFileReader, ProtectedFileWriter, protected_fs_nodes
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
protected_fs_nodes.set_thread_count(2)
resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, 2 << 20))
path = sys.argv[1]
writer = ProtectedFileWriter(path, bytes(16))
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
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["failed", str(errno.EFBIG), "True", "None"]
    with path.open("rb") as f:
        assert f.read(4096) == bytes(4096)  # node 0 was never written
