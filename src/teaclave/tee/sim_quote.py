"""The simulated quoting infrastructure — simulation — no hardware protection.

Kept in ``<state>/tee`` (created on first use, atomically; keys 0600)::

    sim_root_cert.pem / sim_root_key.pem          simulated root CA ("Intel" of the sim)
    sim_quoting_cert.pem / sim_quoting_key.pem    simulated quoting key, certified by the root
    sim_enclave_signing_key.pem                   simulated enclave signing key (→ MRSIGNER)
    root_secret                                   32 random bytes, the sealing root (0600)

A sim quote is a 432-byte SGX quote body (``spec/security.md`` §1.5: MRENCLAVE at 112, the
DEBUG attribute, MRSIGNER at 176, ISV prod id/svn, report_data at 368 = the TLS key) inside a
``sim`` report document with a timestamp, signed (ECDSA P-256, SHA-256) by the quoting key;
the evidence's ``certs`` is ``[quoting certificate]``. Anyone who can read the state directory
can mint such quotes: a sim identity proves which code a *cooperating* host runs, nothing more.
"""

from __future__ import annotations

import datetime
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from teaclave.tee._files import TEE_DIR, ensure_dir, key_pem, load_ec_key, write_private
from teaclave.tee.evidence import SIM_NOTICE, EndorsedEvidence, sim_report
from teaclave.tee.measurement import mr_signer_of
from teaclave.tee.quote_body import (
    ATTRIBUTE_DEBUG,
    ATTRIBUTE_INIT,
    ATTRIBUTE_MODE64BIT,
    QuoteBody,
)

__all__ = [
    "ROOT_SECRET_FILE",
    "SIM_ISV_PROD_ID",
    "SIM_ISV_SVN",
    "SIM_NOTICE",
    "SIM_QE_VENDOR_ID",
    "SIM_ROOT_CERT_FILE",
    "SimQuotingAuthority",
    "sim_quote_body",
]

SIM_ROOT_CERT_FILE = "sim_root_cert.pem"
SIM_ROOT_KEY_FILE = "sim_root_key.pem"
SIM_QUOTING_CERT_FILE = "sim_quoting_cert.pem"
SIM_QUOTING_KEY_FILE = "sim_quoting_key.pem"
SIM_SIGNING_KEY_FILE = "sim_enclave_signing_key.pem"
ROOT_SECRET_FILE = "root_secret"

#: QE vendor id of the simulated quoting enclave (Intel's is 939a7233-f79c-4ca9-940a-0db3957f0607).
SIM_QE_VENDOR_ID = b"TEACLAVE-SIM-QE\x00"
SIM_ISV_PROD_ID = 1
SIM_ISV_SVN = 1
_XFRM = 0x3  # x87 + SSE
_CA_YEARS = 10


def sim_quote_body(
    mr_enclave: bytes,
    mr_signer: bytes,
    report_data: bytes,
    *,
    debug: bool = False,
    isv_prod_id: int = SIM_ISV_PROD_ID,
    isv_svn: int = SIM_ISV_SVN,
) -> QuoteBody:
    """A version-3 (ECDSA P-256) quote body for the simulated enclave."""
    flags = ATTRIBUTE_INIT | ATTRIBUTE_MODE64BIT | (ATTRIBUTE_DEBUG if debug else 0)
    return QuoteBody(
        version=3,
        key_type=2,
        epid_group_id=0,
        qe_svn=0,
        pce_svn=0,
        qe_vendor_id=SIM_QE_VENDOR_ID,
        user_data=bytes(20),
        cpu_svn=bytes(16),
        misc_select=0,
        attribute_flags=flags,
        xfrm=_XFRM,
        mr_enclave=mr_enclave,
        mr_signer=mr_signer,
        isv_prod_id=isv_prod_id,
        isv_svn=isv_svn,
        report_data=report_data,
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"teaclave-py ({SIM_NOTICE})"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _populate(directory: Path) -> None:
    now = datetime.datetime.now(datetime.UTC)
    suffix = os.urandom(4).hex()
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(f"Teaclave simulated attestation root {suffix}")
    root_ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365 * _CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(root_ski, critical=False)
        .sign(root_key, hashes.SHA256())
    )
    quoting_key = ec.generate_private_key(ec.SECP256R1())
    quoting = (
        x509.CertificateBuilder()
        .subject_name(_name(f"Teaclave simulated quoting key {suffix}"))
        .issuer_name(root_name)
        .public_key(quoting_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365 * _CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(quoting_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    write_private(directory / SIM_ROOT_KEY_FILE, key_pem(root_key))
    (directory / SIM_ROOT_CERT_FILE).write_bytes(root.public_bytes(pem))
    write_private(directory / SIM_QUOTING_KEY_FILE, key_pem(quoting_key))
    (directory / SIM_QUOTING_CERT_FILE).write_bytes(quoting.public_bytes(pem))
    write_private(
        directory / SIM_SIGNING_KEY_FILE, key_pem(ec.generate_private_key(ec.SECP256R1()))
    )
    write_private(directory / ROOT_SECRET_FILE, os.urandom(32))


@dataclass(frozen=True, slots=True)
class SimQuotingAuthority:
    """The simulated root, quoting key and enclave signing key of one state directory."""

    directory: Path
    root_cert: x509.Certificate
    quoting_cert: x509.Certificate
    quoting_key: ec.EllipticCurvePrivateKey
    mr_signer: bytes

    @classmethod
    def load_or_create(cls, state_dir: str | os.PathLike[str]) -> SimQuotingAuthority:
        """Load ``<state_dir>/tee``, creating it (race-free) on first use."""
        directory = Path(state_dir) / TEE_DIR
        ensure_dir(directory, _populate)
        signing_key = load_ec_key(directory / SIM_SIGNING_KEY_FILE)
        return cls(
            directory=directory,
            root_cert=x509.load_pem_x509_certificate((directory / SIM_ROOT_CERT_FILE).read_bytes()),
            quoting_cert=x509.load_pem_x509_certificate(
                (directory / SIM_QUOTING_CERT_FILE).read_bytes()
            ),
            quoting_key=load_ec_key(directory / SIM_QUOTING_KEY_FILE),
            mr_signer=mr_signer_of(signing_key.public_key()),
        )

    @property
    def root_der(self) -> bytes:
        """The simulated root certificate, DER (what a sim verification policy trusts)."""
        return self.root_cert.public_bytes(serialization.Encoding.DER)

    @property
    def root_secret_path(self) -> Path:
        """Where the sealing root secret lives."""
        return self.directory / ROOT_SECRET_FILE

    def endorse(self, body: QuoteBody, issued_at: float) -> EndorsedEvidence:
        """Sign ``body`` into a ``sim`` report: the evidence payload of an RA-TLS certificate."""
        report = sim_report(body.pack(), issued_at, uuid.uuid4().hex)
        signature = self.quoting_key.sign(report, ec.ECDSA(hashes.SHA256()))
        return EndorsedEvidence(
            report=report,
            signature=signature,
            certs=(self.quoting_cert.public_bytes(serialization.Encoding.DER),),
        )

    def __repr__(self) -> str:
        return f"SimQuotingAuthority({self.directory}; {SIM_NOTICE})"
