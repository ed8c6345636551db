"""The sim platform end to end: issue an RA-TLS identity, verify it, and refuse every forgery."""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from tee_helpers import (
    SimEnv,
    copy_package,
    der,
    forge_cert,
    make_ca,
    new_key,
    rd,
    sign_report,
)

from teaclave.config.build import FRONTEND, INBOUND, MANAGEMENT, SCHEDULER, STORAGE
from teaclave.tee import (
    SIM_NOTICE,
    EndorsedEvidence,
    SimPlatform,
    VerificationPolicy,
    issue_attested_identity,
    measure_service,
    parse_ratls_certificate,
    verify_certificate_evidence,
    verify_peer_certificate,
)
from teaclave.tee.errors import (
    CertificateExpired,
    CertificateNotYetValid,
    CertificateSignatureInvalid,
    CriticalEvidenceExtension,
    DebugEnclaveRejected,
    EvidenceExpired,
    EvidenceFormatError,
    EvidenceFromFuture,
    EvidenceSignatureInvalid,
    EvidenceSuperseded,
    MeasurementMismatch,
    MissingEvidence,
    ReportDataMismatch,
    RootInEvidence,
    TcbStatusRejected,
    UnknownService,
    UnsupportedKey,
    UnsupportedPlatform,
    UntrustedChain,
)
from teaclave.tee.evidence import sim_report
from teaclave.tee.ratls import EVIDENCE_OID, SelfSignature
from teaclave.tee.sim_quote import sim_quote_body

# ----------------------------------------------------------------------------- happy path


def test_sim_identity_verifies_with_expected_measurement(sim: SimEnv) -> None:
    ident = issue_attested_identity(STORAGE, sim.platform, validity_secs=600)
    peer = verify_peer_certificate(ident.cert_der, STORAGE, sim.policy)
    assert peer.service == STORAGE
    assert peer.platform == "sim" and peer.simulated and peer.evidence_kind == "sim"
    assert peer.mr_enclave == measure_service(STORAGE, sim.package_root)
    assert peer.mr_enclave == ident.mr_enclave == sim.info[STORAGE].mr_enclave
    assert peer.mr_signer == sim.platform.authority.mr_signer
    assert peer.tcb_status == "UpToDate" and not peer.debug
    assert peer.valid_until == pytest.approx(ident.issued_at + 600, abs=1)
    assert SIM_NOTICE in peer.describe() and SIM_NOTICE in str(peer) and SIM_NOTICE in str(ident)


def test_sim_certificate_layout(sim: SimEnv) -> None:
    ident = issue_attested_identity(STORAGE, sim.platform)
    cert = x509.load_pem_x509_certificate(ident.cert_pem)
    ext = cert.extensions.get_extension_for_oid(EVIDENCE_OID)
    assert not ext.critical
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.issuer == cert.subject
    assert SIM_NOTICE in cert.subject.rfc4514_string()
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [STORAGE]
    payload = json.loads(ext.value.value)  # type: ignore[attr-defined]
    assert set(payload) == {"report", "signature", "certs"}
    assert all(isinstance(b, int) for b in payload["report"])
    certs = [x509.load_der_x509_certificate(bytes(c)) for c in payload["certs"]]
    assert len(certs) == 1 and certs[0].issuer != certs[0].subject  # no root shipped
    report = json.loads(bytes(payload["report"]))
    assert report["version"] == 4 and report["platform"] == "sim"
    assert report["notice"] == SIM_NOTICE
    body = base64.b64decode(report["isvEnclaveQuoteBody"])
    assert len(body) == 432
    assert body[112:144] == ident.mr_enclave
    assert body[176:208] == ident.mr_signer
    assert body[368:432] == parse_ratls_certificate(ident.cert_der).report_data
    assert body[96] & 0x2 == 0  # DEBUG clear
    assert parse_ratls_certificate(ident.cert_der).self_signature is SelfSignature.STANDARD


