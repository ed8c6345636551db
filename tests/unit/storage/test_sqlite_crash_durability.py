"""A write acknowledged by SqliteStore survives kill -9 of the process that made it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from teaclave.storage import SqliteStore

pytestmark = pytest.mark.timeout(60)

WRITER = """
import sys
from teaclave.storage import SqliteStore
store = SqliteStore(sys.argv[1])
n = int(sys.argv[2])
for i in range(n):
    store.put(f"key-{i:05d}".encode(), f"value-{i}".encode() * 10)
    store.enqueue(b"q", str(i).encode())
    print(f"ok {i}", flush=True)
# Keep writing (unacknowledged) until killed.
i = n
while True:
    store.put(f"key-{i:05d}".encode(), b"late")
    i += 1
"""


@pytest.mark.parametrize("acknowledged", [1, 300])
def test_acknowledged_writes_survive_sigkill(tmp_path: Path, acknowledged: int):
    path = tmp_path / "storage.sqlite"
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(acknowledged)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        seen = 0
        for line in child.stdout:
            assert line.strip() == f"ok {seen}"
            seen += 1
            if seen == acknowledged:
                break
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert seen == acknowledged
    store = SqliteStore(path)
    try:
        for i in range(acknowledged):
            assert store.get(f"key-{i:05d}".encode()) == f"value-{i}".encode() * 10
        keys = store.keys_with_prefix(b"key-")
        assert keys[:acknowledged] == [f"key-{i:05d}".encode() for i in range(acknowledged)]
        queued = []
        while (item := store.dequeue(b"q")) is not None:
            queued.append(item)
        assert queued == [str(i).encode() for i in range(acknowledged)]
    finally:
        store.close()
