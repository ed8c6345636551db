"""``TeaclaveStorage``: Get/Put/Delete, FIFO queues and prefix listing over a backend.

Differences from Teaclave, wire-compatible: state is durable (SQLite in the state directory),
errors say what failed (NOT_FOUND "key not found: ...", INVALID_ARGUMENT for an empty key)
instead of INTERNAL "invalid response", ``GetKeysByPrefix`` never returns a non-matching key,
``Dequeue`` may long-poll when the caller sends ``x-teaclave-wait-ms`` metadata, and ``Get``
can watch a key for a change (``x-teaclave-if-none-match``).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import empty_pb2

from teaclave.binder import Enclave
from teaclave.config import INBOUND, RuntimeConfig
from teaclave.config.build import STORAGE
from teaclave.proto import teaclave_storage_service_pb2 as pb
from teaclave.rpc import CallContext, teaclave_service
from teaclave.rpc.apis import TeaclaveStorage
from teaclave.rpc.server import serve
from teaclave.services.launcher import Stoppable, service_identity
from teaclave.storage import KeyValueStore, SqliteStore
from teaclave.storage.sealed import DATA_KEY_LABEL, KEY_FILE, open_sealed_store
from teaclave.tee import Sealer, get_platform
from teaclave.types.errors import InvalidArgument, NotFound, TeaclaveError

DATABASE_FILE = "storage.sqlite"
#: How often a long poll checks whether its client or the service has gone.
POLL_SLICE_SECS = 0.2
#: Metadata of a watching ``Get``: SHA-256 (hex) of the value the caller already has
#: (``absent`` for none).
IF_NONE_MATCH_METADATA = "x-teaclave-if-none-match"


def value_digest(value: bytes | None) -> str:
    """What a watcher sends in ``x-teaclave-if-none-match`` for ``value``."""
    return "absent" if value is None else hashlib.sha256(value).hexdigest()


class StorageError(TeaclaveError):
    """Errors of the storage service."""


def _key(value: bytes, field: str = "key") -> bytes:
    if not value:
        raise InvalidArgument(f"{field}: empty")
    return bytes(value)


@teaclave_service(STORAGE, TeaclaveStorage, StorageError)
@dataclass
class StorageService:
    """The storage service over any ``KeyValueStore``."""

    store: KeyValueStore
    _closing: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _waits: threading.Condition = field(default_factory=threading.Condition, init=False, repr=False)
    _waiting: int = field(default=0, init=False, repr=False)
    _changed: threading.Condition = field(
        default_factory=threading.Condition, init=False, repr=False
    )

    def get(self, request: pb.GetRequest, ctx: CallContext) -> pb.GetResponse:
        """Value at ``key``; NOT_FOUND when absent.

        A watch (teaclave-py extension): with ``x-teaclave-if-none-match: <SHA-256 hex of the
        value the caller has, or "absent">`` and ``x-teaclave-wait-ms`` metadata, the call waits
        until the stored value differs from that one (or the wait ends), then answers.
        """
        key = _key(request.key)
        value = self.store.get(key)
        match = ctx.metadata.get(IF_NONE_MATCH_METADATA, "")
        if match and ctx.wait_secs > 0 and value_digest(value) == match:
            value = self._wait_for_change(key, match, ctx)
        if value is None:
            raise NotFound(f"key not found: {key.decode(errors='replace')}")
        return pb.GetResponse(value=value)

    def _wait_for_change(self, key: bytes, match: str, ctx: CallContext) -> bytes | None:
        deadline = time.monotonic() + ctx.wait_secs
        with self._waits:
            self._waiting += 1
        try:
            with self._changed:
                while True:
                    value = self.store.get(key)
                    remaining = deadline - time.monotonic()
                    if (
                        value_digest(value) != match
                        or remaining <= 0
                        or not ctx.is_active()
                        or self._closing.is_set()
                    ):
                        return value
                    self._changed.wait(min(remaining, POLL_SLICE_SECS))
        finally:
            with self._waits:
                self._waiting -= 1
                self._waits.notify_all()

    def put(self, request: pb.PutRequest, ctx: CallContext) -> empty_pb2.Empty:
        """Store ``value`` at ``key`` (empty values allowed)."""
        self.store.put(_key(request.key), request.value)
        self._notify_change()
        return empty_pb2.Empty()

    def delete(self, request: pb.DeleteRequest, ctx: CallContext) -> empty_pb2.Empty:
        """Remove ``key`` (a missing key is not an error)."""
        self.store.delete(_key(request.key))
        self._notify_change()
        return empty_pb2.Empty()

    def _notify_change(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def enqueue(self, request: pb.EnqueueRequest, ctx: CallContext) -> empty_pb2.Empty:
        """Append ``value`` to queue ``key``."""
        self.store.enqueue(_key(request.key), request.value)
        return empty_pb2.Empty()

    def dequeue(self, request: pb.DequeueRequest, ctx: CallContext) -> pb.DequeueResponse:
        """Pop the head of queue ``key``; NOT_FOUND when empty (after the optional wait).

        A long poll waits in short slices so that it ends soon after the client goes away or
        the service closes, instead of holding a server thread for the whole wait.
        """
        key = _key(request.key)
        deadline = time.monotonic() + ctx.wait_secs

        def still_wanted() -> bool:
            # A departed client must not take an item it can no longer be sent.
            return ctx.is_active() and not self._closing.is_set()

        with self._waits:
            self._waiting += 1
        try:
            while True:
                remaining = deadline - time.monotonic()
                value = self.store.dequeue(
                    key, max(0.0, min(remaining, POLL_SLICE_SECS)), still_wanted
                )
                if value is not None:
                    return pb.DequeueResponse(value=value)
                if time.monotonic() >= deadline or not still_wanted():
                    raise NotFound(f"queue is empty: {key.decode(errors='replace')}")
        finally:
            with self._waits:
                self._waiting -= 1
                self._waits.notify_all()

    def get_keys_by_prefix(
        self, request: pb.GetKeysByPrefixRequest, ctx: CallContext
    ) -> pb.GetKeysByPrefixResponse:
        """Keys of the form ``<prefix>-...`` in byte order (Teaclave's prefix convention)."""
        prefix = _key(request.prefix, "prefix")
        return pb.GetKeysByPrefixResponse(keys=self.store.keys_with_prefix(prefix + b"-"))

    def close(self, timeout: float = 5.0) -> None:
        """End long polls, wait (up to ``timeout``) for calls using the store, close it."""
        self._closing.set()
        with self._waits:
            self._waits.wait_for(lambda: self._waiting == 0, timeout)
        self.store.close()


class _StoreCloser:
    def __init__(self, service: StorageService) -> None:
        self.service = service

    def stop(self, grace: float | None) -> None:
        self.service.close()


def start_service(config: RuntimeConfig, enclave: Enclave) -> Sequence[Stoppable]:
    """Open the database in the state directory and serve the internal endpoint."""
    platform = get_platform(config.attestation.platform, config.state_dir)
    sealer = Sealer(platform.sealing_key(STORAGE, DATA_KEY_LABEL))
    store = open_sealed_store(
        SqliteStore(Path(config.state_dir) / DATABASE_FILE),
        sealer,
        Path(config.state_dir) / KEY_FILE,
    )
    service = StorageService(store)
    try:
        identity, verifier = service_identity(config, STORAGE)
        endpoint = config.internal_endpoints["storage"]
        server, _ = serve(
            service,
            endpoint.listen_address,
            identity,
            verifier,
            inbound=INBOUND["storage"],
        )
    except BaseException:
        store.close()
        raise
    return [_StoreCloser(service), server]
