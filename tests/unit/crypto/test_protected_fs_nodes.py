"""The per-node AES-GCM backends of teaclave-file-128 and the threads that run them.

Two backends must be interchangeable byte for byte: the native module
``teaclave.crypto._pfs_nodes`` (OpenSSL, GIL released) and the ``cryptography`` fallback
``protected_fs_nodes._CryptographyBackend``. Both are tested directly, whatever
``protected_fs_nodes.BACKEND`` is; tests of the native module skip when it is not built, except
``test_native_module_is_built``, which fails then when ``TEACLAVE_REQUIRE_NATIVE=1``.

The last sections run ProtectedFileWriter / ProtectedFileReader with 1 and 4 threads (the
``cryptography`` backend always uses 1) and check a child process forced onto the fallback.
"""

from __future__ import annotations

import importlib
import os
import re
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import cast

import pytest
from crypto_helpers import parse, pseudo_random, run_python
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from teaclave.crypto import IntegrityError, ProtectedFileReader, ProtectedFileWriter
from teaclave.crypto import protected_fs_nodes as nodes
from teaclave.crypto.protected_fs_layout import data_node_physical

NODE = 4096
ENTRY = 32
KEY_SIZE = 16
KEY = bytes(range(16))
NATIVE_NAME = "teaclave.crypto._pfs_nodes"
NOT_BUILT = f"{NATIVE_NAME} is not built (no C compiler or OpenSSL headers at install time)"

# -- helpers ---------------------------------------------------------------------------------------


def _import_native() -> ModuleType | None:
    try:
        return importlib.import_module(NATIVE_NAME)
    except ImportError:
        return None


NATIVE = _import_native()
needs_native = pytest.mark.skipif(NATIVE is None, reason=NOT_BUILT)


def native() -> nodes._Backend:
    """The native module as a backend (callers are marked ``needs_native``)."""
    assert NATIVE is not None
    return cast(nodes._Backend, NATIVE)


@pytest.fixture(params=["openssl", "cryptography"])
def backend(request: pytest.FixtureRequest) -> nodes._Backend:
    """Each backend in turn (the native one skips when it is not built)."""
    if request.param == "cryptography":
        return nodes._CryptographyBackend()
    if NATIVE is None:
        pytest.skip(NOT_BUILT)
    return native()


@pytest.fixture
def restore_threads() -> Iterator[None]:
    """Put the thread count back after a test that changes it."""
    previous = nodes.thread_count()
    yield
    nodes.set_thread_count(previous)


