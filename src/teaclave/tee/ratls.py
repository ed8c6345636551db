"""RA-TLS certificates: a self-signed ECDSA P-256 certificate carrying evidence for its key.

The evidence (Teaclave's JSON payload, :class:`~teaclave.tee.evidence.EndorsedEvidence`) sits
in the **non-critical** extension OID 2.16.840.1.113730.1.13 as raw UTF-8 JSON bytes
(``spec/security.md`` §1.2/§1.3); the evidence's report data is the key's X‖Y (§1.6).

Layouts we emit:

* default — subject = issuer = ``CN=<service>, O=teaclave-py RA-TLS`` (the O also says
  "simulation — no hardware protection" for sim evidence), a random serial, a
  subjectAltName with the service name (so a pinned certificate passes gRPC's host-name
  check) and the evidence extension;
* ``teaclave_layout=True`` — Teaclave's exact shape for Rust/C SDK interop: serial 1, issuer
  ``CN=Teaclave``, subject ``CN=CN=Teaclave``, exactly one (non-critical) extension.

**Self-signature (decision).** Our certificates are properly self-signed. The parser requires
a valid self-signature, accepting two encodings: standard DER ECDSA, or Teaclave's malformed
one (the eight 32-bit limbs of r and s in reverse order; in ``tls_ra_cert_v4.der`` also without
the SEQUENCE tag and with a trailing byte) — both still prove that the key bound in the
evidence signed the certificate, so the framing leniency costs nothing. Requiring the
signature matters: for hardware (``dcap``) evidence it is what authenticates the report's
timestamp and the validity period, which sit in the extension inside the signed TBS.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

from teaclave.tee.errors import (
    CertificateError,
    CertificateSignatureInvalid,
    CriticalEvidenceExtension,
    MissingEvidence,
    UnsupportedKey,
)
from teaclave.tee.evidence import SIM_NOTICE, EndorsedEvidence

__all__ = [
    "EVIDENCE_OID",
    "RaTlsCertificate",
    "SelfSignature",
    "build_ratls_certificate",
    "parse_ratls_certificate",
    "report_data_for_key",
]

EVIDENCE_OID = x509.ObjectIdentifier("2.16.840.1.113730.1.13")


def report_data_for_key(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """The 64-byte report data binding ``public_key``: X‖Y, big-endian (§1.6)."""
    if not isinstance(public_key.curve, ec.SECP256R1):
        raise ValueError(f"RA-TLS key: must be P-256, got {public_key.curve.name}")
    point = public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return point[1:]


def build_ratls_certificate(
    key: ec.EllipticCurvePrivateKey,
    evidence: EndorsedEvidence,
    *,
    service_name: str,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
    simulated: bool = False,
    teaclave_layout: bool = False,
) -> x509.Certificate:
    """Build and self-sign an RA-TLS certificate for ``key`` carrying ``evidence``."""
    extension = x509.UnrecognizedExtension(EVIDENCE_OID, evidence.to_json())
    builder = x509.CertificateBuilder().public_key(key.public_key())
    builder = builder.not_valid_before(not_before).not_valid_after(not_after)
    if teaclave_layout:
        builder = (
            builder.serial_number(1)
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Teaclave")]))
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CN=Teaclave")]))
        )
    else:
        organization = "teaclave-py RA-TLS" + (f" ({SIM_NOTICE})" if simulated else "")
        # A random serialNumber makes every subject unique: servers hold several self-signed
        # certificates of one service as client roots (two workers, an identity and its
        # renewal), and BoringSSL looks trust anchors up by subject name.
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                x509.NameAttribute(NameOID.COMMON_NAME, service_name),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, os.urandom(16).hex()),
            ]
        )
        builder = (
            builder.serial_number(x509.random_serial_number())
            .issuer_name(name)
            .subject_name(name)
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(service_name)]), critical=False
            )
        )
    builder = builder.add_extension(extension, critical=False)
    return builder.sign(key, hashes.SHA256())


class SelfSignature(StrEnum):
    """How the certificate's self-signature was encoded."""

    STANDARD = "standard"
    TEACLAVE_QUIRK = "teaclave-quirk"


