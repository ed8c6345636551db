"""The evidence an RA-TLS certificate carries: Teaclave's payload and the report inside it.

**Payload** (the extension value, ``spec/security.md`` §1.3): compact JSON
``{"report": [ints], "signature": [ints], "certs": [[ints], ...]}`` (serde's byte-vector shape).
Teaclave's old format used ``signing_cert`` (one certificate) instead of ``certs``; it is read
so that such certificates are refused for what they are (API version 3), not as garbage.

**Report** (the ``report`` bytes) is a JSON document, one of three kinds:

* ``as-report`` — Teaclave's attestation-service report (IAS API v4 shape, §1.4): ``id``,
  ``timestamp``, ``version`` = 4, ``isvEnclaveQuoteStatus``, ``isvEnclaveQuoteBody`` (base64 of
  the 432-byte body). Endorsed by ``signature`` (made with ``certs[0]``'s key). Platform ``sgx``.
* ``sim`` — the same shape plus ``"platform": "sim"`` and ``"notice": "simulation — no hardware
  protection"``; endorsed by the simulated quoting key (``certs[0]``), status ``OK``.
* ``dcap`` — ``version`` = 4, ``platform`` (``sgx``, ``tdx`` or ``sev-snp``), ``timestamp``,
  ``quote`` (base64 of the raw hardware quote/report). No endorsement: ``signature`` and
  ``certs`` are empty; the quote's own signature chain (PCK → Intel root) is verified instead.

Every number here is unauthenticated until the verifier has checked the endorsement (sim/AS)
or the quote (dcap) and, for dcap, the certificate self-signature that covers the extension.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from teaclave.tee.errors import EvidenceFormatError, UnsupportedApiVersion
from teaclave.tee.tcb import normalize_ias_status

__all__ = [
    "API_VERSION",
    "HARDWARE_PLATFORMS",
    "SIM_NOTICE",
    "AttestationReport",
    "EndorsedEvidence",
    "ReportKind",
    "format_timestamp",
    "hardware_report",
    "parse_report",
    "parse_timestamp",
    "sim_report",
]

API_VERSION = 4
SIM_NOTICE = "simulation — no hardware protection"
HARDWARE_PLATFORMS = frozenset({"sgx", "tdx", "sev-snp"})

_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|\+00:00)?$")


def format_timestamp(unix_secs: float) -> str:
    """IAS timestamp format (UTC, microseconds, no zone suffix)."""
    moment = datetime.datetime.fromtimestamp(unix_secs, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")


def parse_timestamp(text: str) -> float:
    """Parse an IAS/Teaclave timestamp (UTC; up to nanosecond fractions) to Unix seconds."""
    match = _TIMESTAMP.match(text)
    if match is None:
        raise EvidenceFormatError(f"report timestamp: {text!r} is not YYYY-MM-DDTHH:MM:SS[.f]")
    try:
        moment = datetime.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise EvidenceFormatError(f"report timestamp: {text!r} is not a valid date") from None
    fraction = float("0." + (match.group(2) or "0"))
    return moment.replace(tzinfo=datetime.UTC).timestamp() + fraction


def _bytes_array(value: Any, what: str) -> bytes:
    if not isinstance(value, list):
        raise EvidenceFormatError(f"evidence payload: {what} must be an array of bytes")
    try:
        return bytes(value)
    except (TypeError, ValueError):
        raise EvidenceFormatError(f"evidence payload: {what} must hold integers 0..255") from None


@dataclass(frozen=True, slots=True)
class EndorsedEvidence:
    """Teaclave's extension payload: ``report`` endorsed by ``signature`` under ``certs``.

    ``certs[0]`` signs; ``certs[1:]`` are intermediates only — never roots (the verifier trusts
    nothing but its configured roots and refuses self-issued certificates here).
    """

    report: bytes
    signature: bytes = b""
    certs: tuple[bytes, ...] = ()
    legacy_format: bool = False

    def to_json(self) -> bytes:
        """Compact serde-shaped JSON, the exact extension value."""
        doc = {
            "report": list(self.report),
            "signature": list(self.signature),
            "certs": [list(c) for c in self.certs],
        }
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> EndorsedEvidence:
        """Parse the extension value (also Teaclave's legacy ``signing_cert`` form)."""
        try:
            doc = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EvidenceFormatError(f"evidence payload: not JSON ({exc})") from None
        if not isinstance(doc, dict):
            raise EvidenceFormatError("evidence payload: must be a JSON object")
        legacy = "certs" not in doc and "signing_cert" in doc
        expected = {"report", "signature", "signing_cert" if legacy else "certs"}
        if set(doc) != expected:
            raise EvidenceFormatError(
                f"evidence payload: keys must be {sorted(expected)}, got {sorted(doc)}"
            )
        if legacy:
            certs: tuple[bytes, ...] = (_bytes_array(doc["signing_cert"], "signing_cert"),)
        else:
            raw_certs = doc["certs"]
            if not isinstance(raw_certs, list):
                raise EvidenceFormatError("evidence payload: certs must be an array")
            certs = tuple(_bytes_array(c, f"certs[{i}]") for i, c in enumerate(raw_certs))
        return cls(
            report=_bytes_array(doc["report"], "report"),
            signature=_bytes_array(doc["signature"], "signature"),
            certs=certs,
            legacy_format=legacy,
        )


class ReportKind(StrEnum):
    """What kind of report the evidence carries (decides how it is authenticated)."""

    SIM = "sim"
    AS_REPORT = "as-report"
    DCAP = "dcap"


@dataclass(frozen=True, slots=True)
class AttestationReport:
    """A parsed (not yet authenticated) report document."""

    kind: ReportKind
    platform: str
    issued_at: float
    report_id: str
    status: str
    quote_body: bytes = b""
    quote: bytes = b""

    @property
    def simulated(self) -> bool:
        """True for the ``sim`` platform."""
        return self.kind is ReportKind.SIM

    def __str__(self) -> str:
        label = f" [{SIM_NOTICE}]" if self.simulated else ""
        return f"{self.kind.value} report from {self.platform}{label}"


def _b64(value: Any, field: str) -> bytes:
    if not isinstance(value, str):
        raise EvidenceFormatError(f"report {field}: must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise EvidenceFormatError(f"report {field}: not valid base64") from None


def _str(doc: dict[str, Any], field: str) -> str:
    value = doc.get(field)
    if not isinstance(value, str):
        raise EvidenceFormatError(f"report {field}: missing or not a string")
    return value


def parse_report(report: bytes) -> AttestationReport:
    """Parse a report document; refuses any API version other than 4 first."""
    try:
        doc = json.loads(report)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvidenceFormatError(f"report: not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise EvidenceFormatError("report: must be a JSON object")
    version = doc.get("version")
    if isinstance(version, bool) or version != API_VERSION:
        raise UnsupportedApiVersion(
            f"report version: {version!r} is not supported (attestation API version "
            f"{API_VERSION} is required)"
        )
    issued_at = parse_timestamp(_str(doc, "timestamp"))
    report_id = doc.get("id", "")
    if not isinstance(report_id, str):
        raise EvidenceFormatError("report id: must be a string")
    platform = doc.get("platform")
    if platform is None:  # Teaclave's attestation-service report (IAS v4 shape)
        status = _str(doc, "isvEnclaveQuoteStatus")
        return AttestationReport(
            kind=ReportKind.AS_REPORT,
            platform="sgx",
            issued_at=issued_at,
            report_id=report_id,
            status=normalize_ias_status(status),
            quote_body=_b64(doc.get("isvEnclaveQuoteBody"), "isvEnclaveQuoteBody"),
        )
    if platform == "sim":
        if doc.get("notice") != SIM_NOTICE:
            raise EvidenceFormatError(f"sim report: notice must read {SIM_NOTICE!r}")
        return AttestationReport(
            kind=ReportKind.SIM,
            platform="sim",
            issued_at=issued_at,
            report_id=report_id,
            status=normalize_ias_status(_str(doc, "isvEnclaveQuoteStatus")),
            quote_body=_b64(doc.get("isvEnclaveQuoteBody"), "isvEnclaveQuoteBody"),
        )
    if platform in HARDWARE_PLATFORMS:
        return AttestationReport(
            kind=ReportKind.DCAP,
            platform=platform,
            issued_at=issued_at,
            report_id=report_id,
            status="",  # decided by quote verification
            quote=_b64(doc.get("quote"), "quote"),
        )
    raise EvidenceFormatError(f"report platform: {platform!r} is not sim, sgx, tdx or sev-snp")


def _dump(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def sim_report(quote_body: bytes, issued_at: float, report_id: str) -> bytes:
    """The ``sim`` report document for a 432-byte quote body."""
    return _dump(
        {
            "id": report_id,
            "version": API_VERSION,
            "timestamp": format_timestamp(issued_at),
            "platform": "sim",
            "notice": SIM_NOTICE,
            "isvEnclaveQuoteStatus": "OK",
            "isvEnclaveQuoteBody": base64.b64encode(quote_body).decode(),
        }
    )


def hardware_report(platform: str, quote: bytes, issued_at: float, report_id: str) -> bytes:
    """The ``dcap`` report document carrying a raw hardware quote."""
    if platform not in HARDWARE_PLATFORMS:
        raise ValueError(f"platform: {platform!r} is not a hardware platform")
    return _dump(
        {
            "id": report_id,
            "version": API_VERSION,
            "timestamp": format_timestamp(issued_at),
            "platform": platform,
            "quote": base64.b64encode(quote).decode(),
        }
    )
