"""Helpers of the tee tests: fixture locations, a sim environment, and certificate forgery.

Forgery helpers build certificates and evidence *by hand* (cryptography only), the way an
attacker would, so the negative tests exercise the verifier on inputs our issuer never makes.
"""

from __future__ import annotations

import datetime
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from teaclave.config.build import (
    ACCESS_CONTROL,
    AUTHENTICATION,
    EXECUTION,
    FRONTEND,
    MANAGEMENT,
    SCHEDULER,
    STORAGE,
)
from teaclave.tee import (
    EnclaveInfo,
    EndorsedEvidence,
    SimPlatform,
    VerificationPolicy,
    generate_auditor_key,
    load_audited_enclave_info,
    sign_enclave_info,
)
from teaclave.tee.ratls import EVIDENCE_OID, report_data_for_key

ALL_SERVICES = (ACCESS_CONTROL, AUTHENTICATION, EXECUTION, FRONTEND, MANAGEMENT, SCHEDULER, STORAGE)
SHARED = (Path(__file__).resolve().parents[3] / "../shared/fixtures").resolve()
TEACLAVE_FIXTURES = SHARED / "teaclave"
DCAP_FIXTURES = SHARED / "dcap"
SRC_PACKAGE = Path(__file__).resolve().parents[3] / "src" / "teaclave"


def teaclave_fixtures() -> Path:
    """The Teaclave fixture folder, or skip the calling test."""
    if not (TEACLAVE_FIXTURES / "tls_ra_cert_v4.der").is_file():
        pytest.skip(f"Teaclave fixtures not found at {TEACLAVE_FIXTURES}")
    return TEACLAVE_FIXTURES


def dcap_fixtures() -> Path:
    """The real-quote fixture folder, or skip the calling test."""
    if not (DCAP_FIXTURES / "sgx_quote").is_file():
        pytest.skip(f"DCAP quote fixtures not found at {DCAP_FIXTURES}")
    return DCAP_FIXTURES


def utc(text: str) -> float:
    """Unix seconds of an ISO-8601 UTC time."""
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC).timestamp()


def copy_package(dest: Path) -> Path:
    """Copy the teaclave package (sources only) to ``dest``; measuring a copy is deterministic.

    Other work may edit ``src/`` while tests run; copies do not change under us.
    """
    shutil.copytree(SRC_PACKAGE, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def audited(tmp: Path, data: bytes, *, auditors: int = 2, quorum: int = 2) -> EnclaveInfo:
    """Write ``data`` as enclave_info, have ``auditors`` fresh keys sign it, load it audited."""
    tmp.mkdir(parents=True, exist_ok=True)
    info_path = tmp / "enclave_info.toml"
    info_path.write_bytes(data)
    sig_paths, key_paths = [], []
    for index in range(auditors):
        private, public = generate_auditor_key()
        (tmp / f"auditor{index}.public.pem").write_bytes(public)
        (tmp / f"auditor{index}.sign.sha256").write_bytes(sign_enclave_info(data, private))
        key_paths.append(tmp / f"auditor{index}.public.pem")
        sig_paths.append(tmp / f"auditor{index}.sign.sha256")
    return load_audited_enclave_info(info_path, sig_paths, key_paths, quorum=quorum)


@dataclass
class SimEnv:
    """A sim state directory, its platform, an audited enclave_info and a sim policy."""

    state_dir: Path
    package_root: Path
    platform: SimPlatform
    info: EnclaveInfo
    policy: VerificationPolicy
    extra: dict[str, object] = field(default_factory=dict)

    def policy_with(self, **overrides: object) -> VerificationPolicy:
        """The sim policy with some fields changed."""
        return VerificationPolicy.simulation(self.state_dir, self.info, **overrides)

    def quoting_key(self) -> ec.EllipticCurvePrivateKey:
        """The state directory's simulated quoting key (what a forger with disk access has)."""
        key = serialization.load_pem_private_key(
            (self.state_dir / "tee" / "sim_quoting_key.pem").read_bytes(), None
        )
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key

    def root_key(self) -> ec.EllipticCurvePrivateKey:
        """The simulated root key."""
        key = serialization.load_pem_private_key(
            (self.state_dir / "tee" / "sim_root_key.pem").read_bytes(), None
        )
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key


def make_sim_env(tmp: Path, package_root: Path, services: Iterable[str] = ALL_SERVICES) -> SimEnv:
    """A sim environment whose enclave_info lists ``services`` measured over ``package_root``."""
    state = tmp / "state"
    platform = SimPlatform(state, package_root=package_root)
    data = EnclaveInfo.render({s: platform.measurement(s) for s in services})
    info = audited(tmp / "audit", data)
    return SimEnv(
        state_dir=state,
        package_root=package_root,
        platform=platform,
        info=info,
        policy=VerificationPolicy.simulation(state, info),
    )


# ---------------------------------------------------------------------------- forgery
def new_key() -> ec.EllipticCurvePrivateKey:
    """A fresh P-256 key."""
    return ec.generate_private_key(ec.SECP256R1())


def rd(key: ec.EllipticCurvePrivateKey) -> bytes:
    """Report data binding ``key``."""
    return report_data_for_key(key.public_key())


def forge_cert(
    key: ec.EllipticCurvePrivateKey,
    evidence: EndorsedEvidence | bytes,
    *,
    critical: bool = False,
    not_before: float | None = None,
    not_after: float | None = None,
    signer: ec.EllipticCurvePrivateKey | None = None,
) -> bytes:
    """An RA-TLS-shaped certificate built by hand (DER); ``signer`` defaults to ``key``."""
    now = time.time()
    value = evidence if isinstance(evidence, bytes) else evidence.to_json()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "forged")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(
            datetime.datetime.fromtimestamp(
                now - 60 if not_before is None else not_before, datetime.UTC
            )
        )
        .not_valid_after(
            datetime.datetime.fromtimestamp(
                now + 3600 if not_after is None else not_after, datetime.UTC
            )
        )
        .add_extension(x509.UnrecognizedExtension(EVIDENCE_OID, value), critical=critical)
        .sign(signer or key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def make_ca(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    *,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    ca: bool = True,
) -> x509.Certificate:
    """A certificate for ``key``: self-signed root, or issued by ``issuer`` (CA or leaf)."""
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name = subject if issuer is None else issuer[0].subject
    signing_key = key if issuer is None else issuer[1]
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signing_key, hashes.SHA256())
    )


def der(cert: x509.Certificate) -> bytes:
    """DER bytes of a certificate."""
    return cert.public_bytes(serialization.Encoding.DER)


def sign_report(key: ec.EllipticCurvePrivateKey, report: bytes) -> bytes:
    """ECDSA-SHA256 over a report (what a quoting key does)."""
    return key.sign(report, ec.ECDSA(hashes.SHA256()))
