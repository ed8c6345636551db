"""Client of the storage service (used by management and the scheduler)."""

from __future__ import annotations

import hashlib
from typing import Any

from google.protobuf import empty_pb2
from google.protobuf.message import Message

from teaclave.config import RuntimeConfig
from teaclave.config.build import STORAGE
from teaclave.proto import teaclave_storage_service_pb2 as pb
from teaclave.rpc.apis import TeaclaveStorage
from teaclave.rpc.channel import ServiceClient, connect
from teaclave.rpc.context import WAIT_METADATA
from teaclave.rpc.errors import RemoteError
from teaclave.rpc.tls import Identity, PeerVerifier
from teaclave.types import serde
from teaclave.types.errors import StatusCode


class StorageClient:
    """Key-value and queue operations against the storage service."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    @classmethod
    def connect(
        cls, config: RuntimeConfig, identity: Identity, verifier: PeerVerifier
    ) -> StorageClient:
        """Connect to the storage endpoint named in ``config`` as ``identity``."""
        target = config.internal_endpoints["storage"].target
        channel = connect(target, STORAGE, verifier, identity)
        return cls(ServiceClient(channel, TeaclaveStorage))

    def get(self, key: bytes) -> bytes | None:
        """Value at ``key`` or None when absent."""
        return self._value_or_none("Get", pb.GetRequest(key=key), pb.GetResponse)

    def watch(self, key: bytes, current: bytes | None, wait_secs: float) -> bytes | None:
        """Wait up to ``wait_secs`` until ``key`` holds something other than ``current``.

        Returns the value then stored (``current`` again when the wait ran out).
        """
        digest = "absent" if current is None else hashlib.sha256(current).hexdigest()
        # Same digest as teaclave.services.storage.service.value_digest (not imported: a
        # client never imports a service).
        metadata = {
            WAIT_METADATA: str(int(wait_secs * 1000)),
            "x-teaclave-if-none-match": digest,
        }
        return self._value_or_none(
            "Get", pb.GetRequest(key=key), pb.GetResponse, metadata, wait_secs + 10.0
        )

    def get_json(self, key: bytes) -> Any | None:
        """Decoded JSON record at ``key`` or None."""
        value = self.get(key)
        return None if value is None else serde.loads(value, key.decode(errors="replace"))

    def put(self, key: bytes, value: bytes) -> None:
        """Store ``value`` at ``key``."""
        self._client.call("Put", pb.PutRequest(key=key, value=value), empty_pb2.Empty)

    def put_json(self, key: bytes, value: Any) -> None:
        """Store a JSON record at ``key``."""
        self.put(key, serde.dumps(value))

    def delete(self, key: bytes) -> None:
        """Remove ``key``."""
        self._client.call("Delete", pb.DeleteRequest(key=key), empty_pb2.Empty)

    def enqueue(self, queue: bytes, value: bytes) -> None:
        """Append ``value`` to ``queue``."""
        self._client.call("Enqueue", pb.EnqueueRequest(key=queue, value=value), empty_pb2.Empty)

    def dequeue(self, queue: bytes, wait_secs: float = 0.0) -> bytes | None:
        """Pop the head of ``queue``, waiting up to ``wait_secs``; None when empty."""
        metadata = {WAIT_METADATA: str(int(wait_secs * 1000))} if wait_secs > 0 else None
        return self._value_or_none(
            "Dequeue", pb.DequeueRequest(key=queue), pb.DequeueResponse, metadata, wait_secs + 10.0
        )

    def _value_or_none(
        self,
        rpc: str,
        request: Message,
        response_type: type[pb.GetResponse] | type[pb.DequeueResponse],
        metadata: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> bytes | None:
        """``response.value``, or None when the storage service answers NOT_FOUND."""
        try:
            response = self._client.call(
                rpc, request, response_type, metadata=metadata, timeout=timeout
            )
        except RemoteError as exc:
            if exc.code is StatusCode.NOT_FOUND:
                return None
            raise
        return bytes(response.value)

    def keys_by_prefix(self, prefix: str) -> list[bytes]:
        """Keys ``<prefix>-...`` in byte order."""
        response = self._client.call(
            "GetKeysByPrefix",
            pb.GetKeysByPrefixRequest(prefix=prefix.encode()),
            pb.GetKeysByPrefixResponse,
        )
        return list(response.keys)

    def close(self) -> None:
        """Close the channel."""
        self._client.close()