def test_teaclave_layout_certificate_verifies(sim: SimEnv) -> None:
    ident = issue_attested_identity(FRONTEND, sim.platform, teaclave_layout=True)
    cert = x509.load_der_x509_certificate(ident.cert_der)
    assert cert.serial_number == 1
    assert cert.issuer.rfc4514_string() == "CN=Teaclave"
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "CN=Teaclave"
    assert [e.oid for e in cert.extensions] == [EVIDENCE_OID]
    assert verify_peer_certificate(ident.cert_der, FRONTEND, sim.policy).service == FRONTEND


def test_inbound_topology_accepts_only_allowed_clients(sim: SimEnv) -> None:
    allowed = INBOUND["storage"]  # management, scheduler
    for client in (MANAGEMENT, SCHEDULER):
        cert = issue_attested_identity(client, sim.platform).cert_der
        assert verify_peer_certificate(cert, allowed, sim.policy).service == client
    frontend = issue_attested_identity(FRONTEND, sim.platform).cert_der
    with pytest.raises(MeasurementMismatch, match="MRENCLAVE"):
        verify_peer_certificate(frontend, allowed, sim.policy)


def test_each_service_has_a_distinct_identity(sim: SimEnv) -> None:
    assert len({sim.info[s].mr_enclave for s in sim.info}) == len(sim.info)
    storage = issue_attested_identity(STORAGE, sim.platform).cert_der
    with pytest.raises(MeasurementMismatch):
        verify_peer_certificate(storage, FRONTEND, sim.policy)


def test_unknown_service_is_refused(sim: SimEnv) -> None:
    cert = issue_attested_identity(STORAGE, sim.platform).cert_der
    with pytest.raises(UnknownService, match="teaclave_nonexistent_service"):
        verify_peer_certificate(cert, "teaclave_nonexistent_service", sim.policy)


def test_verification_is_fast(sim: SimEnv) -> None:
    cert = issue_attested_identity(STORAGE, sim.platform).cert_der
    verify_peer_certificate(cert, STORAGE, sim.policy)  # warm the chain cache
    rounds = 200
    start = time.perf_counter()
    for _ in range(rounds):
        verify_peer_certificate(cert, STORAGE, sim.policy)
    per_call_ms = (time.perf_counter() - start) / rounds * 1000
    assert per_call_ms < 5, f"{per_call_ms:.2f} ms per verification"


# ----------------------------------------------------------------------------- measurement


def test_modified_service_file_changes_mrenclave_and_is_refused(
    tmp_path: Path, sim: SimEnv
) -> None:
    modified = copy_package(tmp_path / "modified" / "teaclave")
    target = modified / "services" / "storage" / "service.py"
    content = bytearray(target.read_bytes())
    content[-2] ^= 0x01
    target.write_bytes(bytes(content))
    assert measure_service(STORAGE, modified) != measure_service(STORAGE, sim.package_root)
    tampered = SimPlatform(sim.state_dir, package_root=modified)  # same keys, changed code
    cert = issue_attested_identity(STORAGE, tampered).cert_der
    assert verify_certificate_evidence(cert, sim.policy).mr_enclave != sim.info[STORAGE].mr_enclave
    with pytest.raises(MeasurementMismatch, match=sim.info[STORAGE].mr_enclave.hex()):
        verify_peer_certificate(cert, STORAGE, sim.policy)


def test_measurement_is_canonical(tmp_path: Path, sim: SimEnv) -> None:
    twin = copy_package(tmp_path / "twin" / "teaclave")
    assert measure_service(STORAGE, twin) == measure_service(STORAGE, sim.package_root)
    (twin / "__pycache__").mkdir(exist_ok=True)
    (twin / "__pycache__" / "junk.py").write_text("ignored")
    (twin / "notes.txt").write_text("not code")
    assert measure_service(STORAGE, twin) == measure_service(STORAGE, sim.package_root)
    added = copy_package(tmp_path / "added" / "teaclave")
    (added / "extra.py").write_text("")
    assert measure_service(STORAGE, added) != measure_service(STORAGE, sim.package_root)
    renamed = copy_package(tmp_path / "renamed" / "teaclave")
    (renamed / "tee" / "tcb.py").rename(renamed / "tee" / "tcb2.py")
    assert measure_service(STORAGE, renamed) != measure_service(STORAGE, sim.package_root)


# ----------------------------------------------------------------------------- forgeries


