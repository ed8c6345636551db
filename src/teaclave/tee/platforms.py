"""TEE platforms behind one interface: ``sim`` (default), ``sgx`` (Gramine), ``tdx``/``sev-snp``.

A :class:`TeePlatform` turns 64 bytes of report data (the TLS key, §1.6) into evidence for
an RA-TLS certificate, reports the enclave's measurement, and derives sealing keys.

* ``sim`` — :class:`SimPlatform`: simulation — no hardware protection (see ``sim_quote``).
* ``sgx`` — :class:`GramineSgxPlatform`: inside a Gramine SGX enclave, write the report data to
  ``/dev/attestation/user_report_data`` and read the DCAP quote from ``/dev/attestation/quote``;
  ``/dev/attestation/attestation_type`` must say ``dcap``.
* ``tdx``, ``sev-snp`` — :class:`ConfigfsTsmPlatform`: Linux configfs-tsm: ``mkdir
  /sys/kernel/config/tsm/report/<name>``, write ``inblob``, read ``outblob``, check ``provider``
  and that ``generation`` advanced by exactly one write (no concurrent writer raced us).

:func:`get_platform` fails loudly (:class:`~teaclave.tee.errors.PlatformUnavailable` naming
the missing device) when the configured platform is not there: start-up must not silently fall
back to another platform.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from pathlib import Path
from typing import Protocol, runtime_checkable

from teaclave.tee.dcap import quote_measurement
from teaclave.tee.enclave_info import EnclaveIdentity
from teaclave.tee.errors import (
    EvidenceGenerationFailed,
    PlatformUnavailable,
    SealingUnavailable,
)
from teaclave.tee.evidence import SIM_NOTICE, EndorsedEvidence, hardware_report
from teaclave.tee.measurement import measure_service
from teaclave.tee.quote_body import QuoteBody
from teaclave.tee.sealing import SealingKey, derive_sealing_key, load_root_secret
from teaclave.tee.sim_quote import SimQuotingAuthority, sim_quote_body

__all__ = [
    "GRAMINE_DEVICE",
    "PLATFORM_NAMES",
    "TSM_REPORT_DIR",
    "ConfigfsTsmPlatform",
    "GramineSgxPlatform",
    "SimPlatform",
    "TeePlatform",
    "get_platform",
]

PLATFORM_NAMES = ("sim", "sgx", "tdx", "sev-snp")
GRAMINE_DEVICE = Path("/dev/attestation")
TSM_REPORT_DIR = Path("/sys/kernel/config/tsm/report")
REPORT_DATA_SIZE = 64
_GRAMINE_SALT = b"teaclave-gramine-sealing/v1"


def _check_report_data(report_data: bytes) -> None:
    if len(report_data) != REPORT_DATA_SIZE:
        raise ValueError(f"report data: must be {REPORT_DATA_SIZE} bytes, got {len(report_data)}")


@runtime_checkable
class TeePlatform(Protocol):
    """What services need from a TEE."""

    @property
    def name(self) -> str:
        """Platform name (``sim``, ``sgx``, ``tdx``, ``sev-snp``)."""
        ...

    @property
    def simulated(self) -> bool:
        """True when there is no hardware protection."""
        ...

    def measurement(self, service: str) -> EnclaveIdentity:
        """The identity peers will see for ``service`` (what enclave_info must list)."""
        ...

    def attest(self, service: str, report_data: bytes, *, now: float) -> EndorsedEvidence:
        """Evidence binding ``report_data`` (64 bytes) to this enclave, issued at ``now``."""
        ...

    def sealing_key(self, service: str, label: str) -> SealingKey:
        """A key only this enclave identity can derive, for purpose ``label``."""
        ...


class SimPlatform:
    """The simulated platform (simulation — no hardware protection).

    ``package_root`` is the code that is measured (default: the installed package); ``debug``
    sets the quote's DEBUG attribute.
    """

    name = "sim"
    simulated = True

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        *,
        package_root: str | os.PathLike[str] | None = None,
        debug: bool = False,
    ) -> None:
        self.authority = SimQuotingAuthority.load_or_create(state_dir)
        self.package_root = package_root
        self.debug = debug

    @property
    def root_der(self) -> bytes:
        """The simulated root certificate (DER) a verifier of this platform must trust."""
        return self.authority.root_der

    def measurement(self, service: str) -> EnclaveIdentity:
        """MRENCLAVE of ``service``'s code and the simulated MRSIGNER."""
        return EnclaveIdentity(
            mr_enclave=measure_service(service, self.package_root),
            mr_signer=self.authority.mr_signer,
        )

    def attest(self, service: str, report_data: bytes, *, now: float) -> EndorsedEvidence:
        """A signed sim quote for ``service`` carrying ``report_data``."""
        _check_report_data(report_data)
        identity = self.measurement(service)
        body = sim_quote_body(
            identity.mr_enclave, identity.mr_signer, report_data, debug=self.debug
        )
        return self.authority.endorse(body, now)

    def sealing_key(self, service: str, label: str) -> SealingKey:
        """HKDF of the state directory's root secret and ``service``'s MRENCLAVE."""
        mr_enclave = measure_service(service, self.package_root)
        secret = load_root_secret(self.authority.root_secret_path)
        return SealingKey(
            key=derive_sealing_key(secret, mr_enclave, label),
            mr_enclave=mr_enclave,
            platform=self.name,
            label=label,
        )

    def __repr__(self) -> str:
        return f"SimPlatform({self.authority.directory}; {SIM_NOTICE})"


