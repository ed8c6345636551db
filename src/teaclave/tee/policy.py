"""``VerificationPolicy``: everything a verifier trusts and requires, in one immutable value.

Strict by default (``spec/security.md`` §5.2 lists what Teaclave let through):

* ``platforms`` — evidence platforms accepted; hardware only (``sgx``, ``tdx``) unless ``sim``
  is listed explicitly. Each kind of evidence is checked against *its own* roots, so a sim
  root (whose key sits in a state directory) can never vouch for "hardware" evidence:
  ``sim_roots`` for sim quotes, ``as_roots`` for Teaclave attestation-service reports (e.g.
  Teaclave's ``dcap_root_ca_cert.der``; empty = AS reports refused), ``dcap_root`` for raw
  SGX/TDX quotes (``None`` = Intel's SGX Root CA).
* ``collateral`` — where raw-quote collateral comes from (files or PCCS).
* ``tcb_allow`` — TCB statuses accepted (default ``UpToDate`` only; ``Revoked``/``Invalid`` can
  never be allowed).
* ``allow_debug`` — False (production): debug enclaves/TDs are refused.
* ``attestation_validity_secs`` — maximum evidence age (default 3600); ``clock_skew_secs`` —
  tolerance for clocks; ``not_before`` — refuse evidence issued before this instant (e.g. after
  a key compromise or a TCB recovery).
* ``enclave_info`` — the identity accepted for each service; with ``require_audited`` (default)
  it must come from :func:`~teaclave.tee.enclave_info.load_audited_enclave_info`.

Root certificates are parsed once and cached (per distinct set of DER blobs).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import verification

from teaclave.tee._files import TEE_DIR
from teaclave.tee.dcap import CollateralSource
from teaclave.tee.enclave_info import EnclaveInfo
from teaclave.tee.sim_quote import SIM_ROOT_CERT_FILE
from teaclave.tee.tcb import DEFAULT_TCB_ALLOW, NEVER_ALLOWED, TCB_STATUSES

__all__ = ["PLATFORMS", "VerificationPolicy", "sim_root_der", "trust_store"]

#: Every evidence platform name a policy may list.
PLATFORMS = frozenset({"sim", "sgx", "tdx", "sev-snp"})


@functools.lru_cache(maxsize=32)
def trust_store(roots: tuple[bytes, ...]) -> verification.Store:
    """A verification store for DER roots (cached: parsing happens once per root set)."""
    certs: list[x509.Certificate] = []
    for index, der in enumerate(roots):
        try:
            certs.append(x509.load_der_x509_certificate(der))
        except ValueError as exc:
            raise ValueError(f"policy root #{index}: not a DER certificate ({exc})") from None
    return verification.Store(certs)


def sim_root_der(state_dir: str | os.PathLike[str]) -> bytes:
    """The simulated root of ``state_dir`` (DER); it must already exist."""
    path = Path(state_dir) / TEE_DIR / SIM_ROOT_CERT_FILE
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"sim root {path}: {exc.strerror}") from None
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True, slots=True)
class VerificationPolicy:
    """What a verifier accepts (see the module docstring for each field)."""

    enclave_info: EnclaveInfo
    platforms: frozenset[str] = frozenset({"sgx", "tdx"})
    sim_roots: tuple[bytes, ...] = ()
    as_roots: tuple[bytes, ...] = ()
    dcap_root: bytes | None = None
    collateral: CollateralSource | None = field(default=None, compare=False)
    tcb_allow: frozenset[str] = DEFAULT_TCB_ALLOW
    allow_debug: bool = False
    attestation_validity_secs: float = 3600.0
    clock_skew_secs: float = 60.0
    not_before: float | None = None
    require_audited: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "platforms", frozenset(self.platforms))
        object.__setattr__(self, "tcb_allow", frozenset(self.tcb_allow))
        object.__setattr__(self, "sim_roots", tuple(self.sim_roots))
        object.__setattr__(self, "as_roots", tuple(self.as_roots))
        unknown = sorted(self.platforms - PLATFORMS)
        if unknown:
            raise ValueError(f"policy platforms: {unknown[0]!r} is not one of {sorted(PLATFORMS)}")
        if not self.platforms:
            raise ValueError("policy platforms: must not be empty")
        bad = sorted(self.tcb_allow - TCB_STATUSES)
        if bad:
            raise ValueError(f"policy tcb_allow: {bad[0]!r} is not one of {sorted(TCB_STATUSES)}")
        never = sorted(self.tcb_allow & NEVER_ALLOWED)
        if never:
            raise ValueError(f"policy tcb_allow: {never[0]} can never be allowed")
        if not self.tcb_allow:
            raise ValueError("policy tcb_allow: must not be empty")
        if self.attestation_validity_secs <= 0:
            raise ValueError("policy attestation_validity_secs: must be > 0")
        if self.clock_skew_secs < 0:
            raise ValueError("policy clock_skew_secs: must be >= 0")
        if self.require_audited and not self.enclave_info.auditors:
            raise ValueError(
                "policy enclave_info: not audited (load it with load_audited_enclave_info, "
                "or set require_audited=False for tests)"
            )
        for roots in (self.sim_roots, self.as_roots):
            if roots:
                trust_store(roots)  # fail now on a bad root, and warm the cache
        if self.dcap_root is not None:
            x509.load_der_x509_certificate(self.dcap_root)

    @classmethod
    def simulation(
        cls, state_dir: str | os.PathLike[str], enclave_info: EnclaveInfo, **overrides: Any
    ) -> VerificationPolicy:
        """A policy accepting ``sim`` evidence rooted in ``state_dir``'s simulated root."""
        options: dict[str, Any] = {"platforms": frozenset({"sim"})}
        options.update(overrides)
        options.setdefault("sim_roots", (sim_root_der(state_dir),))
        return cls(enclave_info=enclave_info, **options)
