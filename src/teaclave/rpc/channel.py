"""Client side: verified channels to other services and a generic typed caller.

``connect`` returns a :class:`PinnedChannel`: a channel that remembers how it was made, so
that :class:`ServiceClient` can rebuild it (re-fetch, re-verify and re-pin the server
certificate, present the current own identity) when a handshake fails with ``UNAVAILABLE``
because the peer renewed its attested identity or restarted with a new one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message

from teaclave.rpc.attested import AttestedVerifier
from teaclave.rpc.errors import RemoteError, from_rpc_error
from teaclave.rpc.server import grpc_options
from teaclave.rpc.service import message_class
from teaclave.rpc.tls import Identity, PeerVerifier
from teaclave.types.errors import StatusCode

M = TypeVar("M", bound=Message)

CONNECT_TIMEOUT_SECS = 30.0
REBUILD_SECS = 2.0
HANDSHAKE_ATTEMPTS = 3


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
    A peer that is reachable but refused by the verifier fails at once (``UNAVAILABLE`` with
    the verifier's reason). A peer that refuses *this client's* identity in the handshake (an
    attested internal endpoint it may not call) yields a channel whose calls fail with
    ``PERMISSION_DENIED`` naming the identity, as the per-call inbound check would.
    """

    def build(deadline: float) -> tuple[grpc.Channel, str | None]:
        while True:
            try:
                creds = verifier.channel_credentials(identity, target, expected_peer)
                break
            except OSError as exc:
                if time.monotonic() >= deadline:
                    raise RemoteError(
                        f"cannot reach {expected_peer} at {target} within {timeout:g} s: {exc}",
                        StatusCode.UNAVAILABLE,
                    ) from None
                time.sleep(0.05)
            except Exception as exc:  # the verifier refused the peer
                raise RemoteError(str(exc), StatusCode.UNAVAILABLE) from None
        channel = grpc.secure_channel(
            target, creds, options=[*grpc_options(), *verifier.channel_options(expected_peer)]
        )
        if identity is not None and isinstance(verifier, AttestedVerifier):
            # The server is up (its certificate was just fetched): a handshake that keeps
            # failing means it refuses this client identity.
            for _ in range(HANDSHAKE_ATTEMPTS):
                if handshake_once(channel, max(0.1, deadline - time.monotonic())):
                    return channel, None
                time.sleep(0.05)
            return channel, (
                f"permission denied: {expected_peer} at {target} refused {identity.name} in "
                "the TLS handshake (not attested, or not allowed to call it)"
            )
        if not wait_until_ready(channel, max(0.0, deadline - time.monotonic())):
            channel.close()
            raise RemoteError(
                f"cannot reach {expected_peer} at {target} within {timeout:g} s",
                StatusCode.UNAVAILABLE,
            )
        return channel, None

    first, refusal = build(time.monotonic() + timeout)
    # A rebuild happens inside a failing call: give a peer that is down only a short while.
    return PinnedChannel(
        first, lambda: build(time.monotonic() + min(timeout, REBUILD_SECS)), refusal
    )


class PinnedChannel(grpc.Channel):  # type: ignore[misc]
    """A channel plus the recipe that rebuilds it (see the module docstring)."""

    def __init__(
        self,
        channel: grpc.Channel,
        rebuild: Callable[[], tuple[grpc.Channel, str | None]],
        refusal: str | None = None,
    ) -> None:
        self._channel = channel
        self._rebuild = rebuild
        self._lock = threading.Lock()
        self.generation = 0
        #: Why the peer refused this client's identity in the handshake (None: it accepted).
        self.refusal = refusal

    def rebuild(self, seen_generation: int) -> int:
        """Replace the channel unless another thread already did since ``seen_generation``."""
        with self._lock:
            if self.generation == seen_generation:
                fresh, self.refusal = self._rebuild()
                old, self._channel = self._channel, fresh
                self.generation += 1
                old.close()
            return self.generation

    def subscribe(self, callback: Callable[..., Any], try_to_connect: bool = False) -> None:
        """Delegate to the current channel."""
        self._channel.subscribe(callback, try_to_connect)

    def unsubscribe(self, callback: Callable[..., Any]) -> None:
        """Delegate to the current channel."""
        self._channel.unsubscribe(callback)

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Delegate to the current channel."""
        return self._channel.unary_unary(method, *args, **kwargs)

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Delegate to the current channel."""
        return self._channel.unary_stream(method, *args, **kwargs)

    def stream_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Delegate to the current channel."""
        return self._channel.stream_unary(method, *args, **kwargs)

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Delegate to the current channel."""
        return self._channel.stream_stream(method, *args, **kwargs)

    def close(self) -> None:
        """Close the current channel."""
        self._channel.close()

    def __enter__(self) -> PinnedChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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


def handshake_once(channel: grpc.Channel, timeout: float) -> bool:
    """One connection attempt (no waiting for readiness): True if the handshake completed."""
    probe = channel.unary_unary(_PROBE_METHOD)
    try:
        probe(b"", timeout=timeout)
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
        self._lock = threading.Lock()
        self._generation = channel.generation if isinstance(channel, PinnedChannel) else 0
        self._calls: dict[str, Any] = {}
        self._make_stubs()

    def _make_stubs(self) -> None:
        channel, api = self.channel, self.api
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
        with self._lock:
            stub, out_cls = self._calls[rpc]
            generation = self._generation
        if out_cls is not response_type:
            raise TypeError(f"{rpc} returns {out_cls.__name__}, not {response_type.__name__}")
        merged = {**self.metadata, **(metadata or {})}
        pinned = self.channel if isinstance(self.channel, PinnedChannel) else None
        if pinned is not None and pinned.refusal is not None:
            self._rebuild(generation)  # the peer may accept this identity by now
            if pinned.refusal is not None:
                raise RemoteError(pinned.refusal, StatusCode.PERMISSION_DENIED)
            with self._lock:
                stub, generation = self._calls[rpc][0], self._generation
        try:
            response = stub(request, metadata=tuple(merged.items()), timeout=timeout)
        except grpc.RpcError as exc:
            if not self._rebuilt_after(exc, generation):
                raise from_rpc_error(exc, rpc) from None
            if pinned is not None and pinned.refusal is not None:
                raise RemoteError(pinned.refusal, StatusCode.PERMISSION_DENIED) from None
            with self._lock:
                stub = self._calls[rpc][0]
            try:
                response = stub(request, metadata=tuple(merged.items()), timeout=timeout)
            except grpc.RpcError as again:
                raise from_rpc_error(again, rpc) from None
        assert isinstance(response, response_type)
        return response

    def _rebuilt_after(self, exc: grpc.RpcError, generation: int) -> bool:
        """After UNAVAILABLE on a pinned channel, rebuild it once; True if the call may retry."""
        code = exc.code() if hasattr(exc, "code") else None
        if code is not grpc.StatusCode.UNAVAILABLE or not isinstance(self.channel, PinnedChannel):
            return False
        return self._rebuild(generation)

    def _rebuild(self, generation: int) -> bool:
        """Rebuild the pinned channel (once per generation) and its stubs; False on failure."""
        assert isinstance(self.channel, PinnedChannel)
        try:
            new_generation = self.channel.rebuild(generation)
        except RemoteError:
            return False
        with self._lock:
            if new_generation != self._generation:
                self._generation = new_generation
                self._make_stubs()
        return True

    def close(self) -> None:
        """Close the underlying channel."""
        self.channel.close()
