"""``TeaclaveStorage``: Get/Put/Delete, FIFO queues and prefix listing over a backend.

Differences from Teaclave, wire-compatible: state is durable (SQLite in the state directory),
errors say what failed (NOT_FOUND "key not found: ...", INVALID_ARGUMENT for an empty key)
instead of INTERNAL "invalid response", ``GetKeysByPrefix`` never returns a non-matching key,
and ``Dequeue`` may long-poll when the caller sends ``x-teaclave-wait-ms`` metadata.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
from teaclave.types.errors import InvalidArgument, NotFound, TeaclaveError

DATABASE_FILE = "storage.sqlite"


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

    def get(self, request: pb.GetRequest, ctx: CallContext) -> pb.GetResponse:
        """Value at ``key``; NOT_FOUND when absent."""
        key = _key(request.key)
        value = self.store.get(key)
        if value is None:
            raise NotFound(f"key not found: {key.decode(errors='replace')}")
        return pb.GetResponse(value=value)

    def put(self, request: pb.PutRequest, ctx: CallContext) -> empty_pb2.Empty:
        """Store ``value`` at ``key`` (empty values allowed)."""
        self.store.put(_key(request.key), request.value)
        return empty_pb2.Empty()

    def delete(self, request: pb.DeleteRequest, ctx: CallContext) -> empty_pb2.Empty:
        """Remove ``key`` (a missing key is not an error)."""
        self.store.delete(_key(request.key))
        return empty_pb2.Empty()

    def enqueue(self, request: pb.EnqueueRequest, ctx: CallContext) -> empty_pb2.Empty:
        """Append ``value`` to queue ``key``."""
        self.store.enqueue(_key(request.key), request.value)
        return empty_pb2.Empty()

    def dequeue(self, request: pb.DequeueRequest, ctx: CallContext) -> pb.DequeueResponse:
        """Pop the head of queue ``key``; NOT_FOUND when empty (after the optional wait)."""
        key = _key(request.key)
        value = self.store.dequeue(key, ctx.wait_secs)
        if value is None:
            raise NotFound(f"queue is empty: {key.decode(errors='replace')}")
        return pb.DequeueResponse(value=value)

    def get_keys_by_prefix(
        self, request: pb.GetKeysByPrefixRequest, ctx: CallContext
    ) -> pb.GetKeysByPrefixResponse:
        """Keys of the form ``<prefix>-...`` in byte order (Teaclave's prefix convention)."""
        prefix = _key(request.prefix, "prefix")
        return pb.GetKeysByPrefixResponse(keys=self.store.keys_with_prefix(prefix + b"-"))


class _StoreCloser:
    def __init__(self, store: KeyValueStore) -> None:
        self.store = store

    def stop(self, grace: float | None) -> None:
        self.store.close()


def start_service(config: RuntimeConfig, enclave: Enclave) -> Sequence[Stoppable]:
    """Open the database in the state directory and serve the internal endpoint."""
    store = SqliteStore(Path(config.state_dir) / DATABASE_FILE)
    identity, verifier = service_identity(config, STORAGE)
    endpoint = config.internal_endpoints["storage"]
    server, _ = serve(
        StorageService(store),
        endpoint.listen_address,
        identity,
        verifier,
        inbound=INBOUND["storage"],
    )
    return [_StoreCloser(store), server]