def _sim_evidence(
    sim: SimEnv,
    key: ec.EllipticCurvePrivateKey,
    *,
    service: str = STORAGE,
    now: float | None = None,
) -> EndorsedEvidence:
    return sim.platform.attest(service, rd(key), now=time.time() if now is None else now)


def test_self_made_root_in_certs_is_refused(sim: SimEnv) -> None:
    root_key, quoting_key = new_key(), new_key()
    root = make_ca("Intel SGX Root CA", root_key)
    quoting = make_ca("quoting", quoting_key, issuer=(root, root_key), ca=False)
    key = new_key()
    body = sim_quote_body(sim.info[STORAGE].mr_enclave, sim.info[STORAGE].mr_signer, rd(key))
    report = sim_report(body.pack(), time.time(), "forged")
    evidence = EndorsedEvidence(report, sign_report(quoting_key, report), (der(quoting), der(root)))
    with pytest.raises(RootInEvidence, match=r"certs\[1\]"):
        verify_peer_certificate(forge_cert(key, evidence), STORAGE, sim.policy)
    # Without the root the chain simply does not reach a configured root.
    evidence = dataclasses.replace(evidence, certs=(der(quoting),))
    with pytest.raises(UntrustedChain, match="does not chain"):
        verify_peer_certificate(forge_cert(key, evidence), STORAGE, sim.policy)


def test_evidence_from_another_sim_root_is_refused(tmp_path: Path, sim: SimEnv) -> None:
    other = SimPlatform(tmp_path / "other-state", package_root=sim.package_root)
    cert = issue_attested_identity(STORAGE, other).cert_der
    with pytest.raises(UntrustedChain):
        verify_peer_certificate(cert, STORAGE, sim.policy)


def test_non_ca_intermediate_is_refused(sim: SimEnv) -> None:
    root_key, middle_key, quoting_key = new_key(), new_key(), new_key()
    root = make_ca("root allowing intermediates", root_key)
    policy = sim.policy_with(sim_roots=(der(root),))
    key = new_key()
    body = sim_quote_body(sim.info[STORAGE].mr_enclave, sim.info[STORAGE].mr_signer, rd(key))
    report = sim_report(body.pack(), time.time(), "forged")

    def evidence_via(middle: x509.Certificate) -> EndorsedEvidence:
        quoting = make_ca("quoting", quoting_key, issuer=(middle, middle_key), ca=False)
        return EndorsedEvidence(
            report, sign_report(quoting_key, report), (der(quoting), der(middle))
        )

    not_ca = make_ca("not a CA", middle_key, issuer=(root, root_key), ca=False)
    with pytest.raises(UntrustedChain):
        verify_peer_certificate(forge_cert(key, evidence_via(not_ca)), STORAGE, policy)
    # Control: the same shape with a CA intermediate is accepted.
    ca = make_ca("a CA", middle_key, issuer=(root, root_key), ca=True)
    assert verify_peer_certificate(forge_cert(key, evidence_via(ca)), STORAGE, policy)


def test_quote_signed_by_a_different_quoting_key_is_refused(sim: SimEnv) -> None:
    key = new_key()
    evidence = _sim_evidence(sim, key)
    forged = dataclasses.replace(evidence, signature=sign_report(new_key(), evidence.report))
    with pytest.raises(EvidenceSignatureInvalid, match="certs\\[0\\]"):
        verify_peer_certificate(forge_cert(key, forged), STORAGE, sim.policy)


def test_modified_report_is_refused(sim: SimEnv) -> None:
    key = new_key()
    evidence = _sim_evidence(sim, key)
    doc = json.loads(evidence.report)
    body = bytearray(base64.b64decode(doc["isvEnclaveQuoteBody"]))
    body[112] ^= 1  # MRENCLAVE
    doc["isvEnclaveQuoteBody"] = base64.b64encode(bytes(body)).decode()
    forged = dataclasses.replace(evidence, report=json.dumps(doc).encode())
    with pytest.raises(EvidenceSignatureInvalid):
        verify_peer_certificate(forge_cert(key, forged), STORAGE, sim.policy)