class GramineSgxPlatform:
    """SGX through Gramine's ``/dev/attestation`` pseudo-files (DCAP quotes)."""

    name = "sgx"
    simulated = False

    def __init__(self, device: str | os.PathLike[str] = GRAMINE_DEVICE) -> None:
        self.device = Path(device)
        kind_file = self.device / "attestation_type"
        if not kind_file.exists():
            raise PlatformUnavailable(
                f"sgx: {kind_file} is missing (not running inside a Gramine SGX enclave)"
            )
        kind = kind_file.read_text().strip()
        if kind != "dcap":
            raise PlatformUnavailable(
                f"sgx: {kind_file} says {kind!r}, need 'dcap' "
                '(set sgx.remote_attestation = "dcap" in the Gramine manifest)'
            )
        self._lock = threading.Lock()
        self._identity: EnclaveIdentity | None = None

    def quote(self, report_data: bytes) -> bytes:
        """A raw DCAP quote over ``report_data``."""
        _check_report_data(report_data)
        with self._lock:
            try:
                (self.device / "user_report_data").write_bytes(report_data)
                quote = (self.device / "quote").read_bytes()
            except OSError as exc:
                raise EvidenceGenerationFailed(f"sgx: {self.device}: {exc}") from None
        if len(quote) < 436:
            raise EvidenceGenerationFailed(f"sgx: quote of {len(quote)} bytes is too short")
        return quote

    def measurement(self, service: str) -> EnclaveIdentity:
        """MRENCLAVE and MRSIGNER of this enclave (from a quote; cached)."""
        if self._identity is None:
            body = QuoteBody.parse(self.quote(bytes(REPORT_DATA_SIZE))[:432])
            self._identity = EnclaveIdentity(mr_enclave=body.mr_enclave, mr_signer=body.mr_signer)
        return self._identity

    def attest(self, service: str, report_data: bytes, *, now: float) -> EndorsedEvidence:
        """A ``dcap`` report carrying the quote (no endorsement: the quote is self-verifying)."""
        quote = self.quote(report_data)
        return EndorsedEvidence(report=hardware_report("sgx", quote, now, uuid.uuid4().hex))

    def sealing_key(self, service: str, label: str) -> SealingKey:
        """HKDF of Gramine's MRENCLAVE sealing key (``keys/_sgx_mrenclave``)."""
        path = self.device / "keys" / "_sgx_mrenclave"
        try:
            secret = path.read_bytes()
        except OSError as exc:
            raise SealingUnavailable(f"sgx: {path}: {exc.strerror}") from None
        mr_enclave = self.measurement(service).mr_enclave
        return SealingKey(
            key=derive_sealing_key(secret, mr_enclave, label, salt=_GRAMINE_SALT),
            mr_enclave=mr_enclave,
            platform=self.name,
            label=label,
        )


