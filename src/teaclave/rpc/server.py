"""Serving a ``@teaclave_service`` instance on a TLS endpoint."""

from __future__ import annotations

import logging
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
    whose verified identity is in the set. ``inbound`` None: a user-facing API endpoint
    (server-authenticated TLS only; users authenticate with id/token metadata).
    """
    spec = service_spec(instance)

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
    creds = verifier.server_credentials(identity, mutual=inbound is not None)
    try:
        port = server.add_secure_port(listen_address, creds)
    except RuntimeError as exc:
        raise EndpointError(f"{spec.name}: cannot listen on {listen_address}: {exc}") from None
    if port == 0:
        raise EndpointError(f"{spec.name}: cannot listen on {listen_address}")
    server.start()
    log.info("%s serving %s on %s", spec.name, spec.full_name, listen_address)
    return server, port
