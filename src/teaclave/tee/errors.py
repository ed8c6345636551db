"""Errors of ``teaclave.tee``: every refusal is a specific :class:`AttestationError` subclass.

Each message names what failed (which certificate field, which measurement, which time bound,
expected versus actual values), so ``teaclave attest`` can print exactly why a peer is refused
and a service can log it. Programming errors (a policy naming an unknown platform, a report data
block of the wrong size) are plain :class:`ValueError`.
"""

from __future__ import annotations

__all__ = [
    "AttestationError",
    "AuditError",
    "AuditorQuorumNotMet",
    "AuditorSignatureInvalid",
    "AuditorSignatureMissing",
    "CertificateError",
    "CertificateExpired",
    "CertificateNotYetValid",
    "CertificateSignatureInvalid",
    "ChainError",
    "CollateralExpired",
    "CollateralUnavailable",
    "CriticalEvidenceExtension",
    "DebugEnclaveRejected",
    "EnclaveInfoError",
    "EvidenceExpired",
    "EvidenceFormatError",
    "EvidenceFromFuture",
    "EvidenceGenerationFailed",
    "EvidenceSignatureInvalid",
    "EvidenceSuperseded",
    "FreshnessError",
    "MeasurementMismatch",
    "MissingEvidence",
    "PlatformUnavailable",
    "QuoteRejected",
    "ReportDataMismatch",
    "RootInEvidence",
    "SealedByDifferentCode",
    "SealedDataCorrupted",
    "SealingError",
    "SealingUnavailable",
    "TcbStatusRejected",
    "UnknownService",
    "UnsupportedApiVersion",
    "UnsupportedKey",
    "UnsupportedPlatform",
    "UntrustedChain",
]


class AttestationError(Exception):
    """Base class: evidence could not be produced, or a peer/identity is refused."""


# ------------------------------------------------------------------------- platforms
class PlatformUnavailable(AttestationError):
    """The configured TEE platform is not present (the message names the missing device)."""


class EvidenceGenerationFailed(AttestationError):
    """The platform is present but did not produce evidence (device error, race, bad size)."""


# ------------------------------------------------------------------------- certificates
class CertificateError(AttestationError):
    """The RA-TLS certificate is malformed or does not have the required shape."""


class MissingEvidence(CertificateError):
    """The certificate carries no evidence extension (OID 2.16.840.1.113730.1.13)."""


class CriticalEvidenceExtension(CertificateError):
    """The evidence extension is marked critical; RA-TLS requires it non-critical."""


class CertificateSignatureInvalid(CertificateError):
    """The certificate's self-signature does not verify under its own key."""


class UnsupportedKey(CertificateError):
    """The certificate key is not an ECDSA P-256 key."""


# ------------------------------------------------------------------------- evidence
class EvidenceFormatError(AttestationError):
    """The extension payload, the report JSON or the quote inside it is malformed."""


class UnsupportedApiVersion(EvidenceFormatError):
    """The report is not attestation API version 4 (e.g. Teaclave's old EPID/IAS v3 format)."""


class UnsupportedPlatform(AttestationError):
    """The evidence comes from a platform the policy does not accept or cannot verify."""


class ChainError(AttestationError):
    """The certificates endorsing the evidence do not lead to a configured root."""


class RootInEvidence(ChainError):
    """The evidence carries a self-issued (root) certificate; only intermediates are allowed."""


class UntrustedChain(ChainError):
    """``certs[0]`` does not chain (through ``certs[1:]``) to any configured root."""


class EvidenceSignatureInvalid(AttestationError):
    """The report's signature does not verify under the endorsing certificate ``certs[0]``."""


class QuoteRejected(AttestationError):
    """A hardware quote failed verification (signature, PCK chain, collateral, framing)."""


class CollateralExpired(QuoteRejected):
    """The quote's collateral (TCB info, QE identity, CRLs) is not valid at the given time."""


class CollateralUnavailable(AttestationError):
    """No collateral is configured or obtainable for this quote."""


class TcbStatusRejected(AttestationError):
    """The platform's TCB status is not in the policy's allow-list."""

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


class DebugEnclaveRejected(AttestationError):
    """The enclave (or TD) runs in debug mode and the policy does not allow debug."""


class ReportDataMismatch(AttestationError):
    """The evidence's report data is not the certificate's public key (evidence moved)."""


# ------------------------------------------------------------------------- freshness
class FreshnessError(AttestationError):
    """The evidence or the certificate is outside its validity window."""


class EvidenceExpired(FreshnessError):
    """The evidence is older than the policy's ``attestation_validity_secs``."""


class EvidenceFromFuture(FreshnessError):
    """The evidence timestamp is later than now (beyond the allowed clock skew)."""


class EvidenceSuperseded(FreshnessError):
    """The evidence was issued before the policy's ``not_before`` instant."""


class CertificateExpired(FreshnessError):
    """The certificate's notAfter has passed."""


class CertificateNotYetValid(FreshnessError):
    """The certificate's notBefore is in the future."""


# ------------------------------------------------------------------------- identities
class MeasurementMismatch(AttestationError):
    """The attested measurement is not the one enclave_info lists for the expected service."""


class UnknownService(AttestationError):
    """enclave_info has no entry for the expected service."""


class EnclaveInfoError(AttestationError):
    """enclave_info.toml is malformed (the message names the table and key)."""


class AuditError(AttestationError):
    """enclave_info is not endorsed by enough auditors."""


class AuditorSignatureMissing(AuditError):
    """No auditor signature was supplied."""


class AuditorSignatureInvalid(AuditError):
    """A supplied signature verifies under none of the auditor keys."""


class AuditorQuorumNotMet(AuditError):
    """Fewer distinct auditor keys signed than the quorum requires."""


# ------------------------------------------------------------------------- sealing
class SealingError(AttestationError):
    """Sealed data could not be produced or opened."""


class SealingUnavailable(SealingError):
    """The platform offers no sealing key (or its root secret is unusable)."""


class SealedByDifferentCode(SealingError):
    """The blob was sealed by a different enclave identity: the code changed."""


class SealedDataCorrupted(SealingError):
    """The blob is not a sealed blob, was modified, or its AAD/root secret differs."""
