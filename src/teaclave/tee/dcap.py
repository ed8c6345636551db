"""Real SGX and TDX quote verification with dcap-qvl, against collateral from files (or PCCS).

``check_quote`` does everything cryptographic and returns what the quote says; ``verify_quote``
adds the policy decisions (TCB-status allow-list, debug rejection). Checks, in order:

1. **Framing** (stricter than dcap-qvl, which ignores some bytes): the signature-data and
   certification-data sizes must account for the quote exactly (only zero padding may follow),
   the certification data types must be 6 (QE report) / 5 (PCK chain), the embedded PCK chain
   must be canonical PEM (trailing NULs only) and end with a byte-identical copy of the trusted
   root (Intel embeds the full chain: PCK, platform/processor CA, root). So *every* flipped
   byte of a quote is refused, not only the bytes a signature covers.
2. **dcap-qvl**: quote signature, QE report, PCK chain to the trusted root (Intel's SGX Root CA
   unless a root is given), CRLs, TCB info and QE identity signatures, and collateral validity
   at ``now`` (``now`` is a parameter so tests can use the fixtures' windows).
3. **Extraction** of MRENCLAVE/MRSIGNER/ISV ids (SGX) or MRTD/RTMR0-3 (TDX), report data, the
   debug bit (SGX attributes flags bit 1, TDX td_attributes bit 0), the TCB status and advisories.

dcap-qvl 0.7.0 ships no type information (no ``py.typed``); this module is its typed wrapper.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import os
import struct
import threading
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import dcap_qvl  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from teaclave.tee.enclave_info import EnclaveIdentity
from teaclave.tee.errors import (
    CollateralExpired,
    CollateralUnavailable,
    DebugEnclaveRejected,
    QuoteRejected,
    TcbStatusRejected,
)
from teaclave.tee.tcb import DEFAULT_TCB_ALLOW

__all__ = [
    "INTEL_SGX_ROOT_CA_PEM",
    "INTEL_SGX_ROOT_CA_SHA256",
    "Collateral",
    "CollateralSource",
    "DcapVerdict",
    "FileCollateral",
    "PccsCollateral",
    "check_quote",
    "intel_root_der",
    "quote_measurement",
    "verify_quote",
]

#: Intel SGX Root CA (2018-05-21 → 2049-12-31), byte-identical to the root compiled into
#: dcap-qvl 0.7.0; kept here to compare with the copy embedded in quotes.
INTEL_SGX_ROOT_CA_PEM = b"""-----BEGIN CERTIFICATE-----
MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIw
aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv
cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ
BgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgG
A1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0
aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT
AlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi7
1OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOB
uzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJ
MEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50
ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SV
Ur9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYI
KoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwg
AiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=
-----END CERTIFICATE-----
"""
INTEL_SGX_ROOT_CA_SHA256 = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"

_TEE_SGX = 0x00000000
_TEE_TDX = 0x00000081
_CERT_TYPE_PCK_CHAIN = 5
_CERT_TYPE_QE_REPORT = 6
_QE_REPORT_SIZE = 384
_SIG_AND_KEY = 128  # ECDSA P-256 signature (64) + attestation public key (64)


def intel_root_der() -> bytes:
    """DER of the Intel SGX Root CA (checked against its pinned SHA-256)."""
    der = x509.load_pem_x509_certificate(INTEL_SGX_ROOT_CA_PEM).public_bytes(
        serialization.Encoding.DER
    )
    if hashlib.sha256(der).hexdigest() != INTEL_SGX_ROOT_CA_SHA256:  # pragma: no cover
        raise RuntimeError("built-in Intel SGX Root CA does not match its pinned fingerprint")
    return der


_INTEL_ROOT_DER = intel_root_der()


def _utc(unix_secs: float) -> str:
    return datetime.datetime.fromtimestamp(unix_secs, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True, slots=True)
class Collateral:
    """Parsed quote collateral (PCK CRLs, TCB info, QE identity, issuer chains)."""

    tee: str  # "SGX" or "TDX" (the TCB info id)
    fmspc: str  # upper-case hex
    issued: float  # latest issueDate of TCB info / QE identity
    next_update: float  # earliest nextUpdate of TCB info / QE identity
    native: Any = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, text: str) -> Collateral:
        """Parse dcap-qvl's collateral JSON (what ``get_collateral`` returns / the fixtures)."""
        try:
            native = dcap_qvl.QuoteCollateralV3.from_json(text)
            tcb_info = json.loads(native.tcb_info)
            qe_identity = json.loads(native.qe_identity)
            tee = str(tcb_info["id"])
            fmspc = str(tcb_info["fmspc"]).upper()
            issued = max(_iso(tcb_info["issueDate"]), _iso(qe_identity["issueDate"]))
            next_update = min(_iso(tcb_info["nextUpdate"]), _iso(qe_identity["nextUpdate"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise CollateralUnavailable(f"collateral: cannot be parsed ({exc})") from None
        return cls(tee=tee, fmspc=fmspc, issued=issued, next_update=next_update, native=native)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Collateral:
        """Read collateral JSON from ``path``."""
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise CollateralUnavailable(f"collateral file {path}: {exc.strerror}") from None
        return cls.from_json(text)

    def describe(self) -> str:
        """Which platform the collateral is for and its validity window."""
        return (
            f"{self.tee} FMSPC {self.fmspc} collateral valid "
            f"{_utc(self.issued)} → {_utc(self.next_update)}"
        )


class CollateralSource(Protocol):
    """Where verification gets collateral for a quote."""

    def collateral_for(self, quote: bytes) -> Collateral:
        """Collateral matching the quote's TEE type and FMSPC (or CollateralUnavailable)."""
        ...


def _quote_key(quote: bytes) -> tuple[str, str]:
    try:
        parsed = dcap_qvl.parse_quote(quote)
        return ("TDX" if parsed.is_tdx() else "SGX", str(parsed.fmspc()).upper())
    except ValueError as exc:
        raise QuoteRejected(f"quote: cannot be parsed ({exc})") from None


class FileCollateral:
    """Collateral loaded once from JSON files, chosen by (TEE type, FMSPC)."""

    def __init__(self, paths: Iterable[str | os.PathLike[str]]) -> None:
        self._by_key: dict[tuple[str, str], Collateral] = {}
        for path in paths:
            collateral = Collateral.from_file(path)
            key = (collateral.tee, collateral.fmspc)
            if key in self._by_key:
                raise CollateralUnavailable(
                    f"collateral file {path}: a second file for {key[0]} FMSPC {key[1]}"
                )
            self._by_key[key] = collateral

    def collateral_for(self, quote: bytes) -> Collateral:
        """The loaded collateral for this quote's platform."""
        key = _quote_key(quote)
        try:
            return self._by_key[key]
        except KeyError:
            raise CollateralUnavailable(
                f"collateral: none configured for {key[0]} FMSPC {key[1]}"
            ) from None


class PccsCollateral:
    """Collateral fetched from a PCCS (or Intel PCS) URL, cached per (TEE type, FMSPC).

    Entries are refetched once ``now`` passes their ``next_update`` (or after ``max_age_secs``).
    """

    def __init__(
        self, url: str, *, max_age_secs: float = 3600.0, timeout_secs: float = 10.0
    ) -> None:
        self.url = url
        self.max_age_secs = max_age_secs
        self.timeout_secs = timeout_secs
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[float, Collateral]] = {}

    def collateral_for(self, quote: bytes) -> Collateral:
        """Cached or freshly fetched collateral for this quote's platform."""
        key = _quote_key(quote)
        now = time.time()
        with self._lock:
            cached = self._cache.get(key)
        if (
            cached is not None
            and now - cached[0] < self.max_age_secs
            and now < cached[1].next_update
        ):
            return cached[1]
        collateral = self._fetch(quote)
        with self._lock:
            self._cache[key] = (now, collateral)
        return collateral

    def _fetch(self, quote: bytes) -> Collateral:
        async def fetch() -> Any:
            return await asyncio.wait_for(
                dcap_qvl.get_collateral(self.url, quote), timeout=self.timeout_secs
            )

        try:
            native = asyncio.run(fetch())
            return Collateral.from_json(native.to_json())
        except (ValueError, RuntimeError, TimeoutError, OSError) as exc:
            raise CollateralUnavailable(f"collateral from {self.url}: {exc}") from None


@dataclass(frozen=True, slots=True)
class DcapVerdict:
    """What a cryptographically verified quote says."""

    tee: str  # "sgx" or "tdx"
    status: str
    advisory_ids: tuple[str, ...]
    debug: bool
    report_data: bytes
    mr_enclave: bytes  # SGX MRENCLAVE, or TDX MRTD
    mr_signer: bytes  # SGX MRSIGNER, empty for TDX
    rtmrs: tuple[bytes, ...] = ()
    isv_prod_id: int = 0
    isv_svn: int = 0
    attributes: bytes = b""  # SGX attributes (16) or TDX td_attributes (8)


def _check_pem_chain(pem: bytes, root_der: bytes) -> None:
    text = pem.rstrip(b"\0")
    try:
        certs = x509.load_pem_x509_certificates(text)
    except ValueError as exc:
        raise QuoteRejected(f"quote PCK chain: not PEM certificates ({exc})") from None
    canonical = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
    if text != canonical:
        raise QuoteRejected("quote PCK chain: not canonical PEM (modified bytes)")
    if certs[-1].public_bytes(serialization.Encoding.DER) != root_der:
        raise QuoteRejected("quote PCK chain: does not end with the trusted root certificate")


def _check_framing(raw: bytes, root_der: bytes) -> None:
    def fail(what: str) -> QuoteRejected:
        return QuoteRejected(f"quote framing: {what}")

    try:
        version, _key_type, tee_type = struct.unpack_from("<HHI", raw, 0)
        if version == 3:
            body_end = 48 + 384
        elif version == 4:
            body_end = 48 + (584 if tee_type == _TEE_TDX else 384)
        elif version == 5:
            _body_type, body_size = struct.unpack_from("<HI", raw, 48)
            body_end = 54 + body_size
        else:
            raise fail(f"version {version} is not 3, 4 or 5")
        (sig_len,) = struct.unpack_from("<I", raw, body_end)
        sig_end = body_end + 4 + sig_len
        if sig_end > len(raw):
            raise fail(f"signature data ({sig_len} bytes) runs past the quote end")
        if any(raw[sig_end:]):
            raise fail("non-zero bytes after the signature data")
        pos = body_end + 4 + _SIG_AND_KEY
        if version != 3:
            outer_type, outer_size = struct.unpack_from("<HI", raw, pos)
            if outer_type != _CERT_TYPE_QE_REPORT:
                raise fail(f"certification data type {outer_type} is not {_CERT_TYPE_QE_REPORT}")
            pos += 6
            if pos + outer_size != sig_end:
                raise fail("certification data size does not match the signature data")
        pos += _QE_REPORT_SIZE + 64
        (auth_size,) = struct.unpack_from("<H", raw, pos)
        pos += 2 + auth_size
        cert_type, cert_size = struct.unpack_from("<HI", raw, pos)
        pos += 6
    except struct.error:
        raise fail("truncated") from None
    if cert_type != _CERT_TYPE_PCK_CHAIN:
        raise fail(f"PCK certification data type {cert_type} is not {_CERT_TYPE_PCK_CHAIN}")
    if pos + cert_size != sig_end:
        raise fail("PCK chain size does not match the signature data")
    _check_pem_chain(raw[pos:sig_end], root_der)


def _classify(message: str, collateral: Collateral, now: float) -> QuoteRejected | None:
    lowered = message.lower()
    if "expired" in lowered or "in the future" in lowered or "not yet valid" in lowered:
        return CollateralExpired(
            f"collateral: not valid at {_utc(now)} ({collateral.describe()}; dcap-qvl: {message})"
        )
    return None


def check_quote(
    raw_quote: bytes,
    collateral: Collateral,
    *,
    now: float | None = None,
    root_ca_der: bytes | None = None,
) -> DcapVerdict:
    """Verify a quote cryptographically (framing, signatures, chain, collateral at ``now``)."""
    when = time.time() if now is None else now
    root = _INTEL_ROOT_DER if root_ca_der is None else root_ca_der
    _check_framing(raw_quote, root)
    try:
        if root_ca_der is None:
            report = dcap_qvl.verify(raw_quote, collateral.native, int(when))
        else:
            report = dcap_qvl.verify_with_root_ca(
                raw_quote, collateral.native, root_ca_der, int(when)
            )
    except ValueError as exc:
        message = " ".join(str(exc).split())
        if "no matching tcb level" in message.lower():
            raise TcbStatusRejected(
                f"TCB status: no TCB level in the collateral matches this platform "
                f"({collateral.describe()}; dcap-qvl: {message})",
                status="NoMatchingTcbLevel",
            ) from None
        raise _classify(message, collateral, when) or QuoteRejected(f"quote: {message}") from None
    parsed = dcap_qvl.parse_quote(raw_quote)
    body = parsed.report
    status = str(report.status)
    advisories = tuple(str(a) for a in report.advisory_ids)
    if parsed.is_tdx():
        td_attributes = bytes(body.td_attributes)
        return DcapVerdict(
            tee="tdx",
            status=status,
            advisory_ids=advisories,
            debug=bool(td_attributes[0] & 0x01),
            report_data=bytes(body.report_data),
            mr_enclave=bytes(body.mr_td),
            mr_signer=b"",
            rtmrs=tuple(bytes(getattr(body, f"rt_mr{i}")) for i in range(4)),
            attributes=td_attributes,
        )
    attributes = bytes(body.attributes)
    return DcapVerdict(
        tee="sgx",
        status=status,
        advisory_ids=advisories,
        debug=bool(attributes[0] & 0x02),
        report_data=bytes(body.report_data),
        mr_enclave=bytes(body.mr_enclave),
        mr_signer=bytes(body.mr_signer),
        isv_prod_id=struct.unpack_from("<H", raw_quote, 48 + 256)[0],
        isv_svn=struct.unpack_from("<H", raw_quote, 48 + 258)[0],
        attributes=attributes,
    )


def verify_quote(
    raw_quote: bytes,
    collateral: Collateral,
    *,
    now: float | None = None,
    tcb_allow: Collection[str] = DEFAULT_TCB_ALLOW,
    allow_debug: bool = False,
    root_ca_der: bytes | None = None,
) -> DcapVerdict:
    """:func:`check_quote` plus the TCB-status allow-list and debug rejection."""
    verdict = check_quote(raw_quote, collateral, now=now, root_ca_der=root_ca_der)
    if verdict.status not in tcb_allow:
        raise TcbStatusRejected(
            f"TCB status: {verdict.status} is not allowed (allowed: {', '.join(sorted(tcb_allow))}"
            f"; advisories: {', '.join(verdict.advisory_ids) or 'none'})",
            status=verdict.status,
        )
    if verdict.debug and not allow_debug:
        raise DebugEnclaveRejected(
            f"{verdict.tee} quote: debug mode (attributes {verdict.attributes.hex()}) is not "
            "allowed by this policy"
        )
    return verdict


def quote_measurement(raw_quote: bytes) -> EnclaveIdentity:
    """The identity a quote claims, *unverified*: SGX MRENCLAVE/MRSIGNER, TDX MRTD+RTMRs."""
    try:
        parsed = dcap_qvl.parse_quote(raw_quote)
    except ValueError as exc:
        raise QuoteRejected(f"quote: cannot be parsed ({exc})") from None
    body = parsed.report
    if parsed.is_tdx():
        return EnclaveIdentity(
            mr_td=bytes(body.mr_td),
            rtmrs=tuple((i, bytes(getattr(body, f"rt_mr{i}"))) for i in range(4)),
        )
    return EnclaveIdentity(mr_enclave=bytes(body.mr_enclave), mr_signer=bytes(body.mr_signer))