def test_evidence_moved_into_another_certificate_is_refused(sim: SimEnv) -> None:
    evidence = _sim_evidence(sim, new_key())
    with pytest.raises(ReportDataMismatch, match="another key"):
        verify_peer_certificate(forge_cert(new_key(), evidence), STORAGE, sim.policy)


def test_critical_evidence_extension_is_refused(sim: SimEnv) -> None:
    key = new_key()
    cert = forge_cert(key, _sim_evidence(sim, key), critical=True)
    with pytest.raises(CriticalEvidenceExtension, match="non-critical"):
        verify_peer_certificate(cert, STORAGE, sim.policy)
    assert verify_peer_certificate(forge_cert(key, _sim_evidence(sim, key)), STORAGE, sim.policy)


def test_certificate_without_evidence_is_refused(sim: SimEnv) -> None:
    key = new_key()
    cert = make_ca("plain", key, ca=False)
    with pytest.raises(MissingEvidence, match=r"2\.16\.840\.1\.113730\.1\.13"):
        verify_peer_certificate(der(cert), STORAGE, sim.policy)


def test_bad_self_signature_is_refused(sim: SimEnv) -> None:
    key = new_key()
    cert = forge_cert(key, _sim_evidence(sim, key), signer=new_key())
    with pytest.raises(CertificateSignatureInvalid):
        verify_peer_certificate(cert, STORAGE, sim.policy)


def test_non_p256_key_is_refused(sim: SimEnv) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(UnsupportedKey, match="P-256"):
        verify_peer_certificate(forge_cert(key, b"{}"), STORAGE, sim.policy)


def test_debug_enclave_refused_by_production_policy(tmp_path: Path, sim: SimEnv) -> None:
    debug_platform = SimPlatform(sim.state_dir, package_root=sim.package_root, debug=True)
    cert = issue_attested_identity(STORAGE, debug_platform).cert_der
    with pytest.raises(DebugEnclaveRejected, match="debug"):
        verify_peer_certificate(cert, STORAGE, sim.policy)
    peer = verify_peer_certificate(cert, STORAGE, sim.policy_with(allow_debug=True))
    assert peer.debug


def test_sim_evidence_refused_by_hardware_only_policy(sim: SimEnv) -> None:
    cert = issue_attested_identity(STORAGE, sim.platform).cert_der
    policy = VerificationPolicy(sim.info, sim_roots=(sim.platform.root_der,))
    with pytest.raises(UnsupportedPlatform, match="'sim' is not accepted"):
        verify_peer_certificate(cert, STORAGE, policy)


def test_sim_root_cannot_vouch_for_an_attestation_service_report(sim: SimEnv) -> None:
    """A report without the sim marker is an AS report and needs an AS root, not the sim one."""
    key = new_key()
    evidence = _sim_evidence(sim, key)
    doc = json.loads(evidence.report)
    del doc["platform"], doc["notice"]
    report = json.dumps(doc).encode()
    forged = EndorsedEvidence(report, sign_report(sim.quoting_key(), report), evidence.certs)
    policy = sim.policy_with(platforms={"sim", "sgx"})
    with pytest.raises(UnsupportedPlatform, match="as_roots"):
        verify_peer_certificate(forge_cert(key, forged), STORAGE, policy)
    other_root = der(make_ca("AS root", new_key()))
    policy = sim.policy_with(platforms={"sim", "sgx"}, as_roots=(other_root,))
    with pytest.raises(UntrustedChain):
        verify_peer_certificate(forge_cert(key, forged), STORAGE, policy)


def test_sim_report_with_foreign_vendor_or_missing_notice_is_refused(sim: SimEnv) -> None:
    key = new_key()
    body = sim_quote_body(sim.info[STORAGE].mr_enclave, sim.info[STORAGE].mr_signer, rd(key))
    body = dataclasses.replace(body, qe_vendor_id=bytes.fromhex("939a7233f79c4ca9940a0db3957f0607"))
    report = sim_report(body.pack(), time.time(), "x")
    evidence = EndorsedEvidence(
        report, sign_report(sim.quoting_key(), report), _sim_evidence(sim, key).certs
    )
    with pytest.raises(EvidenceFormatError, match="vendor"):
        verify_peer_certificate(forge_cert(key, evidence), STORAGE, sim.policy)
    doc = json.loads(_sim_evidence(sim, key).report)
    del doc["notice"]
    report = json.dumps(doc).encode()
    evidence = dataclasses.replace(
        evidence, report=report, signature=sign_report(sim.quoting_key(), report)
    )
    with pytest.raises(EvidenceFormatError, match="notice"):
        verify_peer_certificate(forge_cert(key, evidence), STORAGE, sim.policy)


