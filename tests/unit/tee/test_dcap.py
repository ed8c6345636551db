"""Real Intel SGX and TDX quotes (shared/fixtures/dcap) verified with dcap-qvl at fixed clocks."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import dcap_qvl  # type: ignore[import-untyped]
import pytest
from tee_helpers import SimEnv, dcap_fixtures, forge_cert, new_key, utc

from teaclave.config.build import STORAGE
from teaclave.tee import (
    Collateral,
    EndorsedEvidence,
    FileCollateral,
    PccsCollateral,
    VerificationPolicy,
    check_quote,
    verify_peer_certificate,
    verify_quote,
)
from teaclave.tee.dcap import INTEL_SGX_ROOT_CA_SHA256, intel_root_der
from teaclave.tee.errors import (
    AttestationError,
    CollateralExpired,
    CollateralUnavailable,
    EvidenceFormatError,
    QuoteRejected,
    ReportDataMismatch,
    TcbStatusRejected,
    UnsupportedPlatform,
)
from teaclave.tee.evidence import hardware_report

IN_WINDOW = utc("2025-07-01T00:00:00")
OUTDATED_WINDOW = utc("2026-03-01T00:00:00")
SGX_STATUS = "ConfigurationAndSWHardeningNeeded"


def _load(name: str) -> tuple[bytes, Collateral]:
    root = dcap_fixtures()
    return (root / name).read_bytes(), Collateral.from_file(root / f"{name}_collateral.json")


def test_sgx_quote_status_needs_explicit_allowance() -> None:
    quote, collateral = _load("sgx_quote")
    with pytest.raises(TcbStatusRejected, match=SGX_STATUS) as refused:
        verify_quote(quote, collateral, now=IN_WINDOW)
    assert refused.value.status == SGX_STATUS
    verdict = verify_quote(quote, collateral, now=IN_WINDOW, tcb_allow={"UpToDate", SGX_STATUS})
    assert verdict.tee == "sgx" and verdict.status == SGX_STATUS
    assert verdict.advisory_ids == ("INTEL-SA-00289", "INTEL-SA-00615")
    assert verdict.report_data.startswith(b"Hello, world!") and len(verdict.report_data) == 64
    assert verdict.mr_enclave.hex().startswith("33d8736d")
    assert len(verdict.mr_signer) == 32 and not verdict.debug


def test_tdx_quote_verifies() -> None:
    quote, collateral = _load("tdx_quote")
    verdict = verify_quote(quote, collateral, now=IN_WINDOW)
    assert verdict.tee == "tdx" and verdict.status == "UpToDate" and not verdict.debug
    assert verdict.mr_enclave.hex().startswith("91eb2b44") and len(verdict.mr_enclave) == 48
    assert len(verdict.rtmrs) == 4 and verdict.mr_signer == b""


def test_outdated_tdx_quote_is_refused() -> None:
    quote, collateral = _load("tdx_quote_outdated")
    with pytest.raises(TcbStatusRejected, match="no TCB level"):
        verify_quote(quote, collateral, now=OUTDATED_WINDOW)


@pytest.mark.parametrize(
    "when", ["2025-06-01T00:00:00", "2025-08-01T00:00:00", "2026-08-01T00:00:00"]
)
def test_verification_outside_the_collateral_window_is_refused(when: str) -> None:
    quote, collateral = _load("tdx_quote")
    with pytest.raises(CollateralExpired, match="not valid at"):
        verify_quote(quote, collateral, now=utc(when))


def _flip_offsets(size: int) -> list[int]:
    header = list(range(48))
    rest = list(range(48, size, 7))
    return header + rest + [size - 1]


@pytest.mark.parametrize("name", ["sgx_quote", "tdx_quote"])
def test_tampered_quotes_are_refused(name: str) -> None:
    """Header bytes all, then every 7th byte of body, signature, QE data and PCK chain."""
    quote, collateral = _load(name)
    check_quote(quote, collateral, now=IN_WINDOW)  # the original passes
    accepted = []
    for offset in _flip_offsets(len(quote)):
        tampered = bytearray(quote)
        tampered[offset] ^= 0x01
        try:
            check_quote(bytes(tampered), collateral, now=IN_WINDOW)
        except QuoteRejected:
            continue
        accepted.append(offset)
    assert accepted == []


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sgx_quote", "tdx_quote"])
def test_every_single_byte_flip_is_refused(name: str) -> None:
    quote, collateral = _load(name)
    accepted = []
    for offset in range(len(quote)):
        tampered = bytearray(quote)
        tampered[offset] ^= 0x01
        try:
            check_quote(bytes(tampered), collateral, now=IN_WINDOW)
        except AttestationError:
            continue
        accepted.append(offset)
    assert accepted == []


def test_quote_with_trailing_garbage_or_truncated_is_refused() -> None:
    quote, collateral = _load("sgx_quote")
    with pytest.raises(QuoteRejected, match="framing"):
        check_quote(quote + b"\x01", collateral, now=IN_WINDOW)
    with pytest.raises(QuoteRejected):
        check_quote(quote[:-100], collateral, now=IN_WINDOW)


def test_quote_against_a_different_root_is_refused() -> None:
    quote, collateral = _load("sgx_quote")
    other_root = (dcap_fixtures() / "../teaclave/dcap_root_ca_cert.der").resolve()
    if not other_root.is_file():
        pytest.skip("Teaclave fixtures not found")
    with pytest.raises(QuoteRejected, match="trusted root"):
        check_quote(quote, collateral, now=IN_WINDOW, root_ca_der=other_root.read_bytes())


def test_builtin_intel_root_is_the_one_compiled_into_dcap_qvl() -> None:
    root = intel_root_der()
    assert hashlib.sha256(root).hexdigest() == INTEL_SGX_ROOT_CA_SHA256
    library = Path(dcap_qvl.__file__).parent
    binaries = list(library.glob("_dcap_qvl*.so"))
    assert binaries and root in binaries[0].read_bytes()


def test_file_collateral_is_chosen_by_platform() -> None:
    root = dcap_fixtures()
    source = FileCollateral(
        [root / "sgx_quote_collateral.json", root / "tdx_quote_collateral.json"]
    )
    sgx, tdx = (root / "sgx_quote").read_bytes(), (root / "tdx_quote").read_bytes()
    assert source.collateral_for(sgx).tee == "SGX"
    assert source.collateral_for(tdx).tee == "TDX"
    with pytest.raises(CollateralUnavailable, match="90C06F000000"):
        source.collateral_for((root / "tdx_quote_outdated").read_bytes())
    with pytest.raises(CollateralUnavailable, match="a second file"):
        FileCollateral([root / "sgx_quote_collateral.json"] * 2)


def test_unreachable_pccs_is_reported() -> None:
    quote = (dcap_fixtures() / "sgx_quote").read_bytes()
    start = time.monotonic()
    with pytest.raises(CollateralUnavailable, match=r"127\.0\.0\.1:9"):
        PccsCollateral("http://127.0.0.1:9", timeout_secs=5).collateral_for(quote)
    assert time.monotonic() - start < 6


# -------------------------------------------------------------------- quotes inside RA-TLS


def _dcap_policy(sim: SimEnv, **overrides: object) -> VerificationPolicy:
    root = dcap_fixtures()
    options: dict[str, object] = {
        "platforms": {"sgx", "tdx"},
        "collateral": FileCollateral(
            [root / "sgx_quote_collateral.json", root / "tdx_quote_collateral.json"]
        ),
        "tcb_allow": {"UpToDate", SGX_STATUS},
    }
    options.update(overrides)
    return VerificationPolicy(sim.info, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "platform"), [("sgx_quote", "sgx"), ("tdx_quote", "tdx")])
def test_real_quote_in_a_certificate_is_bound_to_its_report_data(
    sim: SimEnv, name: str, platform: str
) -> None:
    """The quote verifies all the way to the binding check, which it fails: its report data
    is not our key (we hold no SGX/TDX hardware to make one that is)."""
    quote = (dcap_fixtures() / name).read_bytes()
    key = new_key()
    report = hardware_report(platform, quote, IN_WINDOW, "real")
    cert = forge_cert(key, EndorsedEvidence(report), not_before=IN_WINDOW - 60)
    with pytest.raises(ReportDataMismatch):
        verify_peer_certificate(cert, STORAGE, _dcap_policy(sim), now=IN_WINDOW + 10)
    with pytest.raises(CollateralUnavailable, match="no collateral"):
        verify_peer_certificate(cert, STORAGE, _dcap_policy(sim, collateral=None), now=IN_WINDOW)
    with pytest.raises(CollateralExpired):
        verify_peer_certificate(cert, STORAGE, _dcap_policy(sim), now=utc("2025-08-01T00:00:00"))


def test_platform_claim_must_match_the_quote(sim: SimEnv) -> None:
    quote = (dcap_fixtures() / "sgx_quote").read_bytes()
    key = new_key()
    report = hardware_report("tdx", quote, IN_WINDOW, "lying")
    cert = forge_cert(key, EndorsedEvidence(report), not_before=IN_WINDOW - 60)
    with pytest.raises(EvidenceFormatError, match="report says platform tdx"):
        verify_peer_certificate(cert, STORAGE, _dcap_policy(sim), now=IN_WINDOW)


def test_dcap_evidence_must_not_carry_an_endorsement(sim: SimEnv) -> None:
    quote = (dcap_fixtures() / "sgx_quote").read_bytes()
    key = new_key()
    report = hardware_report("sgx", quote, IN_WINDOW, "x")
    cert = forge_cert(key, EndorsedEvidence(report, b"sig", ()), not_before=IN_WINDOW - 60)
    with pytest.raises(EvidenceFormatError, match="must be empty"):
        verify_peer_certificate(cert, STORAGE, _dcap_policy(sim), now=IN_WINDOW)


def test_sev_snp_evidence_is_not_verifiable(sim: SimEnv) -> None:
    key = new_key()
    report = hardware_report("sev-snp", bytes(1184), IN_WINDOW, "x")
    cert = forge_cert(key, EndorsedEvidence(report), not_before=IN_WINDOW - 60)
    policy = _dcap_policy(sim, platforms={"sev-snp"})
    with pytest.raises(UnsupportedPlatform, match="sev-snp"):
        verify_peer_certificate(cert, STORAGE, policy, now=IN_WINDOW)
