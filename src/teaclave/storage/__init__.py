"""Key-value and FIFO-queue backends behind one interface.

``SqliteStore`` (the embedded default: one SQLite file in WAL mode) and ``MemoryStore`` (for
unit tests) implement ``KeyValueStore``. The storage service exposes a store over gRPC.
"""

from teaclave.storage.base import KeyValueStore
from teaclave.storage.memory import MemoryStore
from teaclave.storage.sqlite import SqliteStore

__all__ = ["KeyValueStore", "MemoryStore", "SqliteStore"]
