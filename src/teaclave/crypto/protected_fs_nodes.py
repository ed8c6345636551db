"""AES-128-GCM over runs of ``teaclave-file-128`` nodes, and the threads that run them.

Every 4096-byte node of a protected file has its own key (zero IV, no AAD), so a node costs a
key setup plus 4 KiB of AES-GCM. Two interchangeable backends do that work:

* ``openssl``: the C module :mod:`teaclave.crypto._pfs_nodes`, built from
  ``_pfs_nodes.c`` at install time when a compiler and the OpenSSL headers are present. It
  reuses one OpenSSL cipher context for a whole run and releases the GIL, so runs of different
  MHT groups proceed in parallel threads (:func:`run_parallel`).
* ``cryptography``: one ``AESGCM`` object per node. It is correct everywhere but holds the GIL
  and pays about 2 µs of key setup per node, which caps it near 0.4 times ``openssl speed``.

:data:`BACKEND` names the one in use and :data:`BACKEND_LIBRARY` the library behind it (the
module links a static OpenSSL 3.5 with VAES / AVX-512 GCM when ``scripts/build_openssl.py``
could build one, else the system's). ``TEACLAVE_PFS_BACKEND=cryptography`` forces the fallback
(the tests run both and compare them byte for byte); ``TEACLAVE_PFS_THREADS=N`` sets the thread
count (default: the CPUs this process may use, at most 4; always 1 for the fallback).

Both functions take ``entries`` in the layout of an MHT node: per node, key (16) ‖ tag (16).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

__all__ = [
    "BACKEND",
    "BACKEND_LIBRARY",
    "MAX_THREADS",
    "decrypt_nodes",
    "encrypt_nodes",
    "run_parallel",
    "scratch",
    "set_thread_count",
    "thread_count",
]

NODE_SIZE = 4096
ENTRY_SIZE = 32
KEY_SIZE = 16
MAX_THREADS = 4
_ZERO_IV = bytes(12)

T = TypeVar("T")


class _Backend(Protocol):
    def decrypt_nodes(
        self, entries: ReadableBuffer, src: ReadableBuffer, dst: WriteableBuffer, /
    ) -> int: ...

    def encrypt_nodes(
        self,
        keys: ReadableBuffer,
        src: ReadableBuffer,
        dst: WriteableBuffer,
        entries: WriteableBuffer,
        /,
    ) -> None: ...


def _check_sizes(entries: memoryview, src: memoryview, dst: memoryview) -> int:
    if len(src) % NODE_SIZE:
        raise ValueError(f"src: {len(src)} bytes is not a multiple of {NODE_SIZE}")
    count = len(src) // NODE_SIZE
    if len(entries) < count * ENTRY_SIZE:
        raise ValueError(f"entries: {len(entries)} bytes, {count} nodes need {count * ENTRY_SIZE}")
    if len(dst) < count * NODE_SIZE:
        raise ValueError(f"dst: {len(dst)} bytes, {count} nodes need {count * NODE_SIZE}")
    return count


def _bytes_view(buffer: ReadableBuffer, name: str, writable: bool = False) -> memoryview:
    view = memoryview(buffer)
    if not view.contiguous:
        raise BufferError(f"{name}: must be a contiguous buffer")
    if writable and view.readonly:
        raise TypeError(f"{name}: must be a writable bytes-like object, not read-only")
    return view.cast("B")


class _CryptographyBackend:
    """The same contract as ``_pfs_nodes``, one ``AESGCM`` object per node."""

    @staticmethod
    def decrypt_nodes(entries: ReadableBuffer, src: ReadableBuffer, dst: WriteableBuffer, /) -> int:
        e, s = _bytes_view(entries, "entries"), _bytes_view(src, "src")
        d = _bytes_view(dst, "dst", writable=True)
        count = _check_sizes(e, s, d)
        slot = memoryview(bytearray(NODE_SIZE + 16))
        for i in range(count):
            at = i * NODE_SIZE
            entry = i * ENTRY_SIZE
            slot[:NODE_SIZE] = s[at : at + NODE_SIZE]  # src and dst may be the same buffer
            slot[NODE_SIZE:] = e[entry + KEY_SIZE : entry + ENTRY_SIZE]
            try:
                AESGCM(e[entry : entry + KEY_SIZE]).decrypt_into(
                    _ZERO_IV, slot, None, d[at : at + NODE_SIZE]
                )
            except InvalidTag:
                d[: count * NODE_SIZE] = bytes(count * NODE_SIZE)
                return i
        return -1

    @staticmethod
    def encrypt_nodes(
        keys: ReadableBuffer,
        src: ReadableBuffer,
        dst: WriteableBuffer,
        entries: WriteableBuffer,
        /,
    ) -> None:
        k, s = _bytes_view(keys, "keys"), _bytes_view(src, "src")
        d, e = _bytes_view(dst, "dst", writable=True), _bytes_view(entries, "entries", True)
        count = _check_sizes(e, s, d)
        if len(k) < count * KEY_SIZE:
            raise ValueError(f"keys: {len(k)} bytes, {count} nodes need {count * KEY_SIZE}")
        slot = memoryview(bytearray(NODE_SIZE + 16))
        for i in range(count):
            at = i * NODE_SIZE
            key = k[i * KEY_SIZE : (i + 1) * KEY_SIZE]
            AESGCM(key).encrypt_into(_ZERO_IV, s[at : at + NODE_SIZE], None, slot)
            d[at : at + NODE_SIZE] = slot[:NODE_SIZE]
            entry = i * ENTRY_SIZE
            e[entry : entry + KEY_SIZE] = key
            e[entry + KEY_SIZE : entry + ENTRY_SIZE] = slot[NODE_SIZE:]


def _load_backend() -> tuple[str, _Backend]:
    if os.environ.get("TEACLAVE_PFS_BACKEND", "") == "cryptography":
        return "cryptography", _CryptographyBackend()
    try:
        from . import _pfs_nodes  # type: ignore[attr-defined]
    except ImportError:
        return "cryptography", _CryptographyBackend()
    return "openssl", cast(_Backend, _pfs_nodes)


BACKEND, _backend = _load_backend()


def _describe_backend() -> str:
    if BACKEND == "cryptography":
        import cryptography

        return f"cryptography {cryptography.__version__}"
    native = cast(Any, _backend)
    where = "bundled, static" if native.STATIC_OPENSSL else "system"
    return f"{native.openssl_version()} ({where})"


#: What does the node work, e.g. ``"OpenSSL 3.5.7 9 Jun 2026 (bundled, static)"``.
BACKEND_LIBRARY = _describe_backend()


def decrypt_nodes(entries: ReadableBuffer, src: ReadableBuffer, dst: WriteableBuffer) -> int:
    """Decrypt ``len(src) // 4096`` nodes from ``src`` into ``dst`` (which may be ``src``).

    Node ``i`` uses key ``entries[32i : 32i + 16]`` and tag ``entries[32i + 16 : 32i + 32]``.
    Returns -1 when all authenticated; otherwise the index of the first node that did not, and
    ``dst`` (its first ``len(src)`` bytes) is zeroed. Raises :class:`ValueError` on bad sizes.
    """
    return _backend.decrypt_nodes(entries, src, dst)


def encrypt_nodes(
    keys: ReadableBuffer, src: ReadableBuffer, dst: WriteableBuffer, entries: WriteableBuffer
) -> None:
    """Encrypt ``len(src) // 4096`` nodes into ``dst`` (which may be ``src``).

    Node ``i`` is encrypted under ``keys[16i : 16i + 16]``; its key ‖ tag goes to
    ``entries[32i : 32i + 32]``. Raises :class:`ValueError` on bad sizes.
    """
    _backend.encrypt_nodes(keys, src, dst, entries)


def _configured_threads() -> int:
    if BACKEND != "openssl":
        return 1
    configured = os.environ.get("TEACLAVE_PFS_THREADS", "")
    if configured:
        try:
            value = int(configured)
        except ValueError:
            raise ValueError(
                f"TEACLAVE_PFS_THREADS: expected a positive integer, got {configured!r}"
            ) from None
        if value < 1:
            raise ValueError(f"TEACLAVE_PFS_THREADS: expected a positive integer, got {value}")
        return value
    return max(1, min(MAX_THREADS, len(os.sched_getaffinity(0))))


_POOL_PREFIX = "teaclave-pfs"
_threads = _configured_threads()
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_local = threading.local()


def thread_count() -> int:
    """How many threads :func:`run_parallel` uses (1: everything runs in the caller)."""
    return _threads


def set_thread_count(count: int) -> None:
    """Use ``count`` threads from now on (the ``cryptography`` backend always uses 1).

    Meant for start-up configuration and benchmarks, not for use while files are open. The
    per-thread :func:`scratch` buffers are dropped too.
    """
    global _threads, _pool, _local
    if count < 1:
        raise ValueError(f"thread count: expected a positive integer, got {count}")
    with _pool_lock:
        _threads = count if BACKEND == "openssl" else 1
        old, _pool = _pool, None
        _local = threading.local()
    if old is not None:
        old.shutdown(wait=True)


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=max(1, _threads - 1), thread_name_prefix=_POOL_PREFIX
            )
        return _pool


def _forget_pool_after_fork() -> None:
    """A forked child has none of the parent's pool threads: start afresh when needed."""
    global _pool, _pool_lock, _local
    _pool = None
    _pool_lock = threading.Lock()
    _local = threading.local()


