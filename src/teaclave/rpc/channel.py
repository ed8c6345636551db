"""Client side: verified channels to other services and a generic typed caller."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message

from teaclave.rpc.errors import RemoteError, from_rpc_error
from teaclave.rpc.server import grpc_options
from teaclave.rpc.service import message_class
from teaclave.rpc.tls import Identity, PeerVerifier
from teaclave.types.errors import StatusCode

M = TypeVar("M", bound=Message)

CONNECT_TIMEOUT_SECS = 30.0


def connect(
    target: str,
    expected_peer: str,
    verifier: PeerVerifier,
    identity: Identity | None = None,
    *,
    timeout: float = CONNECT_TIMEOUT_SECS,
) -> grpc.Channel:
    """Open a channel to ``target`` (host:port) accepting only the peer ``expected_peer``.

    Waits up to ``timeout`` seconds for the peer to come up, as Teaclave services do at start.
    """
    channel = grpc.secure_channel(
        target,
        verifier.channel_credentials(identity),
        options=[*grpc_options(), *verifier.channel_options(expected_peer)],
    )
    if not wait_until_ready(channel, timeout):
        channel.close()
        raise RemoteError(
            f"cannot reach {expected_peer} at {target} within {timeout:g} s",
            StatusCode.UNAVAILABLE,
        )
    return channel


_PROBE_METHOD = "/teaclave.rpc.Probe/Ready"


def wait_until_ready(channel: grpc.Channel, timeout: float) -> bool:
    """Wait until ``channel`` has a verified connection; False after ``timeout`` seconds.

    Sends one call to a method no server implements, with ``wait_for_ready``: UNIMPLEMENTED
    means the TLS handshake succeeded and the server answered. (``grpc.channel_ready_future``
    would do the same but leaves a connectivity watcher that makes ``close()`` take 200 ms.)
    """
    probe = channel.unary_unary(_PROBE_METHOD)
    try:
        probe(b"", timeout=timeout, wait_for_ready=True)
    except grpc.RpcError as exc:
        code = exc.code() if hasattr(exc, "code") else None
        return bool(code is grpc.StatusCode.UNIMPLEMENTED)
    return True


class ServiceClient:
    """Calls any RPC of one API over a channel, turning failures into ``RemoteError``."""

    def __init__(
        self,
        channel: grpc.Channel,
        api: ServiceDescriptor,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self.channel = channel
        self.api = api
        self.metadata = dict(metadata or {})
        self._calls: dict[str, Any] = {}
        for method in api.methods:
            self._calls[method.name] = (
                channel.unary_unary(
                    f"/{api.full_name}/{method.name}",
                    request_serializer=message_class(method.input_type).SerializeToString,
                    response_deserializer=message_class(method.output_type).FromString,
                ),
                message_class(method.output_type),
            )

    def call(
        self,
        rpc: str,
        request: Message,
        response_type: type[M],
        *,
        metadata: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> M:
        """Invoke ``rpc`` with ``request``; ``metadata`` is added to the client's own."""
        stub, out_cls = self._calls[rpc]
        if out_cls is not response_type:
            raise TypeError(f"{rpc} returns {out_cls.__name__}, not {response_type.__name__}")
        merged = {**self.metadata, **(metadata or {})}
        try:
            response = stub(request, metadata=tuple(merged.items()), timeout=timeout)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, rpc) from None
        assert isinstance(response, response_type)
        return response

    def close(self) -> None:
        """Close the underlying channel."""
        self.channel.close()
