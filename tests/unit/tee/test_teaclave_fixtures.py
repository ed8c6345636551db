"""Apache Teaclave's RA-TLS certificate fixtures: v4 accepted structurally, v3 refused."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import pytest
from cryptography import x509
from tee_helpers import audited, forge_cert, new_key, teaclave_fixtures

from teaclave.config.build import FRONTEND
from teaclave.tee import (
    EnclaveIdentity,
    EnclaveInfo,
    VerificationPolicy,
    parse_ratls_certificate,
    verify_certificate_evidence,
    verify_peer_certificate,
)
from teaclave.tee.errors import (
    CertificateSignatureInvalid,
    DebugEnclaveRejected,
    EnclaveInfoError,
    EvidenceExpired,
    EvidenceSignatureInvalid,
    MeasurementMismatch,
    UnsupportedApiVersion,
    UnsupportedPlatform,
    UntrustedChain,
)
from teaclave.tee.evidence import parse_report, parse_timestamp
from teaclave.tee.quote_body import QuoteBody
from teaclave.tee.ratls import SelfSignature

MR_ENCLAVE = "82bc195bd181ca8e3cf220f633eea98e7a0a55f3217fa7f731cf0d7a8d83253e"
MR_SIGNER = "83d719e77deaca1470f6baf62a4d774303c899db69020f9c70ee1dfc08c7ce9e"
REPORT_TIME = parse_timestamp("2022-01-17T22:07:49.022259677")


@pytest.fixture(scope="module")
def fixtures() -> Path:
    return teaclave_fixtures()


@pytest.fixture(scope="module")
def info(tmp_path_factory: pytest.TempPathFactory) -> EnclaveInfo:
    identity = EnclaveIdentity(bytes.fromhex(MR_ENCLAVE), bytes.fromhex(MR_SIGNER))
    return audited(tmp_path_factory.mktemp("audit"), EnclaveInfo.render({FRONTEND: identity}))


def _policy(fixtures: Path, info: EnclaveInfo, **overrides: object) -> VerificationPolicy:
    options: dict[str, object] = {
        "platforms": {"sgx"},
        "as_roots": ((fixtures / "dcap_root_ca_cert.der").read_bytes(),),
    }
    options.update(overrides)
    return VerificationPolicy(info, **options)  # type: ignore[arg-type]


def test_v4_certificate_parses(fixtures: Path) -> None:
    cert = parse_ratls_certificate((fixtures / "tls_ra_cert_v4.der").read_bytes())
    assert cert.self_signature is SelfSignature.TEACLAVE_QUIRK  # limb-reversed r and s
    report = parse_report(cert.evidence.report)
    assert report.kind.value == "as-report" and report.platform == "sgx"
    assert report.status == "UpToDate"  # "OK"
    body = QuoteBody.parse(report.quote_body)
    assert body.mr_enclave.hex() == MR_ENCLAVE and body.mr_signer.hex() == MR_SIGNER
    assert body.report_data == cert.report_data  # report_data == certificate key
    assert body.attribute_flags == 0x07 and body.debug
    assert len(cert.evidence.signature) == 512 and len(cert.evidence.certs) == 1
    signer = x509.load_der_x509_certificate(cert.evidence.certs[0])
    assert signer.subject.rfc4514_string().startswith("CN=localhost")


def test_v4_debug_enclave_refused_under_production_policy(
    fixtures: Path, info: EnclaveInfo
) -> None:
    der = (fixtures / "tls_ra_cert_v4.der").read_bytes()
    with pytest.raises(DebugEnclaveRejected):
        verify_peer_certificate(der, FRONTEND, _policy(fixtures, info), now=REPORT_TIME + 60)


def test_v4_accepted_with_allow_debug_and_its_root(fixtures: Path, info: EnclaveInfo) -> None:
    der = (fixtures / "tls_ra_cert_v4.der").read_bytes()
    policy = _policy(fixtures, info, allow_debug=True)
    peer = verify_peer_certificate(der, FRONTEND, policy, now=REPORT_TIME + 60)
    assert peer.service == FRONTEND and peer.platform == "sgx" and not peer.simulated
    assert peer.evidence_kind == "as-report" and peer.debug
    assert peer.mr_enclave.hex() == MR_ENCLAVE and peer.tcb_status == "UpToDate"
    assert peer.issued_at == pytest.approx(REPORT_TIME)
    # Freshness is enforced (Teaclave computed it and never looked): a day later it is stale.
    with pytest.raises(EvidenceExpired):
        verify_peer_certificate(der, FRONTEND, policy, now=REPORT_TIME + 86400)


def test_v4_refused_without_its_root_or_with_another(fixtures: Path, info: EnclaveInfo) -> None:
    der = (fixtures / "tls_ra_cert_v4.der").read_bytes()
    with pytest.raises(UnsupportedPlatform, match="as_roots"):
        verify_certificate_evidence(der, _policy(fixtures, info, as_roots=()), now=REPORT_TIME)
    ias = _policy(fixtures, info, as_roots=((fixtures / "ias_root_ca_cert.der").read_bytes(),))
    with pytest.raises(UntrustedChain):
        verify_certificate_evidence(der, ias, now=REPORT_TIME)


def test_v4_measurement_must_match_enclave_info(fixtures: Path, tmp_path: Path) -> None:
    der = (fixtures / "tls_ra_cert_v4.der").read_bytes()
    wrong = EnclaveIdentity(bytes(32), bytes.fromhex(MR_SIGNER))
    info = audited(tmp_path, EnclaveInfo.render({FRONTEND: wrong}))
    policy = _policy(fixtures, info, allow_debug=True)
    with pytest.raises(MeasurementMismatch, match=MR_ENCLAVE):
        verify_peer_certificate(der, FRONTEND, policy, now=REPORT_TIME + 60)


def test_v4_tampered_copies_are_refused(fixtures: Path, info: EnclaveInfo) -> None:
    original = (fixtures / "tls_ra_cert_v4.der").read_bytes()
    policy = _policy(fixtures, info, allow_debug=True)
    # Any byte of the extension is covered by the certificate's (quirky) self-signature.
    der = bytearray(original)
    der[original.find(b'"report":[') + 20] ^= 0x01
    with pytest.raises(CertificateSignatureInvalid):
        verify_peer_certificate(bytes(der), FRONTEND, policy, now=REPORT_TIME + 60)
    # A modified report re-wrapped by someone else fails the AS's RSA signature.
    evidence = parse_ratls_certificate(original).evidence
    report = evidence.report.replace(
        b'"isvEnclaveQuoteStatus":"OK"', b'"isvEnclaveQuoteStatus":"OK" '
    )
    assert report != evidence.report
    forged = forge_cert(
        new_key(), dataclasses.replace(evidence, report=report), not_before=REPORT_TIME
    )
    with pytest.raises(EvidenceSignatureInvalid, match="localhost"):
        verify_peer_certificate(forged, FRONTEND, policy, now=REPORT_TIME + 60)


def test_v3_certificate_refused_for_its_api_version(fixtures: Path, info: EnclaveInfo) -> None:
    der = (fixtures / "tls_ra_cert_v3.der").read_bytes()
    cert = parse_ratls_certificate(der)
    assert cert.evidence.legacy_format  # 'signing_cert' instead of 'certs'
    assert json.loads(cert.evidence.report)["version"] == 3
    policy = _policy(
        fixtures,
        info,
        allow_debug=True,
        as_roots=((fixtures / "ias_root_ca_cert.der").read_bytes(),),
    )
    with pytest.raises(UnsupportedApiVersion, match="version: 3"):
        verify_peer_certificate(der, FRONTEND, policy, now=parse_timestamp("2020-02-14T21:29:00"))


def test_v3_quote_body_layout(fixtures: Path) -> None:
    """The EPID body still parses with the same offsets (version 2, linkable)."""
    cert = parse_ratls_certificate((fixtures / "tls_ra_cert_v3.der").read_bytes())
    doc = json.loads(cert.evidence.report)
    body = QuoteBody.parse(base64.b64decode(doc["isvEnclaveQuoteBody"]))
    assert body.version == 2 and body.key_type == 1
    assert body.mr_enclave.hex().startswith("d32b320a") and body.mr_signer.hex() == MR_SIGNER
    assert body.report_data == cert.report_data


def test_teaclave_placeholder_enclave_info_is_refused(fixtures: Path) -> None:
    with pytest.raises(EnclaveInfoError, match=r"\[teaclave_authentication_service\] mr_enclave"):
        EnclaveInfo.parse((fixtures / "enclave_info.toml").read_bytes())
