"""The evidence formats: Teaclave's payload JSON, report documents and the 432-byte body."""

from __future__ import annotations

import json

import pytest

from teaclave.tee import EndorsedEvidence
from teaclave.tee.errors import EvidenceFormatError, UnsupportedApiVersion
from teaclave.tee.evidence import (
    SIM_NOTICE,
    ReportKind,
    format_timestamp,
    hardware_report,
    parse_report,
    parse_timestamp,
    sim_report,
)
from teaclave.tee.quote_body import QuoteBody
from teaclave.tee.sim_quote import SIM_QE_VENDOR_ID, sim_quote_body

MR_ENCLAVE = bytes(range(32))
MR_SIGNER = bytes(range(100, 132))
REPORT_DATA = bytes(range(64))


def test_payload_is_teaclave_serde_shape() -> None:
    evidence = EndorsedEvidence(b"{}", b"\x01\xff", (b"\x30\x00", b"\x30\x01"))
    text = evidence.to_json()
    assert text == b'{"report":[123,125],"signature":[1,255],"certs":[[48,0],[48,1]]}'
    assert EndorsedEvidence.from_json(text) == evidence


def test_legacy_signing_cert_payload_is_read() -> None:
    doc = {"report": [123, 125], "signature": [], "signing_cert": [48, 0]}
    parsed = EndorsedEvidence.from_json(json.dumps(doc).encode())
    assert parsed.legacy_format and parsed.certs == (b"\x30\x00",)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (b"not json", "not JSON"),
        (b"[]", "JSON object"),
        (b'{"report":[],"signature":[]}', "keys must be"),
        (b'{"report":[],"signature":[],"certs":[],"extra":1}', "keys must be"),
        (b'{"report":[256],"signature":[],"certs":[]}', "0..255"),
        (b'{"report":"abc","signature":[],"certs":[]}', "array of bytes"),
        (b'{"report":[],"signature":[],"certs":[[-1]]}', r"certs\[0\]"),
    ],
)
def test_malformed_payloads_are_refused(doc: bytes, message: str) -> None:
    with pytest.raises(EvidenceFormatError, match=message):
        EndorsedEvidence.from_json(doc)


def test_timestamps() -> None:
    assert parse_timestamp("1970-01-01T00:00:01") == 1.0
    assert parse_timestamp("2022-01-17T22:07:49.022259677") == pytest.approx(1642457269.022259677)
    assert parse_timestamp("2022-01-17T22:07:49Z") == 1642457269.0
    assert parse_timestamp(format_timestamp(1700000000.25)) == pytest.approx(1700000000.25)
    for bad in ("2022-01-17 22:07:49", "2022-13-01T00:00:00", "yesterday"):
        with pytest.raises(EvidenceFormatError, match="timestamp"):
            parse_timestamp(bad)


def test_quote_body_layout() -> None:
    body = sim_quote_body(MR_ENCLAVE, MR_SIGNER, REPORT_DATA, debug=True, isv_prod_id=7, isv_svn=9)
    raw = body.pack()
    assert len(raw) == 432
    assert raw[0:2] == b"\x03\x00" and raw[2:4] == b"\x02\x00"  # v3, ECDSA P-256
    assert raw[12:28] == SIM_QE_VENDOR_ID
    assert raw[96] == 0x07  # INIT | DEBUG | MODE64BIT
    assert raw[112:144] == MR_ENCLAVE and raw[176:208] == MR_SIGNER
    assert raw[304:306] == b"\x07\x00" and raw[306:308] == b"\x09\x00"
    assert raw[368:432] == REPORT_DATA
    assert raw[144:176] == bytes(32) and raw[208:304] == bytes(96)  # reserved
    parsed = QuoteBody.parse(raw)
    assert parsed == body and parsed.debug
    assert not QuoteBody.parse(sim_quote_body(MR_ENCLAVE, MR_SIGNER, REPORT_DATA).pack()).debug


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b[:431], "exactly 432"),
        (lambda b: b"\x04\x00" + b[2:], "version 4"),
        (lambda b: b[:2] + b"\x09\x00" + b[4:], "attestation key type 9"),
    ],
)
def test_malformed_quote_bodies(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    raw = sim_quote_body(MR_ENCLAVE, MR_SIGNER, REPORT_DATA).pack()
    with pytest.raises(EvidenceFormatError, match=message):
        QuoteBody.parse(mutate(raw))


def test_report_kinds() -> None:
    body = sim_quote_body(MR_ENCLAVE, MR_SIGNER, REPORT_DATA).pack()
    sim = parse_report(sim_report(body, 1700000000.5, "id1"))
    assert sim.kind is ReportKind.SIM and sim.simulated and sim.status == "UpToDate"
    assert sim.quote_body == body and sim.issued_at == 1700000000.5
    assert SIM_NOTICE in str(sim)
    hw = parse_report(hardware_report("tdx", b"quote", 1700000000.0, "id2"))
    assert hw.kind is ReportKind.DCAP and hw.platform == "tdx" and hw.quote == b"quote"
    assert not hw.simulated and SIM_NOTICE not in str(hw)
    as_doc = {
        "id": "x",
        "version": 4,
        "timestamp": "2022-01-17T22:07:49.1",
        "isvEnclaveQuoteStatus": "GROUP_OUT_OF_DATE",
        "isvEnclaveQuoteBody": "AAAA",
    }
    as_report = parse_report(json.dumps(as_doc).encode())
    assert as_report.kind is ReportKind.AS_REPORT and as_report.status == "OutOfDate"


@pytest.mark.parametrize(
    ("doc", "error", "message"),
    [
        ({"version": 3, "timestamp": "2020-01-01T00:00:00"}, UnsupportedApiVersion, "3"),
        ({"timestamp": "2020-01-01T00:00:00"}, UnsupportedApiVersion, "None"),
        ({"version": True}, UnsupportedApiVersion, "True"),
        ({"version": 4}, EvidenceFormatError, "timestamp"),
        (
            {"version": 4, "timestamp": "2020-01-01T00:00:00", "platform": "sgx", "quote": "!"},
            EvidenceFormatError,
            "base64",
        ),
        (
            {"version": 4, "timestamp": "2020-01-01T00:00:00", "platform": "epid"},
            EvidenceFormatError,
            "platform",
        ),
    ],
)
def test_malformed_reports(doc: dict, error: type[Exception], message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(error, match=message):
        parse_report(json.dumps(doc).encode())
