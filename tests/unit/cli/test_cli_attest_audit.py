"""``teaclave attest`` against real services and served certificates; ``teaclave audit``."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from teaclave.binder import ECallCommand, StartServiceInput, StartServiceOutput, TeeBinder
from teaclave.cli.main import main
from teaclave.config.build import STORAGE
from teaclave.config.runtime import RuntimeConfig, default_dict
from teaclave.services.embedded import free_port
from teaclave.tee import (
    SIM_NOTICE,
    AttestedIdentity,
    EnclaveIdentity,
    EnclaveInfo,
    SimPlatform,
    issue_attested_identity,
    measure_service,
)

SRC_PACKAGE = Path(__file__).resolve().parents[3] / "src" / "teaclave"


# ---------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RuntimeConfig, Path]]:
    """A real storage service (in-process, attested with sim) and its state directory."""
    state = tmp_path_factory.mktemp("state")
    config = RuntimeConfig.from_dict(
        default_dict(
            host="127.0.0.1", state_dir=str(state), internal_ports={"storage": free_port()}
        )
    )
    tee = TeeBinder(STORAGE, mode="in-process")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            tee.invoke(ECallCommand.START_SERVICE, StartServiceInput(config), StartServiceOutput)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not tee.wait_ready(0.02):
        if not thread.is_alive() or time.monotonic() > deadline:
            tee.finalize()
            raise RuntimeError(f"storage did not start: {errors}")
    yield config, state
    tee.finalize()
    thread.join(10)


class CertServer:
    """A loopback TLS server presenting one identity (ALPN h2), handshake only."""

    def __init__(self, identity: AttestedIdentity, tmp: Path) -> None:
        cert, key = tmp / "served.pem", tmp / "served.key"
        cert.write_bytes(identity.cert_pem)
        key.write_bytes(identity.key_pem)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.context.set_alpn_protocols(["h2"])
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        self.sock.close()


def attest(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["attest", *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def served(identity: AttestedIdentity, tmp: Path, capsys, *argv: str) -> tuple[int, str]:
    server = CertServer(identity, tmp)
    try:
        return attest(capsys, server.address, *argv)
    finally:
        server.close()


# ---------------------------------------------------------------------------- attest
def test_attest_shows_a_running_services_verified_identity(storage, capsys):
    config, state = storage
    target = config.internal_endpoints["storage"].target
    code, out = attest(capsys, target, "--state-dir", str(state))
    assert code == 0, out
    assert out.startswith(f"VERIFIED {target}")
    assert "service:     teaclave_storage_service" in out
    assert f"platform:    sim  [{SIM_NOTICE}]" in out
    platform = SimPlatform(state)
    assert f"MRENCLAVE:   {measure_service(STORAGE).hex()}" in out
    assert f"MRSIGNER:    {platform.measurement(STORAGE).mr_signer.hex()}" in out
    assert "TCB status:  " in out and "debug:       no" in out and "valid until: " in out
    assert "(audited by 2 auditor key(s))" in out
    assert f"WARNING: {SIM_NOTICE}" in out


def test_attest_without_a_trusted_sim_root_refuses(storage, capsys):
    config, _ = storage
    code, out = attest(capsys, config.internal_endpoints["storage"].target)
    assert code == 1
    assert "REFUSED" in out
    assert "UnsupportedPlatform: evidence platform 'sim' is not accepted by this policy" in out


def test_attest_with_another_sim_root_refuses(storage, tmp_path, capsys):
    config, _ = storage
    other = SimPlatform(tmp_path / "other")
    code, out = attest(
        capsys,
        config.internal_endpoints["storage"].target,
        "--root",
        str(other.authority.directory / "sim_root_cert.pem"),
    )
    assert code == 1
    assert "REFUSED" in out and "UntrustedChain" in out


def test_attest_checks_the_measurement_against_an_audited_enclave_info(storage, tmp_path, capsys):
    config, state = storage
    wrong = EnclaveInfo.render(
        {STORAGE: EnclaveIdentity(mr_enclave=b"\x11" * 32, mr_signer=b"\x22" * 32)}
    )
    info = tmp_path / "enclave_info.toml"
    info.write_bytes(wrong)
    assert (
        main(
            [
                "audit",
                "keygen",
                "--out",
                str(tmp_path / "a.key"),
                "--public",
                str(tmp_path / "a.pub"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "audit",
                "sign",
                "--key",
                str(tmp_path / "a.key"),
                "--enclave-info",
                str(info),
                "--out",
                str(tmp_path / "a.sig"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    target = config.internal_endpoints["storage"].target
    code, out = attest(
        capsys, target, "--state-dir", str(state), "--enclave-info", str(info),
        "--signature", str(tmp_path / "a.sig"), "--public-key", str(tmp_path / "a.pub"),
    )  # fmt: skip
    assert code == 1
    assert "MeasurementMismatch: measurement: attested MRENCLAVE" in out
    # the same enclave_info with a signature it does not carry is refused before anything else
    (tmp_path / "bad.sig").write_bytes(b"\0" * 64)
    code, out = attest(
        capsys, target, "--state-dir", str(state), "--enclave-info", str(info),
        "--signature", str(tmp_path / "bad.sig"), "--public-key", str(tmp_path / "a.pub"),
    )  # fmt: skip
    assert code == 1 and "AuditorSignatureInvalid" in out


def test_attest_refuses_a_tampered_service(storage, tmp_path, capsys):
    """A service running modified code (same sim root) no longer matches enclave_info."""
    _, state = storage
    modified = tmp_path / "pkg" / "teaclave"
    shutil.copytree(SRC_PACKAGE, modified, ignore=shutil.ignore_patterns("__pycache__"))
    with (modified / "services" / "storage" / "service.py").open("a") as fh:
        fh.write("\n# tampered: leak everything\n")
    platform = SimPlatform(state, package_root=modified)
    identity = issue_attested_identity(STORAGE, platform, validity_secs=600)
    code, out = served(identity, tmp_path, capsys, "--state-dir", str(state))
    assert code == 1
    assert "REFUSED" in out and "MeasurementMismatch" in out
    assert identity.mr_enclave.hex() in out


def test_attest_debug_enclave_needs_allow_debug(storage, tmp_path, capsys):
    _, state = storage
    debug = SimPlatform(state, debug=True)
    identity = issue_attested_identity(STORAGE, debug, validity_secs=600)
    code, out = served(identity, tmp_path, capsys, "--state-dir", str(state))
    assert code == 1 and "DebugEnclaveRejected" in out
    code, out = served(identity, tmp_path, capsys, "--state-dir", str(state), "--allow-debug")
    assert code == 0, out
    assert "debug:       yes" in out


def test_attest_served_identity_without_enclave_info(tmp_path, capsys):
    platform = SimPlatform(tmp_path / "state")
    identity = issue_attested_identity(STORAGE, platform, validity_secs=600)
    root = platform.authority.directory / "sim_root_cert.pem"
    code, out = served(identity, tmp_path, capsys, "--root", str(root))
    assert code == 0, out
    assert "service:     (evidence only" in out
    assert (
        "--service: needs an enclave_info"
        in served(identity, tmp_path, capsys, "--root", str(root), "--service", STORAGE)[1]
    )


def test_attest_unreachable_and_bad_address(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out = attest(capsys, f"127.0.0.1:{port}", "--timeout", "2")
    assert code == 1 and "cannot fetch the certificate" in out
    code, out = attest(capsys, "no-port-here")
    assert code == 2 and "expected HOST:PORT" in out


# ---------------------------------------------------------------------------- audit
def audit(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["audit", *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture
def signed(tmp_path: Path, capsys) -> Path:
    """enclave_info.toml signed by auditors a and b (keys and signatures next to it)."""
    info = tmp_path / "enclave_info.toml"
    info.write_bytes(
        EnclaveInfo.render(
            {STORAGE: EnclaveIdentity(mr_enclave=b"\x01" * 32, mr_signer=b"\x02" * 32)}
        )
    )
    for name in ("a", "b"):
        key, pub, sig = (tmp_path / f"{name}.{ext}" for ext in ("key", "pub", "sig"))
        assert audit(capsys, "keygen", "--out", str(key), "--public", str(pub))[0] == 0
        assert (
            audit(
                capsys, "sign", "--key", str(key), "--enclave-info", str(info), "--out", str(sig)
            )[0]
            == 0
        )
    return tmp_path


def verify(capsys, d: Path, sigs: list[str], keys: list[str], *extra: str) -> tuple[int, str]:
    return audit(
        capsys, "verify", "--enclave-info", str(d / "enclave_info.toml"),
        "--signature", *[str(d / s) for s in sigs],
        "--public-key", *[str(d / k) for k in keys], *extra,
    )  # fmt: skip


def test_keygen_writes_a_private_key_0600_and_never_overwrites(tmp_path, capsys):
    key, pub = tmp_path / "k.pem", tmp_path / "k.pub"
    code, out = audit(capsys, "keygen", "--out", str(key), "--public", str(pub))
    assert code == 0 and "fingerprint: " in out
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in key.read_bytes() and b"PUBLIC KEY" in pub.read_bytes()
    before = key.read_bytes()
    code, out = audit(capsys, "keygen", "--out", str(key))
    assert code == 1 and "exists; refusing to overwrite" in out
    assert key.read_bytes() == before
    other = tmp_path / "other.pem"
    code, out = audit(capsys, "keygen", "--out", str(other), "--public", str(pub))
    assert code == 1 and not other.exists()  # checked before anything is written
    code, out = audit(capsys, "keygen", "--out", str(tmp_path / "p.pem"), "--type", "ecdsa-p256")
    assert code == 0 and "-----BEGIN PUBLIC KEY-----" in out  # printed without --public


def test_verify_successfully(signed, capsys):
    code, out = verify(capsys, signed, ["a.sig", "b.sig"], ["a.pub", "b.pub"])
    assert (code, out) == (0, "Verify successfully.\n")
    code, out = verify(capsys, signed, ["b.sig"], ["a.pub", "b.pub"], "--quorum", "1")
    assert (code, out) == (0, "Verify successfully.\n")


def test_verify_quorum_not_met(signed, capsys):
    code, out = verify(capsys, signed, ["a.sig"], ["a.pub", "b.pub"])  # default: all auditors
    assert code == 1
    assert out.startswith("Failed to verify signatures: auditor quorum: 1 distinct auditor(s)")


def test_verify_duplicate_signatures_count_once(signed, capsys):
    code, out = verify(capsys, signed, ["a.sig", "a.sig"], ["a.pub", "b.pub"], "--quorum", "2")
    assert code == 1
    assert "Failed to verify signatures: auditor quorum: 1 distinct" in out
    assert "duplicates count once" in out


def test_verify_wrong_key(signed, capsys):
    code, out = verify(capsys, signed, ["a.sig"], ["b.pub"])
    assert code == 1
    assert out.startswith("Failed to verify signatures: auditor signature #0: verifies under none")


def test_verify_modified_enclave_info_and_missing_signature(signed, capsys):
    info = signed / "enclave_info.toml"
    info.write_bytes(info.read_bytes().replace(b"0101", b"0303", 1))
    code, out = verify(capsys, signed, ["a.sig", "b.sig"], ["a.pub", "b.pub"])
    assert code == 1 and "verifies under none" in out
    code, out = verify(capsys, signed, ["missing.sig"], ["a.pub"])
    assert code == 1 and out.startswith("Failed to verify signatures: signature ")


def test_sign_refuses_an_invalid_enclave_info(tmp_path, capsys):
    assert (
        audit(capsys, "keygen", "--out", str(tmp_path / "k"), "--public", str(tmp_path / "p"))[0]
        == 0
    )
    bad = tmp_path / "enclave_info.toml"
    bad.write_text('[teaclave_storage_service]\nmr_enclave = "abc"\n')
    code, out = audit(
        capsys,
        "sign",
        "--key",
        str(tmp_path / "k"),
        "--enclave-info",
        str(bad),
        "--out",
        str(tmp_path / "s"),
    )
    assert code == 1 and "mr_enclave: must be 64 lowercase hex characters" in out
    assert not (tmp_path / "s").exists()
    os.chmod(tmp_path / "k", 0o600)
