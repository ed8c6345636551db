"""SQLite backend: one database file in WAL mode.

``synchronous=NORMAL`` in WAL mode makes every committed write survive a crash (``kill -9``)
of the process; only a power loss can drop the last commits. Set ``durable=True`` for
``synchronous=FULL`` when that matters more than write throughput.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from teaclave.storage.base import KeyValueStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queue (
    name BLOB NOT NULL, seq INTEGER NOT NULL, value BLOB NOT NULL, PRIMARY KEY (name, seq)
) WITHOUT ROWID;
"""


def _prefix_end(prefix: bytes) -> bytes | None:
    """Smallest byte string greater than every string starting with ``prefix``."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


class SqliteStore(KeyValueStore):
    """A ``KeyValueStore`` in one SQLite file (created with its directory on first use)."""

    def __init__(self, path: str | Path, *, durable: bool = False) -> None:
        super().__init__()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self._db.executescript(_SCHEMA)

    def get(self, key: bytes) -> bytes | None:
        """The value at ``key`` or None."""
        with self._lock:
            row = self._db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def put(self, key: bytes, value: bytes) -> None:
        """Store ``value`` at ``key`` (one committed transaction)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO kv (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def delete(self, key: bytes) -> None:
        """Remove ``key`` if present."""
        with self._lock:
            self._db.execute("DELETE FROM kv WHERE key = ?", (key,))

    def keys_with_prefix(self, prefix: bytes) -> list[bytes]:
        """Keys starting with ``prefix`` in byte order (an index range scan)."""
        end = _prefix_end(prefix)
        with self._lock:
            if end is None:
                rows = self._db.execute(
                    "SELECT key FROM kv WHERE key >= ? ORDER BY key", (prefix,)
                ).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT key FROM kv WHERE key >= ? AND key < ? ORDER BY key", (prefix, end)
                ).fetchall()
        return [bytes(r[0]) for r in rows]

    def _enqueue(self, queue: bytes, value: bytes) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO queue (name, seq, value) VALUES "
                "(?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM queue WHERE name = ?), ?)",
                (queue, queue, value),
            )

    def _dequeue(self, queue: bytes) -> bytes | None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT seq, value FROM queue WHERE name = ? ORDER BY seq LIMIT 1", (queue,)
                ).fetchone()
                if row is not None:
                    self._db.execute(
                        "DELETE FROM queue WHERE name = ? AND seq = ?", (queue, row[0])
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return None if row is None else bytes(row[1])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