@dataclass(frozen=True, slots=True)
class RaTlsCertificate:
    """A structurally valid RA-TLS certificate (evidence not yet verified)."""

    certificate: x509.Certificate
    public_key: ec.EllipticCurvePublicKey
    report_data: bytes
    evidence: EndorsedEvidence
    self_signature: SelfSignature
    not_before: float
    not_after: float


def _der_integers(data: bytes) -> list[int]:
    values: list[int] = []
    pos = 0
    while pos + 2 <= len(data) and data[pos] == 0x02 and len(values) < 2:
        length = data[pos + 1]
        values.append(int.from_bytes(data[pos + 2 : pos + 2 + length], "big"))
        pos += 2 + length
    return values


def _reverse_limbs(value: int) -> int | None:
    if not 0 < value < (1 << 256):
        return None
    raw = value.to_bytes(32, "big")
    return int.from_bytes(b"".join(raw[i : i + 4] for i in range(28, -4, -4)), "big")


def _teaclave_quirk_signature(signature: bytes) -> bytes | None:
    """Re-encode Teaclave's limb-reversed (r, s) as standard DER, or None if not that shape."""
    body = signature[2:] if signature[:1] == b"\x30" else signature[1:]
    values = _der_integers(body)
    if len(values) != 2:
        return None
    r, s = (_reverse_limbs(v) for v in values)
    if not r or not s:
        return None
    return encode_dss_signature(r, s)


def _check_self_signature(cert: x509.Certificate, key: ec.EllipticCurvePublicKey) -> SelfSignature:
    if cert.signature_algorithm_oid != SignatureAlgorithmOID.ECDSA_WITH_SHA256:
        raise CertificateSignatureInvalid(
            f"certificate signature algorithm: {cert.signature_algorithm_oid.dotted_string} "
            "is not ecdsa-with-SHA256"
        )
    algorithm = ec.ECDSA(hashes.SHA256())
    try:
        key.verify(cert.signature, cert.tbs_certificate_bytes, algorithm)
        return SelfSignature.STANDARD
    except InvalidSignature:
        pass
    quirk = _teaclave_quirk_signature(cert.signature)
    if quirk is not None:
        try:
            key.verify(quirk, cert.tbs_certificate_bytes, algorithm)
            return SelfSignature.TEACLAVE_QUIRK
        except InvalidSignature:
            pass
    raise CertificateSignatureInvalid(
        "certificate self-signature: does not verify under the certificate's own key "
        "(neither standard nor Teaclave's limb-reversed encoding)"
    )


def parse_ratls_certificate(der: bytes) -> RaTlsCertificate:
    """Check the certificate's shape, key, self-signature and extension; parse the payload."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise CertificateError(f"certificate: not a DER X.509 certificate ({exc})") from None
    try:
        public_key = cert.public_key()
    except (ValueError, TypeError) as exc:
        raise UnsupportedKey(f"certificate key: cannot be parsed ({exc})") from None
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1
    ):
        raise UnsupportedKey(
            f"certificate key: must be ECDSA P-256, got {type(public_key).__name__}"
        )
    try:
        extensions = cert.extensions
    except (ValueError, x509.DuplicateExtension) as exc:
        raise CertificateError(f"certificate extensions: malformed ({exc})") from None
    found = [ext for ext in extensions if ext.oid == EVIDENCE_OID]
    if not found:
        raise MissingEvidence(
            f"certificate: no evidence extension (OID {EVIDENCE_OID.dotted_string})"
        )
    ext = found[0]
    if ext.critical:
        raise CriticalEvidenceExtension(
            f"evidence extension {EVIDENCE_OID.dotted_string}: marked critical; RA-TLS "
            "requires it non-critical"
        )
    if not isinstance(ext.value, x509.UnrecognizedExtension):
        raise CertificateError(f"evidence extension {EVIDENCE_OID.dotted_string}: unexpected type")
    self_signature = _check_self_signature(cert, public_key)
    return RaTlsCertificate(
        certificate=cert,
        public_key=public_key,
        report_data=report_data_for_key(public_key),
        evidence=EndorsedEvidence.from_json(ext.value.value),
        self_signature=self_signature,
        not_before=cert.not_valid_before_utc.timestamp(),
        not_after=cert.not_valid_after_utc.timestamp(),
    )
