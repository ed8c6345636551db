"""The authentication service's private user database.

One SQLite file, ``<state_dir>/authentication.sqlite`` (``teaclave.storage.SqliteStore``):
key = user id (UTF-8 bytes), value = JSON ``{"id", "role", "password_hash"}`` where ``role``
is the role's string form (``DataOwner-bank1``) and ``password_hash`` an argon2id encoded hash.
Compound operations (create-if-absent, conditional update/delete) run under one lock; nothing
slow (password hashing) ever runs inside it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from teaclave.storage import KeyValueStore, SqliteStore
from teaclave.types.roles import UserRole

DATABASE_FILE = "authentication.sqlite"


class UserExists(Exception):
    """``create`` found a user with that id."""


class UserMissing(Exception):
    """The user to update or delete does not exist."""


@dataclass(frozen=True, slots=True)
class UserInfo:
    """One account: id, role and argon2id password hash (never the password)."""

    id: str
    role: UserRole
    password_hash: str

    def to_bytes(self) -> bytes:
        """The stored JSON form."""
        record = {"id": self.id, "role": str(self.role), "password_hash": self.password_hash}
        return json.dumps(record, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> UserInfo:
        """Decode the stored JSON form; ``ValueError`` if it is malformed."""
        record = json.loads(data)
        if not isinstance(record, dict):
            raise ValueError("user record is not a JSON object")
        fields = [record.get(k) for k in ("id", "role", "password_hash")]
        if not all(isinstance(f, str) for f in fields):
            raise ValueError("user record lacks id, role or password_hash")
        user_id, role, password_hash = (str(f) for f in fields)
        return cls(user_id, UserRole.parse(role), password_hash)


Check = Callable[[UserInfo], None]


class UserDb:
    """Users by id over a ``KeyValueStore``; safe to share between threads."""

    def __init__(self, store: KeyValueStore) -> None:
        self.store = store
        self._lock = threading.Lock()

    @classmethod
    def open(cls, state_dir: str | Path) -> UserDb:
        """Open (creating if needed) ``<state_dir>/authentication.sqlite``."""
        return cls(SqliteStore(Path(state_dir) / DATABASE_FILE))

    def get(self, user_id: str) -> UserInfo | None:
        """The user ``user_id`` or None."""
        if not user_id:
            return None
        data = self.store.get(user_id.encode())
        return None if data is None else UserInfo.from_bytes(data)

    def exists(self, user_id: str) -> bool:
        """True if ``user_id`` is a user."""
        return bool(user_id) and self.store.get(user_id.encode()) is not None

    def create(self, user: UserInfo) -> None:
        """Add ``user``; ``UserExists`` if the id is taken."""
        key = user.id.encode()
        with self._lock:
            if self.store.get(key) is not None:
                raise UserExists(user.id)
            self.store.put(key, user.to_bytes())

    def update(self, user: UserInfo, check: Check | None = None) -> UserInfo:
        """Replace the record of ``user.id``; returns the record it replaced.

        ``UserMissing`` if absent. ``check(current)`` may raise to abort; it runs under the
        lock, so the decision and the write see the same record.
        """
        key = user.id.encode()
        with self._lock:
            current = self._current(key)
            if check is not None:
                check(current)
            self.store.put(key, user.to_bytes())
        return current

    def set_password_hash(
        self, user_id: str, password_hash: str, expect_hash: str | None = None
    ) -> bool:
        """Replace only the password hash of ``user_id``, keeping its role.

        With ``expect_hash`` the write happens only if the stored hash is still that one
        (returns False otherwise). ``UserMissing`` if the user is gone.
        """
        key = user_id.encode()
        with self._lock:
            current = self._current(key)
            if expect_hash is not None and current.password_hash != expect_hash:
                return False
            self.store.put(key, replace(current, password_hash=password_hash).to_bytes())
        return True

    def delete(self, user_id: str, check: Check | None = None) -> None:
        """Remove ``user_id``; ``UserMissing`` if absent; ``check`` as for ``update``."""
        key = user_id.encode()
        with self._lock:
            current = self._current(key)
            if check is not None:
                check(current)
            self.store.delete(key)

    def list_ids(self) -> list[str]:
        """Every user id, in byte order."""
        return [k.decode() for k in self.store.keys_with_prefix(b"")]

    def list_users(self) -> list[UserInfo]:
        """Every user record, in id byte order (skipping records deleted meanwhile)."""
        users = []
        for user_id in self.list_ids():
            user = self.get(user_id)
            if user is not None:
                users.append(user)
        return users

    def close(self) -> None:
        """Close the underlying store."""
        self.store.close()

    def _current(self, key: bytes) -> UserInfo:
        data = self.store.get(key)
        if data is None:
            raise UserMissing(key.decode(errors="replace"))
        return UserInfo.from_bytes(data)
