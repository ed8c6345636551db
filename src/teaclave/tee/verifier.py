"""Verify a peer's RA-TLS certificate against a :class:`VerificationPolicy`.

``verify_peer_certificate(der, expected_service, policy)`` runs, in order, and stops at the
first failure with a specific :class:`~teaclave.tee.errors.AttestationError`:

1. certificate shape: P-256 key, evidence extension present and non-critical, valid
   self-signature (standard or Teaclave's limb-reversed encoding) — ``ratls``;
2. payload and report parsing; API version 4 (Teaclave's v3 certificates stop here);
3. platform accepted by the policy;
4. authentication of the report —
   * ``sim`` / ``as-report``: no self-issued certificate in ``certs`` (roots come only from the
     policy), ``certs[0]`` chains through ``certs[1:]`` to the policy roots *for that kind*, and
     ``signature`` verifies over ``report`` under ``certs[0]`` (ECDSA-SHA256 or
     RSA-PKCS#1-v1.5-SHA256); the 432-byte body is parsed (sim: the sim QE vendor id);
   * ``dcap``: the raw quote verifies with dcap-qvl against the policy's collateral and root;
5. report data == the certificate key's X‖Y (evidence cannot be moved to another key);
6. debug refused unless ``allow_debug``; TCB status in ``tcb_allow``;
7. freshness: certificate within notBefore/notAfter, evidence not from the future, not older
   than ``attestation_validity_secs``, not issued before ``not_before``;
8. the measurement equals enclave_info's entry for the expected service (or one of them).

Chains are cached per (roots, certs) with their validity window, so a repeat verification costs
two ECDSA verifications (certificate self-signature and report signature) plus parsing.
"""

from __future__ import annotations

import dataclasses
import datetime
import threading
import time
from collections.abc import Collection

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import verification

from teaclave.tee.dcap import check_quote
from teaclave.tee.enclave_info import EnclaveInfo
from teaclave.tee.errors import (
    CertificateExpired,
    CertificateNotYetValid,
    CollateralUnavailable,
    DebugEnclaveRejected,
    EvidenceExpired,
    EvidenceFormatError,
    EvidenceFromFuture,
    EvidenceSignatureInvalid,
    EvidenceSuperseded,
    MeasurementMismatch,
    ReportDataMismatch,
    RootInEvidence,
    TcbStatusRejected,
    UnknownService,
    UnsupportedPlatform,
    UntrustedChain,
)
from teaclave.tee.evidence import AttestationReport, EndorsedEvidence, ReportKind, parse_report
from teaclave.tee.identity import VerifiedIdentity
from teaclave.tee.policy import VerificationPolicy, trust_store
from teaclave.tee.quote_body import QuoteBody
from teaclave.tee.ratls import RaTlsCertificate, parse_ratls_certificate
from teaclave.tee.sim_quote import SIM_QE_VENDOR_ID

__all__ = ["match_service", "verify_certificate_evidence", "verify_peer_certificate"]


def _require_ca(
    policy: verification.Policy, cert: x509.Certificate, value: x509.BasicConstraints | None
) -> None:
    if value is None or not value.ca:
        raise ValueError("issuer is not a CA (basicConstraints cA is false)")


# Roots such as Teaclave's "Teaclave Root CA" lack keyUsage and AKI, so webpki's default
# extension policies are too strict; what matters is that every issuer is a CA (cryptography
# also enforces cA for issuers itself; the validator keeps that explicit).
_CA_POLICY = verification.ExtensionPolicy.permit_all().require_present(
    x509.BasicConstraints, verification.Criticality.AGNOSTIC, _require_ca
)
_EE_POLICY = verification.ExtensionPolicy.permit_all()
_MAX_CHAIN_DEPTH = 4

_chain_lock = threading.Lock()
_chain_windows: dict[tuple[tuple[bytes, ...], tuple[bytes, ...]], tuple[float, float]] = {}
_CHAIN_CACHE_SIZE = 256


