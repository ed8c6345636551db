"""serve(): binding rules; CallContext: client address, long-poll budget, credentials."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator

import pytest
from rpc_probe import MANAGEMENT, STORAGE, Pki, ProbeService, raw_client

from teaclave.proto import teaclave_storage_service_pb2 as pb
from teaclave.rpc.channel import ServiceClient
from teaclave.rpc.context import WAIT_METADATA, CallContext
from teaclave.rpc.server import EndpointError, serve
from teaclave.types.errors import Unauthenticated

pytestmark = pytest.mark.timeout(30)


def ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@contextlib.contextmanager
def held_port(host: str = "127.0.0.1", family: int = socket.AF_INET) -> Iterator[int]:
    """A port some other (non-gRPC) listener holds."""
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        sock.listen()
        yield sock.getsockname()[1]


# ---------------------------------------------------------------------- binding
def test_serving_on_a_port_in_use_by_another_server_raises(pki: Pki, start_server):
    _, port = start_server("127.0.0.1:0")
    with pytest.raises(EndpointError, match=rf"^{STORAGE}: cannot listen on 127\.0\.0\.1:{port}"):
        serve(ProbeService(), f"127.0.0.1:{port}", pki.identity(STORAGE), pki.verifier)


def test_serving_on_a_port_held_by_a_plain_socket_raises(pki: Pki):
    with held_port() as port, pytest.raises(EndpointError, match="in use"):
        serve(ProbeService(), f"127.0.0.1:{port}", pki.identity(STORAGE), pki.verifier)


def test_localhost_is_refused_when_only_ipv4_is_taken(pki: Pki):
    # gRPC alone would start on [::1] only and report success.
    with held_port() as port, pytest.raises(EndpointError, match=rf"localhost:{port}"):
        serve(ProbeService(), f"localhost:{port}", pki.identity(STORAGE), pki.verifier)


def test_localhost_server_blocks_a_second_one(pki: Pki, start_server):
    with held_port() as port:
        pass  # a free port number
    start_server(f"localhost:{port}")
    with pytest.raises(EndpointError):
        serve(ProbeService(), f"localhost:{port}", pki.identity(STORAGE), pki.verifier)


def test_unusable_address_raises(pki: Pki):
    with pytest.raises(EndpointError, match=r"cannot listen on 256\.1\.1\.1:1"):
        serve(ProbeService(), "256.1.1.1:1", pki.identity(STORAGE), pki.verifier)


def test_port_zero_binds_a_free_port_and_reports_it(
    pki: Pki, start_server, clients: list[ServiceClient]
):
    _, port = start_server("127.0.0.1:0")
    assert port > 0
    client = raw_client(pki, f"127.0.0.1:{port}", pki.identity(MANAGEMENT))
    clients.append(client)
    assert client.call("Get", pb.GetRequest(key=b"x"), pb.GetResponse).value == b"x"


def test_port_is_free_again_after_stop(pki: Pki):
    server, port = serve(ProbeService(), "127.0.0.1:0", pki.identity(STORAGE), pki.verifier)
    server.stop(None).wait(5)
    server2, port2 = serve(ProbeService(), f"127.0.0.1:{port}", pki.identity(STORAGE), pki.verifier)
    assert port2 == port
    server2.stop(None)


# ---------------------------------------------------------------------- client address
@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        ("ipv4:127.0.0.1:50000", bytes(12) + bytes([127, 0, 0, 1])),
        ("ipv4:10.20.30.40:1", bytes(12) + bytes([10, 20, 30, 40])),
        ("ipv6:[::1]:50000", bytes(15) + b"\x01"),
        ("ipv6:%5B::1%5D:50000", bytes(15) + b"\x01"),
        ("ipv6:%5B2001:db8::7%5D:443", bytes.fromhex("20010db8000000000000000000000007")),
        ("unix:/tmp/socket", bytes(16)),
        ("", bytes(16)),
        ("ipv4:not-an-ip:1", bytes(16)),
        ("ipv6:%5Bzz::1%5D:1", bytes(16)),
    ],
)
def test_client_ip(peer: str, expected: bytes):
    ip = CallContext(metadata={}, peer=peer).client_ip
    assert len(ip) == 16
    assert ip == expected


@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback")
def test_client_ip_of_a_real_ipv6_client(pki: Pki, start_server, clients: list[ServiceClient]):
    _, port = start_server("[::1]:0")
    client = raw_client(pki, f"[::1]:{port}", pki.identity(MANAGEMENT))
    clients.append(client)
    info = json.loads(client.call("Get", pb.GetRequest(key=b"context"), pb.GetResponse).value)
    assert info["peer"].startswith("ipv6:")
    assert bytes.fromhex(info["client_ip"]) == bytes(15) + b"\x01"


# ---------------------------------------------------------------------- other context fields
@pytest.mark.parametrize(
    ("raw", "secs"),
    [
        ("", 0.0),
        ("250", 0.25),
        ("0", 0.0),
        ("-5", 0.0),
        ("abc", 0.0),
        ("999999", 30.0),
        ("1e3", 1.0),
    ],
)
def test_wait_secs(raw: str, secs: float):
    metadata = {WAIT_METADATA: raw} if raw else {}
    assert CallContext(metadata=metadata).wait_secs == secs


def test_credentials_and_require_user_id():
    ctx = CallContext(metadata={"id": "u", "token": "t", "role": "PlatformAdmin"})
    assert (ctx.user_id, ctx.token, ctx.role) == ("u", "t", "PlatformAdmin")
    assert ctx.require_user_id() == "u"
    empty = CallContext(metadata={})
    assert (empty.user_id, empty.token, empty.role) == ("", "", "")
    with pytest.raises(Unauthenticated, match=r"^missing user id$"):
        empty.require_user_id()
    assert empty.is_active() is True
    assert empty.peer_identity is None
