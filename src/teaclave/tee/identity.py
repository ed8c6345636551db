"""Identities: what a verifier learns about a peer, and what a service presents.

* :class:`VerifiedIdentity` — the result of verifying a peer's RA-TLS certificate.
* :class:`AttestedIdentity` — a service's own RA-TLS certificate and key, made by
  :func:`issue_attested_identity`. It has ``name``, ``cert_pem`` and ``key_pem`` like
  ``teaclave.rpc.tls.Identity``, so it can stand in wherever that is used.
"""

from __future__ import annotations

import datetime
import math
import os
import time
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from teaclave.tee._files import key_pem
from teaclave.tee.evidence import SIM_NOTICE
from teaclave.tee.platforms import TeePlatform, get_platform
from teaclave.tee.ratls import build_ratls_certificate, report_data_for_key

__all__ = ["AttestedIdentity", "VerifiedIdentity", "issue_attested_identity"]


def _utc(unix_secs: float) -> str:
    return datetime.datetime.fromtimestamp(unix_secs, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class VerifiedIdentity:
    """A peer whose evidence verified.

    ``mr_enclave`` is MRENCLAVE (SGX, sim) or MRTD (TDX); ``mr_signer`` is empty for TDX.
    ``service`` is the enclave_info entry it matched (empty when only the evidence was checked).
    ``valid_until`` is when the identity stops being acceptable (certificate notAfter or evidence
    age limit, whichever is first). ``simulated`` identities carry no hardware protection.
    """

    platform: str
    mr_enclave: bytes
    mr_signer: bytes
    tcb_status: str
    debug: bool
    issued_at: float
    valid_until: float
    simulated: bool
    service: str = ""
    evidence_kind: str = ""
    report_data: bytes = field(default=b"", repr=False)
    advisory_ids: tuple[str, ...] = ()
    rtmrs: tuple[bytes, ...] = ()
    isv_prod_id: int = 0
    isv_svn: int = 0

    def describe(self) -> str:
        """Multi-line human-readable summary (what ``teaclave attest`` prints)."""
        mr_label = "MRTD" if self.platform == "tdx" else "MRENCLAVE"
        lines = [
            f"service:     {self.service or '(evidence only; no enclave_info match requested)'}",
            f"platform:    {self.platform}"
            + (f"  [{SIM_NOTICE}]" if self.simulated else "")
            + f"  ({self.evidence_kind})",
            f"{mr_label + ':':<12} {self.mr_enclave.hex()}",
        ]
        if self.mr_signer:
            lines.append(f"MRSIGNER:    {self.mr_signer.hex()}")
        lines.extend(f"RTMR{i}:       {value.hex()}" for i, value in enumerate(self.rtmrs))
        advisories = f" (advisories: {', '.join(self.advisory_ids)})" if self.advisory_ids else ""
        lines += [
            f"TCB status:  {self.tcb_status}{advisories}",
            f"debug:       {'yes' if self.debug else 'no'}",
            f"issued at:   {_utc(self.issued_at)}",
            f"valid until: {_utc(self.valid_until)}",
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        label = f" [{SIM_NOTICE}]" if self.simulated else ""
        name = self.service or "peer"
        return f"{name} on {self.platform}{label}: MRENCLAVE {self.mr_enclave.hex()[:16]}…"


@dataclass(frozen=True, slots=True)
class AttestedIdentity:
    """A service's RA-TLS certificate (PEM and DER) and private key, with its own claims."""

    name: str
    cert_pem: bytes
    key_pem: bytes = field(repr=False)
    cert_der: bytes = field(repr=False)
    platform: str
    simulated: bool
    mr_enclave: bytes
    mr_signer: bytes
    issued_at: float
    valid_until: float

    def renew_at(self, fraction: float = 0.75) -> float:
        """When to issue a replacement: ``fraction`` of the way through the validity period."""
        if not 0 < fraction < 1:
            raise ValueError("renewal fraction: must be between 0 and 1")
        return self.issued_at + (self.valid_until - self.issued_at) * fraction

    def __str__(self) -> str:
        label = f" [{SIM_NOTICE}]" if self.simulated else ""
        return f"{self.name} on {self.platform}{label}, valid until {_utc(self.valid_until)}"


def issue_attested_identity(
    service_name: str,
    platform: TeePlatform | str = "sim",
    state_dir: str | os.PathLike[str] | None = None,
    validity_secs: float = 3600.0,
    *,
    now: float | None = None,
    teaclave_layout: bool = False,
) -> AttestedIdentity:
    """Make a fresh P-256 key, get evidence binding it, and wrap both in an RA-TLS certificate.

    ``platform`` is a :class:`TeePlatform` or a platform name (then ``state_dir`` is needed for
    ``sim``). The certificate is valid from ``now`` for ``validity_secs`` (a policy refuses it
    sooner if its ``attestation_validity_secs`` is shorter).
    """
    if validity_secs <= 0:
        raise ValueError("validity_secs: must be > 0")
    if isinstance(platform, str):
        if state_dir is None:
            raise ValueError("state_dir: needed to open a platform by name")
        platform = get_platform(platform, state_dir)
    issued_at = time.time() if now is None else now
    key = ec.generate_private_key(ec.SECP256R1())
    evidence = platform.attest(service_name, report_data_for_key(key.public_key()), now=issued_at)
    not_before = math.floor(issued_at)
    not_after = math.floor(issued_at + validity_secs)
    cert = build_ratls_certificate(
        key,
        evidence,
        service_name=service_name,
        not_before=datetime.datetime.fromtimestamp(not_before, datetime.UTC),
        not_after=datetime.datetime.fromtimestamp(not_after, datetime.UTC),
        simulated=platform.simulated,
        teaclave_layout=teaclave_layout,
    )
    measurement = platform.measurement(service_name)
    return AttestedIdentity(
        name=service_name,
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key_pem(key),
        cert_der=cert.public_bytes(serialization.Encoding.DER),
        platform=platform.name,
        simulated=platform.simulated,
        mr_enclave=measurement.mr_enclave or measurement.mr_td,
        mr_signer=measurement.mr_signer,
        issued_at=issued_at,
        valid_until=float(not_after),
    )
