"""Attested channels through real endpoints: who is refused, and why (issue #5 part 2).

Every internal endpoint refuses, in the TLS handshake, a client with no certificate, with a
self-made certificate (even one planted in the identity registry), with attested evidence
from an untrusted root, with a replayed expired certificate, and with a valid attested
certificate of a service that is not allowed to call it. SDK clients refuse a server whose
measurement is not in enclave_info or whose evidence root they do not trust. Identities renew
under a short validity without breaking calls.
"""

from __future__ import annotations

import datetime
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from platform_harness import ADMIN_PASSWORD, Platform, platform_config

from teaclave.binder import ECallCommand, StartServiceInput, StartServiceOutput, TeeBinder
from teaclave.config import RuntimeConfig
from teaclave.config.build import (
    ACCESS_CONTROL,
    AUTHENTICATION,
    EXECUTION,
    FRONTEND,
    INBOUND,
    MANAGEMENT,
    SCHEDULER,
    SERVICE_NAMES,
    STORAGE,
)
from teaclave.config.runtime import default_dict
from teaclave.proto import teaclave_storage_service_pb2 as storage_pb
from teaclave.rpc.apis import TeaclaveStorage
from teaclave.rpc.attested import (
    AttestedVerifier,
    PeerRefused,
    fetch_server_certificate,
    fingerprint,
    issue_unique_identity,
    registry_dir,
)
from teaclave.rpc.channel import ServiceClient, connect
from teaclave.rpc.clients.storage import StorageClient
from teaclave.rpc.errors import RemoteError
from teaclave.rpc.server import grpc_options
from teaclave.sdk import AuthenticationService, TeaclaveException
from teaclave.services.embedded import EmbeddedPlatform, free_port
from teaclave.services.launcher import attestation_policy, service_identity
from teaclave.tee import (
    EnclaveInfo,
    SimPlatform,
    get_platform,
    measure_service,
    verify_peer_certificate,
)
from teaclave.tee.errors import (
    AuditorQuorumNotMet,
    CertificateExpired,
    FreshnessError,
    PlatformUnavailable,
)
from teaclave.tee.measurement import default_package_root
from teaclave.types.errors import StatusCode

pytestmark = pytest.mark.timeout(120)

HANDSHAKE_WAIT_SECS = 0.5
ALL = (AUTHENTICATION, FRONTEND, MANAGEMENT, STORAGE, ACCESS_CONTROL, EXECUTION, SCHEDULER)


def endpoint_params() -> list[tuple[str, str, str]]:
    """(endpoint, an allowed client, a valid but not allowed client) for each internal API."""
    params = []
    for endpoint, allowed in sorted(INBOUND.items()):
        outsider = next(s for s in ALL if s not in allowed)
        params.append((endpoint, sorted(allowed)[0], outsider))
    return params


def pinned_server(target: str) -> bytes:
    return ssl_pem(fetch_server_certificate(target))


def ssl_pem(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)


def handshake_succeeds(
    target: str, server_name: str, cert_pem: bytes | None, key_pem: bytes | None
) -> bool:
    """Pin the real server certificate and try one handshake: True if it completes.

    The probe method is implemented by no server: UNIMPLEMENTED means the handshake
    succeeded; a refused handshake fails the (non-waiting) call with UNAVAILABLE.
    """
    creds = grpc.ssl_channel_credentials(
        root_certificates=pinned_server(target),
        private_key=key_pem,
        certificate_chain=cert_pem,
    )
    channel = grpc.secure_channel(
        target,
        creds,
        options=[*grpc_options(), ("grpc.ssl_target_name_override", server_name)],
    )
    try:
        channel.unary_unary("/teaclave.rpc.Probe/Ready")(b"", timeout=HANDSHAKE_WAIT_SECS * 5)
    except grpc.RpcError as exc:
        code = exc.code()
        assert code in (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.UNAVAILABLE), exc
        return bool(code is grpc.StatusCode.UNIMPLEMENTED)
    finally:
        channel.close()
    raise AssertionError("the probe method answered")