class ConfigfsTsmPlatform:
    """TDX or SEV-SNP through Linux configfs-tsm reports."""

    simulated = False
    _PROVIDERS = {"tdx": "tdx_guest", "sev-snp": "sev_guest"}

    def __init__(self, kind: str, reports: str | os.PathLike[str] = TSM_REPORT_DIR) -> None:
        if kind not in self._PROVIDERS:
            raise ValueError(f"configfs-tsm platform: {kind!r} is not tdx or sev-snp")
        self._name = kind
        self.reports = Path(reports)
        if not self.reports.is_dir():
            raise PlatformUnavailable(
                f"{kind}: {self.reports} is missing (configfs-tsm needs Linux >= 6.7 with "
                f"CONFIG_TSM_REPORTS, configfs mounted, and a {kind.upper()} guest)"
            )
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """``tdx`` or ``sev-snp``."""
        return self._name

    def report(self, report_data: bytes) -> bytes:
        """A raw quote (TDX) or attestation report (SEV-SNP) over ``report_data``."""
        _check_report_data(report_data)
        entry = self.reports / f"teaclave-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        with self._lock:
            try:
                entry.mkdir()
            except OSError as exc:
                raise EvidenceGenerationFailed(f"{self.name}: mkdir {entry}: {exc}") from None
            try:
                before = int((entry / "generation").read_text())
                (entry / "inblob").write_bytes(report_data)
                blob = (entry / "outblob").read_bytes()
                provider = (entry / "provider").read_text().strip()
                after = int((entry / "generation").read_text())
            except (OSError, ValueError) as exc:
                raise EvidenceGenerationFailed(f"{self.name}: {entry}: {exc}") from None
            finally:
                with contextlib.suppress(OSError):
                    entry.rmdir()
        if after != before + 1:
            raise EvidenceGenerationFailed(
                f"{self.name}: {entry} generation went {before} → {after}: another writer "
                "raced this report"
            )
        if provider != self._PROVIDERS[self.name]:
            raise EvidenceGenerationFailed(
                f"{self.name}: provider is {provider!r}, expected {self._PROVIDERS[self.name]!r}"
            )
        return blob

    def measurement(self, service: str) -> EnclaveIdentity:
        """MRTD and RTMRs (TDX quote) or MEASUREMENT (SEV-SNP report offset 0x90)."""
        blob = self.report(bytes(REPORT_DATA_SIZE))
        if self.name == "tdx":
            return quote_measurement(blob)
        return EnclaveIdentity(mr_td=blob[0x90 : 0x90 + 48])

    def attest(self, service: str, report_data: bytes, *, now: float) -> EndorsedEvidence:
        """A ``dcap`` report carrying the raw quote/report."""
        blob = self.report(report_data)
        return EndorsedEvidence(report=hardware_report(self.name, blob, now, uuid.uuid4().hex))

    def sealing_key(self, service: str, label: str) -> SealingKey:
        """Unavailable: confidential VMs have no enclave-bound sealing key here."""
        raise SealingUnavailable(
            f"{self.name}: no sealing key on this platform (provision secrets through a key "
            "broker that verifies this VM's attestation)"
        )


def get_platform(
    name: str,
    state_dir: str | os.PathLike[str],
    *,
    package_root: str | os.PathLike[str] | None = None,
) -> TeePlatform:
    """The platform called ``name``; :class:`PlatformUnavailable` if its device is missing."""
    if name == "sim":
        return SimPlatform(state_dir, package_root=package_root)
    if name == "sgx":
        return GramineSgxPlatform()
    if name in ("tdx", "sev-snp"):
        return ConfigfsTsmPlatform(name)
    raise PlatformUnavailable(f"platform {name!r}: unknown (one of {', '.join(PLATFORM_NAMES)})")
