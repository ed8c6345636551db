"""In-memory backend (tests, throw-away platforms)."""

from __future__ import annotations

import bisect
import threading
from collections import deque

from teaclave.storage.base import KeyValueStore


class MemoryStore(KeyValueStore):
    """A ``KeyValueStore`` kept in dictionaries; nothing survives the process."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._data: dict[bytes, bytes] = {}
        self._keys: list[bytes] = []
        self._queues: dict[bytes, deque[bytes]] = {}

    def get(self, key: bytes) -> bytes | None:
        """The value at ``key`` or None."""
        with self._lock:
            return self._data.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        """Store ``value`` at ``key``."""
        with self._lock:
            if key not in self._data:
                bisect.insort(self._keys, key)
            self._data[key] = bytes(value)

    def delete(self, key: bytes) -> None:
        """Remove ``key`` if present."""
        with self._lock:
            if self._data.pop(key, None) is not None:
                self._keys.remove(key)

    def keys_with_prefix(self, prefix: bytes) -> list[bytes]:
        """Keys starting with ``prefix`` in byte order."""
        with self._lock:
            start = bisect.bisect_left(self._keys, prefix)
            out = []
            for key in self._keys[start:]:
                if not key.startswith(prefix):
                    break
                out.append(key)
            return out

    def _enqueue(self, queue: bytes, value: bytes) -> None:
        with self._lock:
            self._queues.setdefault(queue, deque()).append(bytes(value))

    def _dequeue(self, queue: bytes) -> bytes | None:
        with self._lock:
            items = self._queues.get(queue)
            return items.popleft() if items else None

    def close(self) -> None:
        """Nothing to release."""
