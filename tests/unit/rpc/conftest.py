"""Fixtures of the rpc tests: a platform CA (plus a foreign one), probe servers, clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import pytest
from rpc_probe import MANAGEMENT, STORAGE, Pki, ProbeService

from teaclave.rpc.channel import ServiceClient
from teaclave.rpc.server import serve
from teaclave.rpc.tls import Identity, PlatformCa, PlatformCaVerifier


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    ca = PlatformCa.load_or_create(tmp_path_factory.mktemp("state"))
    other = PlatformCa.load_or_create(tmp_path_factory.mktemp("other-state"))
    return Pki(ca, PlatformCaVerifier(ca.cert_pem), other)


Server = tuple[ProbeService, int]


@pytest.fixture
def start_server(pki: Pki) -> Iterator[Callable[..., Server]]:
    """Start probe servers (default: internal endpoint accepting management) on free ports."""
    servers: list[grpc.Server] = []

    def start(
        address: str = "127.0.0.1:0",
        identity: Identity | None = None,
        inbound: frozenset[str] | None = frozenset({MANAGEMENT}),
    ) -> Server:
        service = ProbeService()
        server, port = serve(
            service, address, identity or pki.identity(STORAGE), pki.verifier, inbound=inbound
        )
        servers.append(server)
        return service, port

    yield start
    for server in servers:
        server.stop(None)


@pytest.fixture
def clients() -> Iterator[list[ServiceClient]]:
    """Clients created by a test, closed at its end."""
    made: list[ServiceClient] = []
    yield made
    for client in made:
        client.close()
