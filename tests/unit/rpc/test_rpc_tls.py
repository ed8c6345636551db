"""Mutual TLS on internal endpoints, server-only TLS on API endpoints, and the platform CA."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from rpc_probe import FRONTEND, MANAGEMENT, STORAGE, Pki, raw_client

from teaclave.proto import teaclave_storage_service_pb2 as pb
from teaclave.rpc.apis import TeaclaveStorage
from teaclave.rpc.channel import ServiceClient, connect
from teaclave.rpc.errors import RemoteError
from teaclave.rpc.tls import CA_CERT_FILE, CA_KEY_FILE, PlatformCa, PlatformCaVerifier
from teaclave.types.errors import StatusCode

pytestmark = pytest.mark.timeout(60)


def call_get(client: ServiceClient, key: bytes = b"ping") -> bytes:
    return client.call("Get", pb.GetRequest(key=key), pb.GetResponse, timeout=10).value


def refused(client: ServiceClient) -> RemoteError:
    with pytest.raises(RemoteError) as err:
        call_get(client)
    return err.value


# ---------------------------------------------------------------------- internal endpoints
def test_allowed_identity_is_served(pki: Pki, start_server, clients: list[ServiceClient]):
    _, port = start_server()
    client = raw_client(pki, f"127.0.0.1:{port}", pki.identity(MANAGEMENT))
    clients.append(client)
    assert call_get(client) == b"ping"


def test_client_without_certificate_cannot_call_an_internal_endpoint(
    pki: Pki, start_server, clients: list[ServiceClient]
):
    _, port = start_server()
    client = raw_client(pki, f"127.0.0.1:{port}", None)
    clients.append(client)
    assert refused(client).code is StatusCode.UNAVAILABLE


def test_certificate_from_another_ca_is_refused(
    pki: Pki, start_server, clients: list[ServiceClient]
):
    _, port = start_server()
    forged = pki.forged(MANAGEMENT)
    assert (
        x509.load_pem_x509_certificate(forged.cert_pem)
        .subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0]
        .value
        == MANAGEMENT
    )
    client = raw_client(pki, f"127.0.0.1:{port}", forged)
    clients.append(client)
    assert refused(client).code is StatusCode.UNAVAILABLE


def test_issued_identity_outside_the_inbound_set_is_permission_denied(
    pki: Pki, start_server, clients: list[ServiceClient]
):
    _, port = start_server()
    client = raw_client(pki, f"127.0.0.1:{port}", pki.identity(FRONTEND))
    clients.append(client)
    err = refused(client)
    assert err.code is StatusCode.PERMISSION_DENIED
    assert err.message == (f"permission denied: peer {FRONTEND} may not call {STORAGE}.Get")


def test_empty_inbound_set_refuses_every_issued_identity(
    pki: Pki, start_server, clients: list[ServiceClient]
):
    _, port = start_server(inbound=frozenset())
    client = raw_client(pki, f"127.0.0.1:{port}", pki.identity(MANAGEMENT))
    clients.append(client)
    assert refused(client).code is StatusCode.PERMISSION_DENIED


def test_connect_gives_up_with_unavailable_when_the_handshake_fails(pki: Pki, start_server):
    _, port = start_server()
    with pytest.raises(RemoteError) as err:
        connect(f"127.0.0.1:{port}", STORAGE, pki.verifier, None, timeout=0.5)
    assert err.value.code is StatusCode.UNAVAILABLE
    assert STORAGE in err.value.message


def test_connect_and_call_with_the_right_identity(pki: Pki, start_server):
    _, port = start_server()
    channel = connect(f"localhost:{port}", STORAGE, pki.verifier, pki.identity(MANAGEMENT))
    client = ServiceClient(channel, TeaclaveStorage)
    try:
        assert call_get(client, b"hello") == b"hello"
    finally:
        client.close()


# ---------------------------------------------------------------------- server identity
def test_client_refuses_a_server_presenting_another_identity(
    pki: Pki, start_server, clients: list[ServiceClient]
):
    # The server is a genuine platform identity, just not the one the client expects.
    _, port = start_server(identity=pki.identity(MANAGEMENT), inbound=None)
    wrong = raw_client(pki, f"127.0.0.1:{port}", None, expected_peer=STORAGE)
    right = raw_client(pki, f"127.0.0.1:{port}", None, expected_peer=MANAGEMENT)
    clients.extend([wrong, right])
    assert refused(wrong).code is StatusCode.UNAVAILABLE
    assert call_get(right) == b"ping"


def test_client_refuses_a_server_from_another_ca(
    pki: Pki, start_server, clients: list[ServiceClient]
):
    _, port = start_server(identity=pki.forged(STORAGE), inbound=None)
    client = raw_client(pki, f"127.0.0.1:{port}", None)
    clients.append(client)
    assert refused(client).code is StatusCode.UNAVAILABLE
    trusting_other = raw_client(pki, f"127.0.0.1:{port}", None, trust=pki.other_ca.cert_pem)
    clients.append(trusting_other)
    assert call_get(trusting_other) == b"ping"


def test_api_endpoint_serves_clients_without_certificates(
    pki: Pki, start_server, clients: list[ServiceClient]
):
    _, port = start_server(inbound=None)
    anonymous = raw_client(pki, f"127.0.0.1:{port}", None)
    with_cert = raw_client(pki, f"127.0.0.1:{port}", pki.identity(FRONTEND))
    clients.extend([anonymous, with_cert])
    assert call_get(anonymous) == b"ping"
    assert call_get(with_cert) == b"ping"
    info = json.loads(call_get(anonymous, b"context"))
    assert info["peer_identity"] is None


# ---------------------------------------------------------------------- the platform CA
def test_issued_identity_certificate(pki: Pki):
    identity = pki.ca.issue(STORAGE, hosts=("teaclave-storage-service", "10.1.2.3"))
    cert = x509.load_pem_x509_certificate(identity.cert_pem)
    assert identity.name == STORAGE
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == STORAGE
    assert cert.issuer == pki.ca.cert.subject
    cert.verify_directly_issued_by(pki.ca.cert)
    with pytest.raises((ValueError, InvalidSignature)):
        cert.verify_directly_issued_by(pki.other_ca.cert)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {
        STORAGE,
        "localhost",
        "teaclave-storage-service",
    }
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} == {
        "127.0.0.1",
        "::1",
        "10.1.2.3",
    }
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert b"PRIVATE KEY" in identity.key_pem
    assert pki.ca.issue(STORAGE).cert_pem != identity.cert_pem  # fresh key each time


def test_load_or_create_persists_the_ca_with_private_permissions(tmp_path: Path):
    state = tmp_path / "state"
    first = PlatformCa.load_or_create(state)
    again = PlatformCa.load_or_create(str(state))
    assert again.cert_pem == first.cert_pem
    assert first.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    tls = state / "tls"
    key_mode = stat.S_IMODE((tls / CA_KEY_FILE).stat().st_mode)
    assert key_mode == 0o600
    assert stat.S_IMODE(tls.stat().st_mode) & 0o077 == 0
    assert (tls / CA_CERT_FILE).read_bytes() == first.cert_pem
    assert sorted(p.name for p in state.iterdir()) == ["tls"]  # no temporary leftovers
    # An identity issued by the reloaded CA verifies against the first one.
    cert = x509.load_pem_x509_certificate(again.issue("x").cert_pem)
    cert.verify_directly_issued_by(first.cert)
    assert isinstance(first.cert.public_key(), ec.EllipticCurvePublicKey)


def test_key_is_private_even_with_a_permissive_umask(tmp_path: Path):
    old = os.umask(0)
    try:
        PlatformCa.load_or_create(tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "tls" / CA_KEY_FILE).stat().st_mode) == 0o600


def test_concurrent_threads_end_up_with_one_ca(tmp_path: Path):
    barrier = threading.Barrier(8)
    results: list[bytes] = []
    errors: list[BaseException] = []

    def create() -> None:
        try:
            barrier.wait()
            results.append(PlatformCa.load_or_create(tmp_path).cert_pem)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert errors == []
    assert len(results) == 8 and len(set(results)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tls"]


CREATE_CA = """
import hashlib, sys, time
from pathlib import Path
from teaclave.rpc.tls import PlatformCa
go = Path(sys.argv[2])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
print(hashlib.sha256(PlatformCa.load_or_create(sys.argv[1]).cert_pem).hexdigest())
"""


def test_concurrent_processes_end_up_with_one_ca(tmp_path: Path):
    state = tmp_path / "state"
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CREATE_CA, str(state), str(go)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    try:
        # Every process has imported everything and waits at the start line.
        for p in procs:
            assert p.stdout is not None
            assert p.stdout.readline().strip() == "ready"
        go.touch()
        digests = [p.communicate(timeout=30)[0].strip() for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(p.returncode == 0 for p in procs)
    on_disk = hashlib.sha256((state / "tls" / CA_CERT_FILE).read_bytes()).hexdigest()
    assert digests == [on_disk] * 6
    assert sorted(p.name for p in state.iterdir()) == ["tls"]


def test_verifier_reports_no_identity_without_a_certificate():
    verifier = PlatformCaVerifier(b"")

    class NoAuth:
        def auth_context(self) -> dict[str, list[bytes]]:
            return {}

    class WithName:
        def auth_context(self) -> dict[str, list[bytes]]:
            return {"x509_common_name": [b"teaclave_scheduler_service"]}

    assert verifier.peer_identity(NoAuth()) is None  # type: ignore[arg-type]
    assert verifier.peer_identity(WithName()) == "teaclave_scheduler_service"  # type: ignore[arg-type]
    assert verifier.channel_options("x") == [("grpc.ssl_target_name_override", "x")]