os.register_at_fork(after_in_child=_forget_pool_after_fork)


def run_parallel(jobs: Sequence[Callable[[], T]], max_lanes: int | None = None) -> list[T]:
    """Run ``jobs`` (independent, thread-safe) and return their results in order.

    The caller and up to ``thread_count() - 1`` pool threads take jobs from one shared queue,
    so at most ``thread_count()`` run at once; at most ``max_lanes`` when given (a caller that
    keeps another thread busy meanwhile leaves it its CPU). Every job runs to its end, even
    after another failed, and then the first exception in job order is raised. Whatever
    happens in the caller (an exception, a ``KeyboardInterrupt``), it returns or raises only
    once no job is running, so no job still reads or writes when the caller cleans up. Called
    from a pool thread (a job that itself runs jobs), with one lane, or when the pool cannot
    take work (interpreter shutdown), the caller runs every job itself.
    """
    count = min(_threads, len(jobs), _threads if max_lanes is None else max(1, max_lanes))
    if count <= 1 or threading.current_thread().name.startswith(_POOL_PREFIX):
        return _run_inline(jobs)
    results: list[T | None] = [None] * len(jobs)
    errors: list[BaseException | None] = [None] * len(jobs)
    order = itertools.count()  # next() on a count is atomic under the GIL
    lanes = _Lanes()

    def run_jobs() -> None:
        while not lanes.stop and (i := next(order)) < len(jobs):
            try:
                results[i] = jobs[i]()
            except Exception as exc:  # an interrupt ends the lane (and the call) instead
                errors[i] = exc

    helpers: list[Future[None]] = []
    try:
        with contextlib.suppress(RuntimeError):  # shutting down, or no thread to be had
            for _ in range(count - 1):
                helpers.append(_get_pool().submit(lanes.helper, run_jobs))
        run_jobs()
    except BaseException:
        lanes.stop = True  # helpers finish the job in hand and take no other
        lanes.wait_idle(helpers)
        raise
    lanes.wait_idle(helpers)
    if lanes.failures:
        raise lanes.failures[0]  # a BaseException that ended a helper lane
    for error in errors:
        if error is not None:
            raise error
    return cast(list[T], results)