@pytest.mark.parametrize(
    ("ias_status", "allowed"),
    [("GROUP_REVOKED", False), ("SIGNATURE_INVALID", False), ("SW_HARDENING_NEEDED", True)],
)
def test_tcb_status_allow_list(sim: SimEnv, ias_status: str, allowed: bool) -> None:
    key = new_key()
    evidence = _sim_evidence(sim, key)
    doc = json.loads(evidence.report)
    doc["isvEnclaveQuoteStatus"] = ias_status
    report = json.dumps(doc).encode()
    cert = forge_cert(
        key, EndorsedEvidence(report, sign_report(sim.quoting_key(), report), evidence.certs)
    )
    with pytest.raises(TcbStatusRejected) as refused:
        verify_peer_certificate(cert, STORAGE, sim.policy)
    assert refused.value.status in ("Revoked", "Invalid", "SWHardeningNeeded")
    if allowed:
        relaxed = sim.policy_with(tcb_allow={"UpToDate", "SWHardeningNeeded"})
        assert verify_peer_certificate(cert, STORAGE, relaxed).tcb_status == "SWHardeningNeeded"
    else:
        with pytest.raises(ValueError, match="can never be allowed"):
            sim.policy_with(tcb_allow={"UpToDate", refused.value.status})


# ----------------------------------------------------------------------------- freshness


def test_certificate_past_its_validity_is_refused(sim: SimEnv) -> None:
    ident = issue_attested_identity(STORAGE, sim.platform, validity_secs=120)
    verify_peer_certificate(ident.cert_der, STORAGE, sim.policy, now=ident.issued_at + 100)
    with pytest.raises(CertificateExpired, match="expired"):
        verify_peer_certificate(ident.cert_der, STORAGE, sim.policy, now=ident.issued_at + 300)


def test_replayed_old_certificate_is_refused(sim: SimEnv) -> None:
    """A 90-day certificate (Teaclave's lifetime) is still 'valid' but its evidence is stale."""
    ident = issue_attested_identity(STORAGE, sim.platform, validity_secs=90 * 86400)
    later = ident.issued_at + 2 * 3600
    with pytest.raises(EvidenceExpired, match="attestation_validity_secs=3600"):
        verify_peer_certificate(ident.cert_der, STORAGE, sim.policy, now=later)
    lenient = sim.policy_with(attestation_validity_secs=3 * 3600)
    assert verify_peer_certificate(ident.cert_der, STORAGE, lenient, now=later)


def test_evidence_issued_before_the_policy_epoch_is_refused(sim: SimEnv) -> None:
    ident = issue_attested_identity(STORAGE, sim.platform)
    policy = sim.policy_with(not_before=ident.issued_at + 1)
    with pytest.raises(EvidenceSuperseded, match="not_before"):
        verify_peer_certificate(ident.cert_der, STORAGE, policy)


def test_evidence_from_the_future_is_refused(sim: SimEnv) -> None:
    key = new_key()
    now = time.time()
    evidence = _sim_evidence(sim, key, now=now + 3600)
    with pytest.raises(EvidenceFromFuture, match="later than now"):
        verify_peer_certificate(forge_cert(key, evidence), STORAGE, sim.policy, now=now)


def test_certificate_not_yet_valid_is_refused(sim: SimEnv) -> None:
    ident = issue_attested_identity(STORAGE, sim.platform)
    with pytest.raises(CertificateNotYetValid):
        verify_peer_certificate(ident.cert_der, STORAGE, sim.policy, now=ident.issued_at - 120)


def test_renewal_time(sim: SimEnv) -> None:
    ident = issue_attested_identity(STORAGE, sim.platform, validity_secs=1000, now=1_000_000)
    assert ident.valid_until == 1_001_000
    assert ident.renew_at() == pytest.approx(1_000_750)