def self_made(name: str, *, not_after_days: int = 1) -> tuple[bytes, bytes]:
    """A self-signed certificate naming ``name`` with no evidence at all: (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=not_after_days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def plant(platform: Platform, name: str, cert_pem: bytes) -> None:
    """Put a certificate into the identity registry, as an attacker with file access could."""
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    registry = registry_dir(platform.config.state_dir)
    (registry / f"{name}-{fingerprint(der)}.pem").write_bytes(cert_pem)


# ---------------------------------------------------------------------- internal endpoints
@pytest.mark.parametrize(("endpoint", "allowed", "outsider"), endpoint_params())
def test_internal_endpoint_accepts_only_attested_inbound_clients(
    platform: Platform, tmp_path: Path, endpoint: str, allowed: str, outsider: str
) -> None:
    config = platform.config
    target = config.internal_endpoints[endpoint].target
    server_name = SERVICE_NAMES[endpoint]

    # The control: an attested identity of an allowed service completes the handshake.
    good, _ = service_identity(config, allowed)
    assert handshake_succeeds(target, server_name, good.cert_pem, good.key_pem)

    # No client certificate.
    assert not handshake_succeeds(target, server_name, None, None)

    # A self-made certificate naming an allowed service, even when planted in the registry.
    forged_cert, forged_key = self_made(allowed)
    plant(platform, allowed, forged_cert)
    assert not handshake_succeeds(target, server_name, forged_cert, forged_key)

    # Genuine sim evidence for an allowed service, but from another (untrusted) root.
    rogue = issue_unique_identity(allowed, SimPlatform(tmp_path / "rogue"), 600)
    plant(platform, allowed, rogue.cert_pem)
    assert not handshake_succeeds(target, server_name, rogue.cert_pem, rogue.key_pem)

    # A replayed certificate: real evidence of an allowed service, but expired.
    sim = get_platform("sim", config.state_dir)
    old = issue_unique_identity(allowed, sim, 60, now=time.time() - 3600)
    plant(platform, allowed, old.cert_pem)
    assert not handshake_succeeds(target, server_name, old.cert_pem, old.key_pem)

    # A valid attested certificate of a service that may not call this endpoint.
    other, verifier = service_identity(config, outsider)
    assert not handshake_succeeds(target, server_name, other.cert_pem, other.key_pem)
    with pytest.raises(RemoteError, match=r"permission denied: .* refused") as refused:
        # (the refusal comes before any RPC is sent, whichever API the client speaks)
        client = ServiceClient(connect(target, server_name, verifier, other), TeaclaveStorage)
        client.call("Get", storage_pb.GetRequest(key=b"k"), storage_pb.GetResponse)
    assert refused.value.code is StatusCode.PERMISSION_DENIED

    # The allowed identity still works after all of that (the registry was not poisoned).
    assert handshake_succeeds(target, server_name, good.cert_pem, good.key_pem)


def test_replayed_certificate_is_refused_by_the_verifier(platform: Platform) -> None:
    config = platform.config
    sim = get_platform("sim", config.state_dir)
    _, verifier = service_identity(config, FRONTEND)
    old = issue_unique_identity(MANAGEMENT, sim, 60, now=time.time() - 3600)
    with pytest.raises(CertificateExpired):
        verify_peer_certificate(old.cert_der, MANAGEMENT, verifier.policy)
    # A certificate issued before the policy's not_before (e.g. after a key compromise).
    target = config.internal_endpoints["storage"].target
    assert verifier.verify_server(target, STORAGE)
    strict = AttestedVerifier(
        replace(verifier.policy, not_before=time.time() + 1), verifier.registry
    )
    with pytest.raises(PeerRefused, match="attestation refused") as refused:
        strict.verify_server(target, STORAGE)
    assert "not_before" in str(refused.value) or "before" in str(refused.value)
    current = fetch_server_certificate(target)
    with pytest.raises(FreshnessError):
        verify_peer_certificate(current, STORAGE, strict.policy)


def test_client_refuses_a_server_that_is_not_the_expected_service(platform: Platform) -> None:
    """A server that attests fine as storage is refused where management was expected."""
    config = platform.config
    identity, verifier = service_identity(config, FRONTEND)
    with pytest.raises(RemoteError, match="measurement"):
        connect(config.internal_endpoints["storage"].target, MANAGEMENT, verifier, identity)


# ---------------------------------------------------------------------- SDK
@pytest.fixture(scope="module")
def tampered_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the installed package with one service file changed."""
    copy = tmp_path_factory.mktemp("tampered") / "teaclave"
    shutil.copytree(
        default_package_root(), copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    target = copy / "services" / "authentication" / "service.py"
    target.write_text(target.read_text() + "\n# backdoor\n")
    return copy


def test_sdk_refuses_a_measurement_not_in_enclave_info(
    platform: Platform, tmp_path: Path, tampered_package: Path
) -> None:
    running = platform.platform
    sim = SimPlatform(running.config.state_dir, package_root=tampered_package)
    identities = {name: sim.measurement(name) for name in ALL}
    real = measure_service(AUTHENTICATION)
    assert identities[AUTHENTICATION].mr_enclave != real  # the change changed the identity
    info = tmp_path / "tampered_enclave_info.toml"
    info.write_bytes(EnclaveInfo.render(identities))
    with pytest.raises(TeaclaveException, match="measurement") as refused:
        AuthenticationService(
            running.authentication_address, running.attestation_root_path, info, timeout=2.0
        ).connect()
    assert "attestation refused" in refused.value.message
    # The genuine enclave_info is accepted by the same client code.
    with AuthenticationService(
        running.authentication_address, running.attestation_root_path, running.enclave_info_path
    ) as ok:
        ok.connect().user_login("admin", ADMIN_PASSWORD)


def test_sdk_refuses_evidence_from_an_untrusted_root(platform: Platform, tmp_path: Path) -> None:
    running = platform.platform
    SimPlatform(tmp_path / "elsewhere")
    anchor = tmp_path / "elsewhere" / "tee" / "sim_root_cert.pem"
    with pytest.raises(TeaclaveException, match="attestation refused"):
        AuthenticationService(
            running.authentication_address, anchor, running.enclave_info_path, timeout=2.0
        ).connect()


def test_sdk_checks_auditor_signatures_when_given_keys(platform: Platform) -> None:
    running = platform.platform
    keys = running.auditor_public_key_paths
    with AuthenticationService(
        running.authentication_address,
        running.attestation_root_path,
        running.enclave_info_path,
        auditor_public_keys=keys,
        auditor_signatures=running.signature_paths,
        quorum=2,
    ) as client:
        client.connect()
    with pytest.raises(TeaclaveException, match="enclave_info"):
        AuthenticationService(
            running.authentication_address,
            running.attestation_root_path,
            running.enclave_info_path,
            auditor_public_keys=keys,
            auditor_signatures=running.signature_paths[:1],
            quorum=2,
        )
    with pytest.raises(TeaclaveException, match="enclave_info_path: required"):
        AuthenticationService(running.authentication_address, running.attestation_root_path)


# ---------------------------------------------------------------------- renewal
@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    state = tmp_path_factory.mktemp("short_lived")
    config = platform_config(state, attestation={"validity_secs": 3.0})
    with EmbeddedPlatform(config, workers=0) as running:
        yield Platform(running)


def test_calls_keep_working_across_renewals(short_lived: Platform) -> None:
    registry = registry_dir(short_lived.config.state_dir)
    target = short_lived.config.api_endpoints["authentication"].target
    first = fetch_server_certificate(target)
    user = short_lived.new_user()
    with short_lived.auth() as auth, short_lived.frontend(user) as frontend:
        deadline = time.monotonic() + 7.0  # more than two validity periods
        calls = 0
        while time.monotonic() < deadline:
            auth.user_login(user, "test_password")  # API endpoint → internal endpoints
            frontend.list_functions(user)  # frontend → management → storage, access control
            calls += 1
            time.sleep(0.2)
    assert calls > 20
    assert fetch_server_certificate(target) != first, "the server identity was not renewed"
    renewed = list(registry.glob(f"{STORAGE}-*.pem"))
    assert renewed, "storage registered no identity"
    # Expired own entries are pruned at renewal: at most the live and the previous few remain.
    assert len(renewed) <= 3
    # New SDK connections attest the renewed identity.
    with short_lived.auth() as fresh:
        fresh.user_login(user, "test_password")


# ---------------------------------------------------------------------- re-pinning
def _start_storage(config: RuntimeConfig) -> tuple[TeeBinder, threading.Thread]:
    tee = TeeBinder(STORAGE)
    thread = threading.Thread(
        target=lambda: tee.invoke(
            ECallCommand.START_SERVICE, StartServiceInput(config), StartServiceOutput
        ),
        daemon=True,
    )
    thread.start()
    assert tee.wait_ready(10), "storage did not start"
    return tee, thread


def test_client_re_pins_when_the_server_identity_changes(tmp_path: Path) -> None:
    """A restarted server has a new certificate: the old pinned channel is rebuilt once."""
    config = RuntimeConfig.from_dict(
        default_dict(
            host="127.0.0.1", state_dir=str(tmp_path), internal_ports={"storage": free_port()}
        )
    )
    target = config.internal_endpoints["storage"].target
    tee, thread = _start_storage(config)
    identity, verifier = service_identity(config, MANAGEMENT)
    client = StorageClient.connect(config, identity, verifier)
    try:
        client.put(b"k", b"v")
        before = fetch_server_certificate(target)
        tee.finalize()
        thread.join(10)
        tee, thread = _start_storage(config)  # same port and state, new attested identity
        assert fetch_server_certificate(target) != before
        assert client.get(b"k") == b"v"  # UNAVAILABLE → re-fetch, re-verify, re-pin, retry
    finally:
        client.close()
        tee.finalize()
        thread.join(10)


# ---------------------------------------------------------------------- configuration
def test_configured_audit_material_is_required_and_checked(platform: Platform) -> None:
    running = platform.platform
    base = running.config.to_dict()
    base["audit"] = {
        "enclave_info": {"path": str(running.enclave_info_path)},
        "auditor_signatures": [{"path": str(p)} for p in running.signature_paths],
        "auditor_public_keys": [str(p) for p in running.auditor_public_key_paths],
        "quorum": 2,
    }
    config = RuntimeConfig.from_dict(base)
    sim = get_platform("sim", config.state_dir)
    policy = attestation_policy(config, sim)
    assert set(policy.enclave_info) == set(ALL) and len(policy.enclave_info.auditors) == 2
    one_signature = {**base["audit"], "auditor_signatures": base["audit"]["auditor_signatures"][:1]}
    with pytest.raises(AuditorQuorumNotMet):
        attestation_policy(RuntimeConfig.from_dict({**base, "audit": one_signature}), sim)
    no_signatures = {**base["audit"], "auditor_signatures": []}
    with pytest.raises(ValueError, match=r"audit\.auditor_signatures: required"):
        attestation_policy(RuntimeConfig.from_dict({**base, "audit": no_signatures}), sim)


@pytest.mark.parametrize("name", ["sgx", "tdx", "sev-snp"])
def test_a_missing_tee_device_fails_start_up_loudly(tmp_path: Path, name: str) -> None:
    config = platform_config(tmp_path, attestation={"platform": name})
    with pytest.raises(PlatformUnavailable, match=name):
        EmbeddedPlatform(config, workers=0).start()
    with pytest.raises(PlatformUnavailable):
        service_identity(config, STORAGE)


def test_server_verdicts_are_reused_only_for_the_same_certificate_and_expected_service(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repeated connection skips re-verifying an identical certificate; a refusal is not
    remembered as a success and another expected service is verified afresh."""
    from teaclave.rpc import attested

    config = platform.config
    _, verifier = service_identity(config, FRONTEND)
    assert isinstance(verifier, attested.AttestedVerifier)
    calls: list[object] = []
    real = attested.verify_peer_certificate

    def counting(*args: object, **kwargs: object) -> object:
        if isinstance(args[1], str):  # server checks; registry checks pass sets of services
            calls.append(args[1])
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(attested, "verify_peer_certificate", counting)
    target = config.internal_endpoints["management"].target
    first = verifier.verify_server(target, MANAGEMENT)
    second = verifier.verify_server(target, MANAGEMENT)
    assert first == second
    assert calls == [MANAGEMENT]
    for _ in range(2):
        with pytest.raises(attested.PeerRefused):
            verifier.verify_server(target, STORAGE)
    assert calls == [MANAGEMENT, STORAGE, STORAGE]
