"""SqliteStore and MemoryStore behave identically (the KeyValueStore contract)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from teaclave.storage import KeyValueStore, MemoryStore, SqliteStore

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyValueStore]:
    made: KeyValueStore = (
        SqliteStore(tmp_path / "db" / "kv.sqlite") if request.param == "sqlite" else MemoryStore()
    )
    yield made
    made.close()


# ---------------------------------------------------------------------- key-value
def test_get_put_delete(store: KeyValueStore):
    assert store.get(b"test_get_key") is None
    store.put(b"test_get_key", b"test_get_value")
    assert store.get(b"test_get_key") == b"test_get_value"
    store.put(b"test_get_key", b"replaced")
    assert store.get(b"test_get_key") == b"replaced"
    store.delete(b"test_get_key")
    assert store.get(b"test_get_key") is None
    store.delete(b"test_get_key")  # deleting a missing key succeeds
    store.delete(b"never-there")


def test_empty_value_is_stored_and_distinct_from_absent(store: KeyValueStore):
    store.put(b"empty", b"")
    assert store.get(b"empty") == b""
    assert store.keys_with_prefix(b"empty") == [b"empty"]


def test_binary_keys_and_values(store: KeyValueStore):
    key, value = bytes(range(256)), bytes(range(255, -1, -1)) * 100
    store.put(key, value)
    assert store.get(key) == value
    store.put(b"\x00", b"\x00")
    assert store.get(b"\x00") == b"\x00"
    assert store.get(b"\x00\x00") is None


def test_returned_values_are_bytes(store: KeyValueStore):
    store.put(b"k", bytearray(b"v"))  # type: ignore[arg-type]
    value = store.get(b"k")
    assert type(value) is bytes and value == b"v"


# ---------------------------------------------------------------------- prefixes
def test_keys_with_prefix_in_byte_order(store: KeyValueStore):
    for key in [
        b"function-5",
        b"task-444",
        b"function-333",
        b"function-1",
        b"function-22",
        b"function",
        b"functionx",
        b"functio",
    ]:
        store.put(key, b"v")
    assert store.keys_with_prefix(b"function-") == [
        b"function-1",
        b"function-22",
        b"function-333",
        b"function-5",
    ]
    # A key equal to the prefix is included; neighbours on both sides are not.
    assert store.keys_with_prefix(b"function") == [
        b"function",
        b"function-1",
        b"function-22",
        b"function-333",
        b"function-5",
        b"functionx",
    ]
    assert store.keys_with_prefix(b"task-") == [b"task-444"]
    assert store.keys_with_prefix(b"nothing-") == []
    assert store.keys_with_prefix(b"zzz") == []


def test_empty_prefix_lists_every_key(store: KeyValueStore):
    for key in [b"b", b"a", b"\xff", b"\x00"]:
        store.put(key, b"")
    assert store.keys_with_prefix(b"") == [b"\x00", b"a", b"b", b"\xff"]


def test_prefixes_ending_in_0xff(store: KeyValueStore):
    keys = [
        b"a\xfe",
        b"a\xff",
        b"a\xff\x00",
        b"a\xff\xff",
        b"a\xff\xff\x01",
        b"b",
        b"b\x00",
        b"\xff",
        b"\xff\xff",
        b"\xff\xff\xff",
    ]
    for key in keys:
        store.put(key, b"")
    assert store.keys_with_prefix(b"a\xff") == [
        b"a\xff",
        b"a\xff\x00",
        b"a\xff\xff",
        b"a\xff\xff\x01",
    ]
    assert store.keys_with_prefix(b"a\xff\xff") == [b"a\xff\xff", b"a\xff\xff\x01"]
    assert store.keys_with_prefix(b"\xff") == [b"\xff", b"\xff\xff", b"\xff\xff\xff"]
    assert store.keys_with_prefix(b"\xff\xff") == [b"\xff\xff", b"\xff\xff\xff"]
    assert store.keys_with_prefix(b"a") == [
        b"a\xfe",
        b"a\xff",
        b"a\xff\x00",
        b"a\xff\xff",
        b"a\xff\xff\x01",
    ]


def test_deleted_keys_leave_the_listing(store: KeyValueStore):
    store.put(b"p-1", b"")
    store.put(b"p-2", b"")
    store.delete(b"p-1")
    assert store.keys_with_prefix(b"p-") == [b"p-2"]
    store.put(b"p-1", b"again")
    assert store.keys_with_prefix(b"p-") == [b"p-1", b"p-2"]


def test_queues_and_keys_are_separate_namespaces(store: KeyValueStore):
    store.enqueue(b"k", b"queued")
    assert store.get(b"k") is None
    assert store.keys_with_prefix(b"") == []
    store.put(b"k", b"stored")
    assert store.dequeue(b"k") == b"queued"
    assert store.get(b"k") == b"stored"


# ---------------------------------------------------------------------- queues
def test_fifo_per_queue_name(store: KeyValueStore):
    assert store.dequeue(b"q") is None
    store.enqueue(b"q", b"1")
    store.enqueue(b"other", b"x")
    store.enqueue(b"q", b"2")
    store.enqueue(b"q", b"")
    store.enqueue(b"q", b"2")
    assert store.dequeue(b"q") == b"1"
    assert store.dequeue(b"q") == b"2"
    assert store.dequeue(b"q") == b""
    assert store.dequeue(b"q") == b"2"
    assert store.dequeue(b"q") is None
    assert store.dequeue(b"other") == b"x"
    assert store.dequeue(b"other") is None
    # A drained queue is usable again and stays in order.
    for i in range(20):
        store.enqueue(b"q", str(i).encode())
    assert [store.dequeue(b"q") for _ in range(20)] == [str(i).encode() for i in range(20)]


def test_queue_names_are_exact(store: KeyValueStore):
    store.enqueue(b"staged-task", b"a")
    assert store.dequeue(b"staged") is None
    assert store.dequeue(b"staged-task-") is None
    assert store.dequeue(b"staged-task") == b"a"


def test_dequeue_without_wait_returns_at_once(store: KeyValueStore):
    start = time.monotonic()
    assert store.dequeue(b"q") is None
    assert store.dequeue(b"q", 0) is None
    assert time.monotonic() - start < 0.1


def test_dequeue_wait_is_woken_by_a_concurrent_enqueue(store: KeyValueStore):
    timer = threading.Timer(0.2, store.enqueue, args=(b"q", b"late"))
    start = time.monotonic()
    timer.start()
    try:
        assert store.dequeue(b"q", 5.0) == b"late"
    finally:
        timer.join()
    elapsed = time.monotonic() - start
    assert 0.15 <= elapsed < 2.0


def test_dequeue_wait_ignores_other_queues_and_times_out(store: KeyValueStore):
    timer = threading.Timer(0.05, store.enqueue, args=(b"other", b"x"))
    timer.start()
    start = time.monotonic()
    assert store.dequeue(b"q", 0.3) is None
    elapsed = time.monotonic() - start
    timer.join()
    assert 0.28 <= elapsed < 1.5
    assert store.dequeue(b"other") == b"x"


def test_each_item_goes_to_exactly_one_waiting_consumer(store: KeyValueStore):
    got: list[bytes | None] = []
    lock = threading.Lock()

    def consume() -> None:
        value = store.dequeue(b"q", 0.6)
        with lock:
            got.append(value)

    consumers = [threading.Thread(target=consume) for _ in range(4)]
    for t in consumers:
        t.start()
    time.sleep(0.1)
    for i in range(3):
        store.enqueue(b"q", str(i).encode())
    for t in consumers:
        t.join(5)
    assert sorted(v for v in got if v is not None) == [b"0", b"1", b"2"]
    assert got.count(None) == 1


def test_concurrent_writers(store: KeyValueStore):
    def write(n: int) -> None:
        for i in range(50):
            store.put(f"w{n}-{i:03d}".encode(), str(i).encode())
            store.enqueue(b"q", f"{n}:{i}".encode())

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(store.keys_with_prefix(b"w")) == 200
    items = []
    while (item := store.dequeue(b"q")) is not None:
        items.append(item.decode())
    assert len(items) == 200
    for n in range(4):  # each writer's items come out in its order
        mine = [int(i.split(":")[1]) for i in items if i.startswith(f"{n}:")]
        assert mine == list(range(50))


# ---------------------------------------------------------------------- SQLite only
def test_sqlite_persists_across_close_and_reopen(tmp_path: Path):
    path = tmp_path / "state" / "storage.sqlite"
    first = SqliteStore(path)
    first.put(b"function-1", b"one")
    first.put(b"empty", b"")
    first.put(b"gone", b"x")
    first.delete(b"gone")
    first.enqueue(b"q", b"a")
    first.enqueue(b"q", b"b")
    assert first.dequeue(b"q") == b"a"
    first.close()
    second = SqliteStore(path, durable=True)
    try:
        assert second.get(b"function-1") == b"one"
        assert second.get(b"empty") == b""
        assert second.get(b"gone") is None
        assert second.keys_with_prefix(b"") == [b"empty", b"function-1"]
        second.enqueue(b"q", b"c")
        assert second.dequeue(b"q") == b"b"
        assert second.dequeue(b"q") == b"c"
        assert second.dequeue(b"q") is None
    finally:
        second.close()


def test_sqlite_uses_wal_and_creates_its_directory(tmp_path: Path):
    path = tmp_path / "a" / "b" / "kv.sqlite"
    store = SqliteStore(path)
    try:
        assert path.exists()
        mode = store._db.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
    finally:
        store.close()


def test_two_sqlite_handles_on_one_file_see_each_others_writes(tmp_path: Path):
    a = SqliteStore(tmp_path / "kv.sqlite")
    b = SqliteStore(tmp_path / "kv.sqlite")
    try:
        a.put(b"k", b"from a")
        assert b.get(b"k") == b"from a"
        b.enqueue(b"q", b"1")
        a.enqueue(b"q", b"2")
        assert a.dequeue(b"q") == b"1"
        assert b.dequeue(b"q") == b"2"
    finally:
        a.close()
        b.close()