def _run_inline(jobs: Sequence[Callable[[], T]]) -> list[T]:
    """:func:`run_parallel` in the caller alone: every job, then the first error."""
    results: list[T] = []
    error: Exception | None = None
    for job in jobs:
        try:
            results.append(job())
        except Exception as exc:  # an interrupt ends the call instead
            error = error or exc
    if error is not None:
        raise error
    return results


class _Lanes:
    """The helper lanes of one :func:`run_parallel` call: how many run, and a stop flag.

    A helper counts itself in before it looks for a job, so once :meth:`wait_idle` has seen
    none running, a helper that starts later finds the jobs taken or ``stop`` set and does
    nothing.
    """

    def __init__(self) -> None:
        self.stop = False
        self.active = 0
        self.failures: list[BaseException] = []
        self.cond = threading.Condition()

    def helper(self, run_jobs: Callable[[], None]) -> None:
        """A pool thread's lane."""
        with self.cond:
            self.active += 1
        try:
            run_jobs()
        except BaseException as exc:
            self.failures.append(exc)
        finally:
            with self.cond:
                self.active -= 1
                self.cond.notify_all()

    def wait_idle(self, helpers: list[Future[None]]) -> None:
        """Return once no helper runs; an interrupt meanwhile is raised after that."""
        for helper in helpers:
            helper.cancel()  # one still queued behind other work need not start at all
        interrupted: BaseException | None = None
        while True:
            try:
                with self.cond:
                    self.cond.wait_for(lambda: self.active == 0)
            except BaseException as exc:  # e.g. KeyboardInterrupt: keep waiting
                interrupted = interrupted or exc
                continue
            break
        if interrupted is not None:
            raise interrupted


def scratch(size: int) -> memoryview:
    """A per-thread reusable buffer of at least ``size`` bytes (a view of exactly ``size``)."""
    buffer: bytearray | None = getattr(_local, "buffer", None)
    if buffer is None or len(buffer) < size:
        buffer = bytearray(size)
        _local.buffer = buffer
    return memoryview(buffer)[:size]