def reference_seal(keys: bytes, plain: bytes) -> tuple[bytes, bytes]:
    """Ciphertext and key‖tag entries of ``plain``, one ``AESGCM(key).encrypt`` per node."""
    ciphertext, entries = [], []
    for i in range(len(plain) // NODE):
        key = keys[i * KEY_SIZE : (i + 1) * KEY_SIZE]
        sealed = AESGCM(key).encrypt(bytes(12), plain[i * NODE : (i + 1) * NODE], None)
        ciphertext.append(sealed[:NODE])
        entries.append(key + sealed[NODE:])
    return b"".join(ciphertext), b"".join(entries)


def sample(count: int, seed: int) -> tuple[bytes, bytes, bytes, bytes]:
    """(keys, plaintext, ciphertext, entries) of ``count`` random nodes."""
    keys = pseudo_random(count * KEY_SIZE, seed)
    plain = pseudo_random(count * NODE, seed + 1)
    return keys, plain, *reference_seal(keys, plain)


def encrypt_with(backend: nodes._Backend, keys: bytes, plain: bytes) -> tuple[bytes, bytes]:
    ciphertext = bytearray(len(plain))
    entries = bytearray(len(plain) // NODE * ENTRY)
    assert backend.encrypt_nodes(keys, plain, ciphertext, entries) is None
    return bytes(ciphertext), bytes(entries)


def decrypt_with(backend: nodes._Backend, entries: bytes, ciphertext: bytes) -> tuple[int, bytes]:
    plain = bytearray(b"\xa5" * len(ciphertext))
    bad = backend.decrypt_nodes(entries, ciphertext, plain)
    return bad, bytes(plain)


def mht_window(mht: bytearray) -> memoryview:
    """Entries 2..4 of an MHT-like node: a window into a larger buffer."""
    return memoryview(mht)[2 * ENTRY : 5 * ENTRY]


def flip(data: bytes | bytearray, at: int, bit: int = 0x01) -> bytearray:
    changed = bytearray(data)
    changed[at] ^= bit
    return changed


# -- the native module and the wrapper's choice ----------------------------------------------------


def test_native_module_is_built() -> None:
    if NATIVE is None:
        if os.environ.get("TEACLAVE_REQUIRE_NATIVE") == "1":
            pytest.fail(f"TEACLAVE_REQUIRE_NATIVE=1 but {NOT_BUILT}")
        pytest.skip(NOT_BUILT)
    assert callable(NATIVE.decrypt_nodes)
    assert callable(NATIVE.encrypt_nodes)
    assert NATIVE.openssl_version().startswith("OpenSSL")


def test_wrapper_uses_the_expected_backend() -> None:
    forced = os.environ.get("TEACLAVE_PFS_BACKEND") == "cryptography"
    expected = "cryptography" if forced or NATIVE is None else "openssl"
    assert expected == nodes.BACKEND
    keys, plain, ciphertext, entries = sample(3, 1)
    assert encrypt_with(cast(nodes._Backend, nodes), keys, plain) == (ciphertext, entries)
    assert decrypt_with(cast(nodes._Backend, nodes), entries, ciphertext) == (-1, plain)


def test_backend_library_says_which_openssl() -> None:
    if nodes.BACKEND == "cryptography":
        assert nodes.BACKEND_LIBRARY.startswith("cryptography ")
        return
    assert NATIVE is not None
    assert nodes.BACKEND_LIBRARY.startswith(NATIVE.openssl_version())
    where = "(bundled, static)" if NATIVE.STATIC_OPENSSL else "(system)"
    assert nodes.BACKEND_LIBRARY.endswith(where)


needs_bundled = pytest.mark.skipif(
    NATIVE is None or not NATIVE.STATIC_OPENSSL,
    reason="the module links the system OpenSSL (scripts/build_openssl.py built none)",
)


@needs_bundled
def test_bundled_openssl_keeps_its_symbols_to_itself() -> None:
    """Only the module's init function is exported: no OpenSSL symbol can clash or interpose."""
    import ctypes

    assert NATIVE is not None
    library = ctypes.CDLL(NATIVE.__file__)
    assert hasattr(library, "PyInit__pfs_nodes")
    for symbol in ("EVP_EncryptInit_ex", "OpenSSL_version", "OPENSSL_init_crypto", "AES_encrypt"):
        assert not hasattr(library, symbol), symbol


@needs_bundled
def test_bundled_openssl_reads_no_config_file(tmp_path: Path) -> None:
    """OPENSSL_CONF is for the system library; a broken one cannot stop or change the module."""
    conf = tmp_path / "openssl.cnf"
    conf.write_text(
        "openssl_conf = init\n[init]\nproviders = prov\n[prov]\nmissing = missing_sect\n"
        "[missing_sect]\nmodule = /nonexistent/provider.so\nactivate = 1\n"
    )
    code = (
        "from teaclave.crypto import _pfs_nodes as m\n"
        "from cryptography.hazmat.primitives.ciphers.aead import AESGCM\n"
        "key, plain = bytes(range(16)), bytes(range(256)) * 16\n"
        "out, entry = bytearray(4096), bytearray(32)\n"
        "m.encrypt_nodes(key, plain, out, entry)\n"
        "assert bytes(out) + entry[16:] == AESGCM(key).encrypt(bytes(12), plain, None)\n"
        "print(m.openssl_version())\n"
    )
    done = run_python(code, env={"OPENSSL_CONF": str(conf)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OpenSSL 3.")


# -- both backends agree with AES-GCM and with each other ------------------------------------------

COUNTS = [0, 1, 2, 96, 97]


@pytest.mark.parametrize("count", COUNTS)
def test_backend_matches_per_node_aesgcm(backend: nodes._Backend, count: int) -> None:
    keys, plain, ciphertext, entries = sample(count, 10 + count)
    assert encrypt_with(backend, keys, plain) == (ciphertext, entries)
    assert decrypt_with(backend, entries, ciphertext) == (-1, plain)


@needs_native
@pytest.mark.parametrize("count", COUNTS)
def test_native_and_fallback_agree_byte_for_byte(count: int) -> None:
    fallback = nodes._CryptographyBackend()
    keys = os.urandom(count * KEY_SIZE)
    plain = os.urandom(count * NODE)
    from_native = encrypt_with(native(), keys, plain)
    from_fallback = encrypt_with(fallback, keys, plain)
    assert from_native == from_fallback
    assert from_native == reference_seal(keys, plain)
    ciphertext, entries = from_native
    assert decrypt_with(fallback, entries, ciphertext) == (-1, plain)
    assert decrypt_with(native(), entries, ciphertext) == (-1, plain)


def test_more_entries_and_dst_than_needed_are_fine(backend: nodes._Backend) -> None:
    keys, plain, ciphertext, entries = sample(3, 20)
    out = bytearray(b"\x11" * (4 * NODE))
    assert backend.decrypt_nodes(entries + bytes(ENTRY), ciphertext, out) == -1
    assert out == plain + b"\x11" * NODE
    sealed = bytearray(b"\x22" * (4 * NODE))
    produced = bytearray(b"\x33" * (4 * ENTRY))
    backend.encrypt_nodes(keys + bytes(KEY_SIZE), plain, sealed, produced)
    assert sealed == ciphertext + b"\x22" * NODE
    assert produced == entries + b"\x33" * ENTRY


# -- in place (src is dst) -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["bytearray", "memoryview", "memoryview slice"])
def test_in_place_both_directions(backend: nodes._Backend, kind: str) -> None:
    keys, plain, ciphertext, entries = sample(5, 30)
    whole = bytearray(b"<" * 7 + plain + b">" * 9)
    buffer: bytearray | memoryview = memoryview(whole)[7 : 7 + len(plain)]
    if kind == "bytearray":
        buffer = whole = bytearray(plain)
    elif kind == "memoryview":
        whole = bytearray(plain)
        buffer = memoryview(whole)
    produced = bytearray(len(entries))
    backend.encrypt_nodes(keys, buffer, buffer, produced)
    assert bytes(buffer) == ciphertext
    assert produced == entries
    assert backend.decrypt_nodes(entries, buffer, buffer) == -1
    assert bytes(buffer) == plain
    if kind == "memoryview slice":
        assert whole[:7] == b"<" * 7
        assert whole[-9:] == b">" * 9


def test_in_place_failure_zeroes_the_buffer(backend: nodes._Backend) -> None:
    _, _, ciphertext, entries = sample(4, 40)
    buffer = flip(ciphertext, 2 * NODE + 100)
    assert backend.decrypt_nodes(entries, buffer, buffer) == 2
    assert buffer == bytes(len(ciphertext))


# -- failure contract ------------------------------------------------------------------------------


def damage(ciphertext: bytes, entries: bytes, node: int, what: str) -> tuple[bytes, bytes]:
    """Spoil ``node`` in one of three ways; returns the new (ciphertext, entries)."""
    if what == "ciphertext":
        return bytes(flip(ciphertext, node * NODE + 1234, 0x40)), entries
    if what == "tag":
        return ciphertext, bytes(flip(entries, node * ENTRY + KEY_SIZE + 15, 0x80))
    assert what == "key"
    return ciphertext, bytes(flip(entries, node * ENTRY + 3))


@pytest.mark.parametrize("what", ["ciphertext", "tag", "key"])
@pytest.mark.parametrize("node", [0, 3, 7])
def test_damaged_node_is_reported_and_dst_zeroed(
    backend: nodes._Backend, node: int, what: str
) -> None:
    _, _, ciphertext, entries = sample(8, 50)
    bad_ciphertext, bad_entries = damage(ciphertext, entries, node, what)
    assert decrypt_with(backend, bad_entries, bad_ciphertext) == (node, bytes(len(ciphertext)))


def test_first_of_several_damaged_nodes_is_reported(backend: nodes._Backend) -> None:
    _, _, ciphertext, entries = sample(8, 60)
    ciphertext, entries = damage(ciphertext, entries, 6, "ciphertext")
    ciphertext, entries = damage(ciphertext, entries, 2, "key")
    ciphertext, entries = damage(ciphertext, entries, 4, "tag")
    assert decrypt_with(backend, entries, ciphertext) == (2, bytes(len(ciphertext)))


def test_failure_zeroes_only_the_nodes_of_the_call(backend: nodes._Backend) -> None:
    _, _, ciphertext, entries = sample(3, 70)
    out = bytearray(b"\xee" * (3 * NODE + 100))
    assert backend.decrypt_nodes(entries, flip(ciphertext, 2 * NODE), out) == 2
    assert out == bytes(3 * NODE) + b"\xee" * 100


# -- argument validation ---------------------------------------------------------------------------


def test_sizes_are_checked_and_named(backend: nodes._Backend) -> None:
    keys, plain, ciphertext, entries = sample(2, 80)
    out = bytearray(2 * NODE)
    cases: list[tuple[str, Callable[[], object]]] = [
        ("src", lambda: backend.decrypt_nodes(entries, ciphertext[:-1], out)),
        ("src", lambda: backend.decrypt_nodes(entries, ciphertext + b"x", bytearray(3 * NODE))),
        ("entries", lambda: backend.decrypt_nodes(entries[:-1], ciphertext, out)),
        ("dst", lambda: backend.decrypt_nodes(entries, ciphertext, out[:-1])),
        ("src", lambda: backend.encrypt_nodes(keys, plain[:-1], out, bytearray(64))),
        ("entries", lambda: backend.encrypt_nodes(keys, plain, out, bytearray(63))),
        ("dst", lambda: backend.encrypt_nodes(keys, plain, bytearray(NODE), bytearray(64))),
        ("keys", lambda: backend.encrypt_nodes(keys[:-1], plain, out, bytearray(64))),
    ]
    for argument, call in cases:
        with pytest.raises(ValueError, match=f"^{argument}: "):
            call()


@needs_native
def test_read_only_outputs_are_refused_before_any_write(backend: nodes._Backend) -> None:
    keys, plain, ciphertext, entries = sample(2, 90)
    with pytest.raises(TypeError, match=r"(argument 3|dst)"):
        backend.decrypt_nodes(entries, ciphertext, bytes(2 * NODE))
    with pytest.raises(TypeError, match=r"(argument 3|dst)"):
        backend.encrypt_nodes(keys, plain, bytes(2 * NODE), bytearray(64))
    dst = bytearray(b"?" * (2 * NODE))
    with pytest.raises(TypeError, match=r"(argument 4|entries)"):
        backend.encrypt_nodes(keys, plain, dst, bytes(64))
    assert dst == b"?" * (2 * NODE)  # nothing was encrypted before the refusal


def test_memoryview_slices_as_outputs(backend: nodes._Backend) -> None:
    """Like the reader and writer do: dst and entries are windows of larger buffers."""
    keys, plain, ciphertext, entries = sample(3, 100)
    big = bytearray(b"." * (5 * NODE))
    mht = bytearray(b"#" * NODE)
    backend.encrypt_nodes(keys, plain, memoryview(big)[NODE + 5 : 4 * NODE + 5], mht_window(mht))
    assert big == b"." * (NODE + 5) + ciphertext + b"." * (NODE - 5)
    assert mht == b"#" * 64 + entries + b"#" * (NODE - 64 - len(entries))
    out = bytearray(b"*" * (5 * NODE))
    window = memoryview(out)[3 : 3 + 3 * NODE]
    sealed = memoryview(big)[NODE + 5 :][: 3 * NODE]
    assert backend.decrypt_nodes(mht_window(mht), sealed, window) == -1
    assert bytes(out) == b"*" * 3 + plain + b"*" * (2 * NODE - 3)


# -- the native module releases the GIL ------------------------------------------------------------

RUN = 96 * 8  # nodes of one large read (8 MHT groups, 3 MiB)


@needs_native
def test_native_runs_in_two_threads_at_once() -> None:
    """Two threads decrypt (and encrypt) their own runs concurrently; all results are exact."""
    good = sample(RUN, 110)
    spoilt_keys, spoilt_plain, spoilt_ct, spoilt_entries = sample(RUN, 120)
    spoilt_ct = bytes(flip(spoilt_ct, 500 * NODE + 7))
    barrier = threading.Barrier(2)
    results: dict[str, list[object]] = {"good": [], "spoilt": []}

    def work(name: str, keys: bytes, plain: bytes, ciphertext: bytes, entries: bytes) -> None:
        for _ in range(3):
            barrier.wait(timeout=30)
            results[name].append(decrypt_with(native(), entries, ciphertext))
            barrier.wait(timeout=30)
            results[name].append(encrypt_with(native(), keys, plain))

    threads = [
        threading.Thread(target=work, args=("good", *good)),
        threading.Thread(
            target=work, args=("spoilt", spoilt_keys, spoilt_plain, spoilt_ct, spoilt_entries)
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _, plain, ciphertext, entries = good
    assert results["good"] == [(-1, plain), (ciphertext, entries)] * 3
    sealed = reference_seal(spoilt_keys, spoilt_plain)
    assert results["spoilt"] == [(500, bytes(RUN * NODE)), sealed] * 3


@needs_native
def test_native_call_lets_other_threads_run_python() -> None:
    """Proof without clocks that the GIL is released during the native loop.

    The call holds a buffer export on ``dst`` from argument parsing to its return, and a
    bytearray with an export cannot be resized. So if this thread ever gets a BufferError when
    resizing ``dst``, it ran Python code while the other thread was inside the call.
    """
    _, plain, ciphertext, entries = sample(RUN, 130)
    for _ in range(100):
        dst = bytearray(len(ciphertext))
        result: list[int] = []
        done = threading.Event()

        def work(
            dst: bytearray = dst, result: list[int] = result, done: threading.Event = done
        ) -> None:
            result.append(native().decrypt_nodes(entries, ciphertext, dst))
            done.set()

        worker = threading.Thread(target=work)
        worker.start()
        overlapped = False
        while not done.is_set():
            try:
                dst.append(0)
                del dst[-1]
            except BufferError:
                overlapped = True
                break
        worker.join()
        assert result == [-1]
        assert dst[: len(plain)] == plain
        if overlapped:
            return
    pytest.fail("no Python code ran in another thread during 100 native decrypt_nodes calls")


# -- run_parallel, thread counts and scratch buffers -----------------------------------------------


def test_set_thread_count_rejects_non_positive(restore_threads: None) -> None:
    before = nodes.thread_count()
    for bad in (0, -1):
        with pytest.raises(ValueError, match="thread count"):
            nodes.set_thread_count(bad)
    assert nodes.thread_count() == before


def test_set_thread_count_applies_to_openssl_only(restore_threads: None) -> None:
    nodes.set_thread_count(3)
    assert nodes.thread_count() == (3 if nodes.BACKEND == "openssl" else 1)
    nodes.set_thread_count(1)
    assert nodes.thread_count() == 1


@pytest.mark.parametrize("threads", [1, 3])
def test_run_parallel_returns_results_in_order(restore_threads: None, threads: int) -> None:
    nodes.set_thread_count(threads)
    assert nodes.run_parallel([]) == []
    last_done = threading.Event()
    parallel = nodes.thread_count() > 1

    def job(i: int) -> int:
        if i == 0 and parallel:  # finishes after the last job: order must not come from timing
            assert last_done.wait(timeout=30)
        if i == 39:
            last_done.set()
        return i * i

    jobs = [lambda i=i: job(i) for i in range(40)]
    assert nodes.run_parallel(jobs) == [i * i for i in range(40)]


class JobFailed(Exception):
    pass


class JobLog:
    """Jobs that record which of them run now and which finished (in finishing order)."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.active: list[int] = []
        self.finished: list[int] = []

    def jobs(self, count: int, failing: set[int]) -> list[Callable[[], int]]:
        """``count`` jobs returning their index; those in ``failing`` raise ``JobFailed(i)``."""

        def job(i: int) -> int:
            with self.changed:
                self.active.append(i)
            try:
                if i in failing:
                    raise JobFailed(i)
                return i
            finally:
                with self.changed:
                    self.active.remove(i)
                    self.finished.append(i)
                    self.changed.notify_all()

        return [lambda i=i: job(i) for i in range(count)]

    def wait_finished(self, count: int) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.finished) >= count, timeout=30)


def test_run_parallel_raises_first_failure_after_all_jobs_finish(restore_threads: None) -> None:
    """Jobs 3, 7 and 10 fail, job 10 first in time; job 11 is still running after all others."""
    nodes.set_thread_count(3)
    if nodes.thread_count() < 2:
        pytest.skip("the cryptography backend runs every job in the caller (thread count 1)")
    log = JobLog()
    jobs = log.jobs(12, {3, 7, 10})
    tenth_failed = threading.Event()
    third, tenth, last = jobs[3], jobs[10], jobs[11]

    def third_after_tenth() -> int:
        assert tenth_failed.wait(timeout=30)
        return third()

    def tenth_then_signal() -> int:
        try:
            return tenth()
        finally:
            tenth_failed.set()

    def last_after_all_others() -> int:
        assert log.wait_finished(11)
        return last()

    jobs[3], jobs[10], jobs[11] = third_after_tenth, tenth_then_signal, last_after_all_others
    with pytest.raises(JobFailed) as caught:
        nodes.run_parallel(jobs)
    assert caught.value.args == (3,)
    assert log.active == []
    assert sorted(log.finished) == list(range(12))
    assert log.finished[-1] == 11


def test_run_parallel_in_the_caller_runs_every_job(restore_threads: None) -> None:
    """With one thread the jobs run in order in the caller, all of them, as with several."""
    nodes.set_thread_count(1)
    log = JobLog()
    with pytest.raises(JobFailed) as caught:
        nodes.run_parallel(log.jobs(6, {2, 4}))
    assert caught.value.args == (2,)
    assert log.active == []
    assert log.finished == [0, 1, 2, 3, 4, 5]


def test_run_parallel_nested_in_pool_jobs_does_not_deadlock(restore_threads: None) -> None:
    """Jobs that run jobs themselves (on pool threads) run those inline instead of waiting."""
    if nodes.BACKEND != "openssl":
        pytest.skip("the cryptography backend runs every job in the caller (thread count 1)")
    nodes.set_thread_count(2)
    outer_threads: list[str] = []

    def outer(i: int) -> list[int]:
        outer_threads.append(threading.current_thread().name)
        return nodes.run_parallel([lambda j=j: i * 10 + j for j in range(3)])

    result: list[list[list[int]]] = []
    worker = threading.Thread(
        target=lambda: result.append(nodes.run_parallel([lambda i=i: outer(i) for i in range(4)]))
    )
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "run_parallel deadlocked"
    assert result == [[[0, 1, 2], [10, 11, 12], [20, 21, 22], [30, 31, 32]]]
    assert any(name.startswith("teaclave-pfs") for name in outer_threads)


def test_scratch_is_reused_per_thread() -> None:
    first = nodes.scratch(100)
    assert len(first) == 100
    first[0] = 7
    again = nodes.scratch(10)
    assert len(again) == 10
    assert again[0] == 7  # same memory
    other: list[memoryview] = []

    def in_other_thread() -> None:
        view = nodes.scratch(100)
        view[0] = 9
        other.append(view)

    thread = threading.Thread(target=in_other_thread)
    thread.start()
    thread.join()
    assert other[0][0] == 9
    assert first[0] == 7


# -- whole files with 1 and 4 threads --------------------------------------------------------------

HEAD = 3072
SIZE = HEAD + NODE * 300 + 123  # data nodes 0..300: groups 0-2 complete, 13 nodes in group 3
GROUP1 = HEAD + 96 * NODE
GROUP2 = HEAD + 192 * NODE
DATA = pseudo_random(SIZE, 140)
NAME = "pfs.bin"
WRITES = {"1 thread": (1, SIZE), "4 threads": (4, SIZE), "4 threads, chunks": (4, 100_003)}


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, bytes]]:
    """``WRITES`` label -> (path, tag) of DATA written with that thread count and chunk size."""
    previous = nodes.thread_count()
    files = {}
    try:
        for label, (threads, chunk) in WRITES.items():
            nodes.set_thread_count(threads)
            path = tmp_path_factory.mktemp("written") / NAME
            with ProtectedFileWriter(path, KEY) as writer:
                for at in range(0, SIZE, chunk):
                    writer.write(memoryview(DATA)[at : at + chunk])
            assert writer.tag is not None
            files[label] = (path, writer.tag)
    finally:
        nodes.set_thread_count(previous)
    return files


@pytest.fixture(params=[1, 4], ids=["read 1 thread", "read 4 threads"])
def read_threads(request: pytest.FixtureRequest, restore_threads: None) -> int:
    nodes.set_thread_count(request.param)
    return cast(int, request.param)


@pytest.mark.parametrize("label", WRITES)
def test_written_file_parses_with_the_independent_reader(
    written: dict[str, tuple[Path, bytes]], label: str
) -> None:
    path, _ = written[label]
    raw = path.read_bytes()
    assert len(raw) == (data_node_physical(300) + 1) * NODE
    assert parse(raw, KEY).plaintext == DATA


@pytest.mark.parametrize("label", WRITES)
def test_whole_file_reads_back(
    written: dict[str, tuple[Path, bytes]], label: str, read_threads: int
) -> None:
    path, tag = written[label]
    with ProtectedFileReader(path, KEY, expected_tag=tag) as reader:
        assert reader.read() == DATA
        assert reader.read() == b""


@pytest.mark.parametrize("size", [1 << 20, 4 << 20, NODE + 1], ids=["1MiB", "4MiB", "4097"])
@pytest.mark.parametrize("label", WRITES)
def test_readinto_in_chunks(
    written: dict[str, tuple[Path, bytes]], label: str, read_threads: int, size: int
) -> None:
    path, _ = written[label]
    buffer = bytearray(size)
    pieces = []
    with ProtectedFileReader(path, KEY) as reader:
        while count := reader.readinto(buffer):
            pieces.append(bytes(buffer[:count]))
    assert b"".join(pieces) == DATA
    assert all(len(piece) == size for piece in pieces[:-1])


SEEK_READS = [
    (1, 600_000),
    (HEAD - 1, 2 * NODE + 2),
    (GROUP1 - 1, 3),
    (GROUP1 - NODE + 1, 97 * NODE + 5),
    (GROUP1 - NODE, 96 * NODE),
    (HEAD + 1, 192 * NODE + 1),
    (GROUP2 - 7, 100 * NODE),
    (GROUP1 + 12_345, -1),
    (SIZE - 130, 1000),
    (SIZE + 5, 10),
]


@pytest.mark.parametrize("label", WRITES)
def test_seek_to_odd_offsets_and_read_across_groups(
    written: dict[str, tuple[Path, bytes]], label: str, read_threads: int
) -> None:
    path, _ = written[label]
    with ProtectedFileReader(path, KEY) as reader:
        for offset, size in SEEK_READS:
            reader.seek(offset)
            end = SIZE if size < 0 else min(SIZE, offset + size)
            assert reader.read(size) == DATA[offset:end], (offset, size)
            assert reader.tell() == max(offset, end)
        # readinto a buffer that ends mid-node, from mid-node of group 0 into group 2
        reader.seek(HEAD + 5 * NODE + 77)
        buffer = bytearray(190 * NODE + 3)
        assert reader.readinto(buffer) == len(buffer)
        assert buffer == DATA[HEAD + 5 * NODE + 77 :][: len(buffer)]


def tampered_copy(source: Path, directory: Path, data_nodes: list[int]) -> Path:
    raw = bytearray(source.read_bytes())
    for index in data_nodes:
        raw[data_node_physical(index) * NODE + 2000] ^= 0x10
    path = directory / NAME
    path.write_bytes(raw)
    return path


@pytest.mark.parametrize(
    ("damaged", "named"),
    [([200], 200), ([250, 100], 100), ([290, 20], 20), ([230, 195], 195)],
)
def test_tampered_node_is_named_lowest_first(
    written: dict[str, tuple[Path, bytes]],
    tmp_path: Path,
    read_threads: int,
    damaged: list[int],
    named: int,
) -> None:
    path = tampered_copy(written["4 threads"][0], tmp_path, damaged)
    message = f"data node {named} (physical {data_node_physical(named)}): authentication"
    with (
        ProtectedFileReader(path, KEY) as reader,
        pytest.raises(IntegrityError, match=re.escape(message)),
    ):
        reader.read()


def test_failed_group_leaves_no_plaintext_in_the_buffer(
    written: dict[str, tuple[Path, bytes]], tmp_path: Path, read_threads: int
) -> None:
    path = tampered_copy(written["1 thread"][0], tmp_path, [200])
    buffer = bytearray(b"\xaa" * SIZE)
    with ProtectedFileReader(path, KEY) as reader, pytest.raises(IntegrityError, match="node 200"):
        reader.readinto(buffer)
    assert buffer[GROUP2 : GROUP2 + 96 * NODE] == bytes(96 * NODE)
    if nodes.thread_count() > 1:  # every run finished: the other groups are intact
        assert buffer[:GROUP2] == DATA[:GROUP2]
        assert buffer[GROUP2 + 96 * NODE :] == DATA[GROUP2 + 96 * NODE :]


# -- a child process forced onto the fallback ------------------------------------------------------

CHILD = """
import sys
from teaclave.crypto import ProtectedFileReader, ProtectedFileWriter, protected_fs_nodes
assert protected_fs_nodes.BACKEND == "cryptography", protected_fs_nodes.BACKEND
assert protected_fs_nodes.thread_count() == 1
source, target, key = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3])
with ProtectedFileReader(source, key, name="pfs.bin") as reader:
    data = reader.read()
with ProtectedFileWriter(target, key, name="from-child") as writer:
    writer.write(data[::-1])
print(protected_fs_nodes.BACKEND, len(data))
"""


def test_fallback_process_reads_and_writes_files_of_this_one(
    written: dict[str, tuple[Path, bytes]], tmp_path: Path
) -> None:
    source = written["4 threads"][0]
    target = tmp_path / "reversed.bin"
    env = {"TEACLAVE_PFS_BACKEND": "cryptography", "TEACLAVE_PFS_THREADS": ""}
    done = run_python(CHILD, str(source), str(target), KEY.hex(), env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["cryptography", str(SIZE)]
    with ProtectedFileReader(target, KEY, name="from-child") as reader:
        assert reader.read() == DATA[::-1]


def test_run_parallel_works_in_a_forked_child(restore_threads: None) -> None:
    """A child forked after the pool started gets a new pool instead of the parent's dead one."""
    if nodes.BACKEND != "openssl":
        pytest.skip("the cryptography backend runs every job in the caller (thread count 1)")
    nodes.set_thread_count(2)
    assert nodes.run_parallel([lambda: 1, lambda: 2, lambda: 3]) == [1, 2, 3]
    pid = os.fork()
    if pid == 0:  # the child: exit code 0 only if the jobs ran on a live pool
        code = 1
        try:
            result = nodes.run_parallel([lambda: threading.current_thread().name] * 8)
            code = 0 if any(name.startswith("teaclave-pfs") for name in result) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_an_interrupt_while_waiting_still_waits_for_every_job(restore_threads: None) -> None:
    """Ctrl-C reaching the caller while it waits: raised only once no job runs any more.

    A job that kept running after ``run_parallel`` returned could write plaintext into a file
    descriptor number that the caller has closed and something else has reused.
    """
    if nodes.BACKEND != "openssl":
        pytest.skip("the cryptography backend runs every job in the caller (thread count 1)")
    nodes.set_thread_count(2)
    main = threading.main_thread()
    running: list[int] = []
    finished: list[int] = []

    def job(i: int) -> int:
        if threading.current_thread() is main:
            return i  # the caller's lane is done at once and starts waiting
        running.append(i)
        signal.pthread_kill(main.ident or 0, signal.SIGINT)
        time.sleep(0.3)
        finished.append(i)
        running.remove(i)
        return i

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            nodes.run_parallel([lambda i=i: job(i) for i in range(4)])
        assert running == [] and finished  # the pool's job ran to its end before the raise
    finally:
        signal.signal(signal.SIGINT, previous)


def test_jobs_run_in_the_caller_when_the_pool_refuses_work() -> None:
    """During interpreter shutdown the pool takes no work: a late writer still succeeds."""
    script = """
import os, sys, threading, time
from teaclave.crypto import protected_fs_nodes as nodes
from teaclave.crypto.protected_fs import ProtectedFileReader, ProtectedFileWriter
nodes.set_thread_count(2)
path = sys.argv[1]
data = bytes(range(256)) * ((3072 + 3 * 96 * 4096) // 256)

def late() -> None:
    time.sleep(0.3)  # the main thread has returned: shutdown has begun
    with ProtectedFileWriter(path, bytes(16)) as writer:
        writer.write(data)
    with ProtectedFileReader(path, bytes(16)) as reader:
        print("same" if reader.read() == data else "different", flush=True)

threading.Thread(target=late).start()
"""
    with tempfile.TemporaryDirectory() as tmp:
        done = run_python(script, os.path.join(tmp, "late.bin"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "same", done.stderr