def _utc(unix_secs: float) -> str:
    return datetime.datetime.fromtimestamp(unix_secs, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _verify_chain(
    roots: tuple[bytes, ...],
    certs_der: tuple[bytes, ...],
    certs: list[x509.Certificate],
    when: float,
) -> None:
    key = (roots, certs_der)
    with _chain_lock:
        window = _chain_windows.get(key)
    if window is not None and window[0] <= when <= window[1]:
        return
    verifier = (
        verification.PolicyBuilder()
        .store(trust_store(roots))
        .time(datetime.datetime.fromtimestamp(when, datetime.UTC))
        .max_chain_depth(_MAX_CHAIN_DEPTH)
        .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
        .build_client_verifier()
    )
    try:
        chain = verifier.verify(certs[0], certs[1:]).chain
    except verification.VerificationError as exc:
        raise UntrustedChain(
            f"evidence certs[0] ({certs[0].subject.rfc4514_string()}) does not chain to a "
            f"configured root at {_utc(when)}: {exc}"
        ) from None
    window = (
        max(c.not_valid_before_utc.timestamp() for c in chain),
        min(c.not_valid_after_utc.timestamp() for c in chain),
    )
    with _chain_lock:
        if len(_chain_windows) >= _CHAIN_CACHE_SIZE:
            _chain_windows.clear()
        _chain_windows[key] = window


def _verify_endorsement(
    evidence: EndorsedEvidence, roots: tuple[bytes, ...], kind: ReportKind, when: float
) -> None:
    if not evidence.certs:
        raise UntrustedChain(f"{kind.value} evidence: no endorsing certificate (certs is empty)")
    certs: list[x509.Certificate] = []
    for index, der in enumerate(evidence.certs):
        try:
            cert = x509.load_der_x509_certificate(der)
            self_issued = cert.issuer == cert.subject
        except ValueError as exc:
            raise EvidenceFormatError(
                f"evidence certs[{index}]: not a certificate ({exc})"
            ) from None
        if self_issued:
            raise RootInEvidence(
                f"evidence certs[{index}] ({cert.subject.rfc4514_string()}) is self-issued: "
                "evidence may carry only the signing certificate and intermediates, roots come "
                "from the verification policy"
            )
        certs.append(cert)
    if not roots:
        raise UntrustedChain(f"{kind.value} evidence: the policy configures no roots for it")
    _verify_chain(roots, evidence.certs, certs, when)
    signer = certs[0].public_key()
    try:
        if isinstance(signer, ec.EllipticCurvePublicKey):
            signer.verify(evidence.signature, evidence.report, ec.ECDSA(hashes.SHA256()))
        elif isinstance(signer, rsa.RSAPublicKey):
            signer.verify(evidence.signature, evidence.report, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise EvidenceSignatureInvalid(
                f"evidence certs[0]: unsupported signing key {type(signer).__name__}"
            )
    except (InvalidSignature, ValueError):
        raise EvidenceSignatureInvalid(
            f"evidence signature: does not verify over the report under certs[0] "
            f"({certs[0].subject.rfc4514_string()})"
        ) from None


@dataclasses.dataclass(frozen=True, slots=True)
class _Claims:
    mr_enclave: bytes
    mr_signer: bytes
    report_data: bytes
    debug: bool
    status: str
    advisory_ids: tuple[str, ...] = ()
    rtmrs: tuple[bytes, ...] = ()
    isv_prod_id: int = 0
    isv_svn: int = 0


def _body_claims(report: AttestationReport) -> _Claims:
    body = QuoteBody.parse(report.quote_body)
    if report.kind is ReportKind.SIM and body.qe_vendor_id != SIM_QE_VENDOR_ID:
        raise EvidenceFormatError("sim quote body: QE vendor id is not the simulated QE's")
    return _Claims(
        mr_enclave=body.mr_enclave,
        mr_signer=body.mr_signer,
        report_data=body.report_data,
        debug=body.debug,
        status=report.status,
        isv_prod_id=body.isv_prod_id,
        isv_svn=body.isv_svn,
    )


def _dcap_claims(
    evidence: EndorsedEvidence, report: AttestationReport, policy: VerificationPolicy, when: float
) -> _Claims:
    if report.platform == "sev-snp":
        raise UnsupportedPlatform("sev-snp evidence: verification is not implemented")
    if evidence.signature or evidence.certs:
        raise EvidenceFormatError(
            "dcap evidence: signature and certs must be empty (the quote carries its own chain)"
        )
    if policy.collateral is None:
        raise CollateralUnavailable(f"{report.platform} quote: the policy configures no collateral")
    collateral = policy.collateral.collateral_for(report.quote)
    verdict = check_quote(report.quote, collateral, now=when, root_ca_der=policy.dcap_root)
    if verdict.tee != report.platform:
        raise EvidenceFormatError(
            f"dcap evidence: report says platform {report.platform} but the quote is {verdict.tee}"
        )
    return _Claims(
        mr_enclave=verdict.mr_enclave,
        mr_signer=verdict.mr_signer,
        report_data=verdict.report_data,
        debug=verdict.debug,
        status=verdict.status,
        advisory_ids=verdict.advisory_ids,
        rtmrs=verdict.rtmrs,
        isv_prod_id=verdict.isv_prod_id,
        isv_svn=verdict.isv_svn,
    )


def _check_freshness(
    cert: RaTlsCertificate, issued_at: float, policy: VerificationPolicy, when: float
) -> float:
    skew = policy.clock_skew_secs
    if when + skew < cert.not_before:
        raise CertificateNotYetValid(
            f"certificate: not valid before {_utc(cert.not_before)} (now {_utc(when)})"
        )
    if when - skew > cert.not_after:
        raise CertificateExpired(
            f"certificate: expired at {_utc(cert.not_after)} (now {_utc(when)})"
        )
    if issued_at > when + skew:
        raise EvidenceFromFuture(
            f"evidence: issued at {_utc(issued_at)}, later than now ({_utc(when)})"
        )
    if policy.not_before is not None and issued_at < policy.not_before:
        raise EvidenceSuperseded(
            f"evidence: issued at {_utc(issued_at)}, before the policy's not_before "
            f"{_utc(policy.not_before)}"
        )
    limit = issued_at + policy.attestation_validity_secs
    if when > limit:
        raise EvidenceExpired(
            f"evidence: issued at {_utc(issued_at)}, older than attestation_validity_secs="
            f"{policy.attestation_validity_secs:g} (expired {_utc(limit)}, now {_utc(when)})"
        )
    return min(cert.not_after, limit)


def verify_certificate_evidence(
    der: bytes, policy: VerificationPolicy, *, now: float | None = None
) -> VerifiedIdentity:
    """Steps 1-7: verify the evidence but not *which* service it is (``service`` is empty).

    Use :func:`verify_peer_certificate` to authenticate a peer; this alone accepts any
    correctly attested enclave.
    """
    when = time.time() if now is None else now
    cert = parse_ratls_certificate(der)
    evidence = cert.evidence
    report = parse_report(evidence.report)
    if report.platform not in policy.platforms:
        raise UnsupportedPlatform(
            f"evidence platform {report.platform!r} is not accepted by this policy "
            f"(accepted: {', '.join(sorted(policy.platforms))})"
        )
    if report.kind is ReportKind.SIM:
        _verify_endorsement(evidence, policy.sim_roots, report.kind, when)
        claims = _body_claims(report)
    elif report.kind is ReportKind.AS_REPORT:
        if not policy.as_roots:
            raise UnsupportedPlatform(
                "attestation-service report: the policy configures no as_roots (AS reports refused)"
            )
        _verify_endorsement(evidence, policy.as_roots, report.kind, when)
        claims = _body_claims(report)
    else:
        claims = _dcap_claims(evidence, report, policy, when)
    if claims.report_data != cert.report_data:
        raise ReportDataMismatch(
            f"report data {claims.report_data.hex()[:32]}… is not the certificate key "
            f"{cert.report_data.hex()[:32]}… (evidence was made for another key)"
        )
    if claims.debug and not policy.allow_debug:
        raise DebugEnclaveRejected(
            f"{report.platform} enclave: debug mode is set and this policy does not allow debug"
        )
    if claims.status not in policy.tcb_allow:
        advisories = ", ".join(claims.advisory_ids) or "none"
        raise TcbStatusRejected(
            f"TCB status: {claims.status} is not allowed (allowed: "
            f"{', '.join(sorted(policy.tcb_allow))}; advisories: {advisories})",
            status=claims.status,
        )
    valid_until = _check_freshness(cert, report.issued_at, policy, when)
    return VerifiedIdentity(
        platform=report.platform,
        mr_enclave=claims.mr_enclave,
        mr_signer=claims.mr_signer,
        tcb_status=claims.status,
        debug=claims.debug,
        issued_at=report.issued_at,
        valid_until=valid_until,
        simulated=report.simulated,
        evidence_kind=report.kind.value,
        report_data=claims.report_data,
        advisory_ids=claims.advisory_ids,
        rtmrs=claims.rtmrs,
        isv_prod_id=claims.isv_prod_id,
        isv_svn=claims.isv_svn,
    )


def match_service(
    identity: VerifiedIdentity, expected: str | Collection[str], enclave_info: EnclaveInfo
) -> str:
    """The expected service whose enclave_info identity ``identity`` has (sorted first match)."""
    names = [expected] if isinstance(expected, str) else sorted(expected)
    if not names:
        raise ValueError("expected service: at least one name is required")
    known = [name for name in names if name in enclave_info]
    if not known:
        raise UnknownService(f"enclave_info: no entry for {' or '.join(names)}")
    for name in known:
        if enclave_info[name].matches(
            identity.platform, identity.mr_enclave, identity.mr_signer, identity.rtmrs
        ):
            return name
    attested = (
        f"MRTD {identity.mr_enclave.hex()}"
        if identity.platform == "tdx"
        else f"MRENCLAVE {identity.mr_enclave.hex()}, MRSIGNER {identity.mr_signer.hex()}"
    )
    listed = "; ".join(f"{name}: {enclave_info[name].describe()}" for name in known)
    raise MeasurementMismatch(
        f"measurement: attested {attested} is not what enclave_info lists ({listed})"
    )


def verify_peer_certificate(
    der: bytes,
    expected_service: str | Collection[str],
    policy: VerificationPolicy,
    *,
    now: float | None = None,
) -> VerifiedIdentity:
    """Verify a peer certificate and that it is ``expected_service`` (or one of several).

    Returns the :class:`VerifiedIdentity` with ``service`` set; raises an
    :class:`~teaclave.tee.errors.AttestationError` subclass naming what failed.
    """
    identity = verify_certificate_evidence(der, policy, now=now)
    service = match_service(identity, expected_service, policy.enclave_info)
    return dataclasses.replace(identity, service=service)
