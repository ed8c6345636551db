"""Serving a ``@teaclave_service`` instance on a TLS endpoint."""

from __future__ import annotations

import errno
import logging
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from teaclave.config.build import MAX_MESSAGE_SIZE
from teaclave.rpc.context import CallContext
from teaclave.rpc.service import generic_handler, service_spec
from teaclave.rpc.tls import Identity, PeerVerifier
from teaclave.types.errors import PermissionDenied

log = logging.getLogger(__name__)


def grpc_options(max_message_size: int = MAX_MESSAGE_SIZE) -> list[tuple[str, Any]]:
    """Options shared by servers and channels: message limits in both directions."""
    return [
        ("grpc.max_receive_message_length", max_message_size),
        ("grpc.max_send_message_length", max_message_size),
    ]


class EndpointError(RuntimeError):
    """An endpoint could not be opened (address in use, bad address)."""


def _check_port_free(name: str, listen_address: str) -> None:
    """Refuse an address any of whose resolved sockets is already bound by someone else.

    gRPC starts a server when at least one resolved address binds, so ``localhost:P`` with
    ``127.0.0.1:P`` taken would silently serve on ``[::1]:P`` only.
    """
    host, _, port = listen_address.rpartition(":")
    if not port.isdigit() or int(port) == 0:
        return
    try:
        infos = socket.getaddrinfo(
            host.strip("[]") or None, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except (socket.gaierror, UnicodeError):
        return  # gRPC reports unresolvable addresses itself
    for family, kind, proto, _, sockaddr in infos:
        try:
            probe = socket.socket(family, kind, proto)
        except OSError:
            continue
        with probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise EndpointError(
                        f"{name}: cannot listen on {listen_address}: "
                        f"{sockaddr[0]} port {port} is already in use"
                    ) from None


def serve(
    instance: object,
    listen_address: str,
    identity: Identity,
    verifier: PeerVerifier,
    *,
    inbound: frozenset[str] | None = None,
    max_workers: int = 32,
) -> tuple[grpc.Server, int]:
    """Start serving ``instance`` on ``listen_address``; returns the server and bound port.

    ``inbound`` given: the endpoint is internal, requires mutual TLS and accepts only clients
    whose verified identity is in the set (an attesting verifier already refuses the others in
    the TLS handshake; this per-call check applies to every verifier). ``inbound`` None: a
    user-facing API endpoint
    (server-authenticated TLS only; users authenticate with id/token metadata).
    """
    spec = service_spec(instance)
    _check_port_free(spec.name, listen_address)

    def check_peer(ctx: CallContext, rpc: str) -> None:
        if inbound is not None and ctx.peer_identity not in inbound:
            raise PermissionDenied(
                f"permission denied: peer {ctx.peer_identity or '(anonymous)'} may not call "
                f"{spec.name}.{rpc}"
            )

    server = grpc.server(
        ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=spec.name),
        options=[*grpc_options(), ("grpc.so_reuseport", 0)],
    )
    server.add_generic_rpc_handlers(
        (
            generic_handler(
                instance, verifier.peer_identity, check_peer if inbound is not None else None
            ),
        )
    )
    creds = verifier.server_credentials(identity, mutual=inbound is not None, inbound=inbound)
    try:
        port = server.add_secure_port(listen_address, creds)
    except RuntimeError as exc:
        raise EndpointError(f"{spec.name}: cannot listen on {listen_address}: {exc}") from None
    if port == 0:
        raise EndpointError(f"{spec.name}: cannot listen on {listen_address}")
    server.start()
    log.info("%s serving %s on %s", spec.name, spec.full_name, listen_address)
    return server, port
