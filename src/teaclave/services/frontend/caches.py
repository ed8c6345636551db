"""Short-lived caches that spare the frontend two internal round trips per call.

* Access-control decisions depend only on (role, api) and the ACL is a build-time table, so
  they are cached for the life of the process.
* Credential checks are cached for ``ttl`` seconds (``frontend.credential_cache_secs``, never
  past the token's ``exp``); a deleted user's token therefore keeps working for at most that
  long. ``ttl = 0`` disables the cache.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from teaclave.rpc.clients.authentication import UserAuthClaims

K = TypeVar("K")
V = TypeVar("V")

MAX_ENTRIES = 10_000


class _Bounded(Generic[K, V]):
    """A thread-safe LRU map with a size bound."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[K, V] = OrderedDict()
        self._max = max_entries

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._max:
                self._items.popitem(last=False)

    def pop(self, key: K) -> None:
        with self._lock:
            self._items.pop(key, None)


class AclCache:
    """Memoizes ``authorize(role, api)``; only answers actually received are cached."""

    def __init__(self, authorize: Callable[[str, str], bool]) -> None:
        self._authorize = authorize
        self._cache: _Bounded[tuple[str, str], bool] = _Bounded()

    def allowed(self, role: str, api: str) -> bool:
        """Whether ``role`` may call ``api``."""
        cached = self._cache.get((role, api))
        if cached is not None:
            return cached
        answer = self._authorize(role, api)
        self._cache.put((role, api), answer)
        return answer


class CredentialCache:
    """Memoizes successful credential checks for ``ttl`` seconds (failures are not cached)."""

    def __init__(self, authenticate: Callable[[str, str], UserAuthClaims], ttl: float) -> None:
        self._authenticate = authenticate
        self._ttl = ttl
        self._cache: _Bounded[tuple[str, bytes], tuple[UserAuthClaims, float]] = _Bounded()

    def claims(self, user_id: str, token: str) -> UserAuthClaims:
        """The claims of a valid credential (raises what ``authenticate`` raises)."""
        if self._ttl <= 0:
            return self._authenticate(user_id, token)
        key = (user_id, hashlib.sha256(token.encode()).digest())
        now = time.time()
        cached = self._cache.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        claims = self._authenticate(user_id, token)
        expires = min(now + self._ttl, float(claims.exp))
        if expires > now:
            self._cache.put(key, (claims, expires))
        return claims
