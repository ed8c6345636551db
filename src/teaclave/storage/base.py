"""The backend interface and the blocking-dequeue logic every backend shares."""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Callable


class KeyValueStore(abc.ABC):
    """Byte keys to byte values, plus named FIFO queues; safe to share between threads.

    A write has returned only once it is durable against a crash of the process.
    """

    def __init__(self) -> None:
        self._queue_changed = threading.Condition()

    @abc.abstractmethod
    def get(self, key: bytes) -> bytes | None:
        """The value stored at ``key``, or None."""

    @abc.abstractmethod
    def put(self, key: bytes, value: bytes) -> None:
        """Store ``value`` at ``key`` (replacing any value)."""

    @abc.abstractmethod
    def delete(self, key: bytes) -> None:
        """Remove ``key``; removing a missing key succeeds."""

    @abc.abstractmethod
    def keys_with_prefix(self, prefix: bytes) -> list[bytes]:
        """All keys starting with ``prefix``, in byte order."""

    @abc.abstractmethod
    def _enqueue(self, queue: bytes, value: bytes) -> None:
        """Append to ``queue`` (backend part, no notification)."""

    @abc.abstractmethod
    def _dequeue(self, queue: bytes) -> bytes | None:
        """Pop the head of ``queue`` or None (backend part)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the backend."""

    def enqueue(self, queue: bytes, value: bytes) -> None:
        """Append ``value`` to ``queue`` and wake any waiting dequeuer."""
        self._enqueue(queue, value)
        with self._queue_changed:
            self._queue_changed.notify_all()

    def dequeue(
        self,
        queue: bytes,
        wait_secs: float = 0.0,
        still_wanted: Callable[[], bool] | None = None,
    ) -> bytes | None:
        """Pop the head of ``queue``; wait up to ``wait_secs`` for one to arrive.

        ``still_wanted`` is asked before popping after a wait: a caller that has gone away
        (a cancelled long poll) must not take a value it can no longer deliver.
        """
        deadline = time.monotonic() + wait_secs
        while True:
            with self._queue_changed:
                if still_wanted is not None and not still_wanted():
                    return None
                value = self._dequeue(queue)
                if value is not None:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._queue_changed.wait(min(remaining, 1.0))
