"""``enclave_info.toml`` (the accepted identity of each service) and its auditor signatures.

**File** (``spec/security.md`` §1.11): one table per enclave, named like
``[teaclave_storage_service]``, with ``mr_enclave`` and ``mr_signer`` as 64 lowercase hex
characters (SGX and ``sim``). A TDX service instead lists ``mr_td`` (96 hex characters) and
optionally ``rtmr0`` … ``rtmr3``. Any other key, or a value of the wrong length, is refused with
the table and key named.

**Auditors** (§1.12, with Teaclave's gaps closed — §5.2). An auditor signs the *exact bytes*
of the file; signatures are raw files (Teaclave's ``<name>.sign.sha256``). Verification:

* an empty signature list fails (Teaclave accepted it);
* every supplied signature must verify under one of the configured auditor keys;
* signers are counted by **distinct key**: two signatures by one auditor count once, and the
  count must reach a configurable quorum (Teaclave had neither distinctness nor quorum).

**Key types (decision):** RSA with PKCS#1 v1.5 and SHA-256 (≥ 2048 bits; verifies Teaclave's
RSA-4096 auditors, whose public keys may be PKCS#1 ``RSA PUBLIC KEY`` PEM), Ed25519 (the default
for new keys: small, deterministic signatures) and ECDSA P-256/SHA-256 or P-384/SHA-384 (DER
signatures). Other key types are refused when the key is loaded.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from teaclave.tee.errors import (
    AuditError,
    AuditorQuorumNotMet,
    AuditorSignatureInvalid,
    AuditorSignatureMissing,
    EnclaveInfoError,
    UnknownService,
)

__all__ = [
    "AuditorKey",
    "AuditorKeyType",
    "EnclaveIdentity",
    "EnclaveInfo",
    "generate_auditor_key",
    "load_audited_enclave_info",
    "load_auditor_key",
    "sign_enclave_info",
    "verify_auditor_signatures",
]

AuditorKeyType = Literal["ed25519", "ecdsa-p256", "rsa-3072", "rsa-4096"]
_MIN_RSA_BITS = 2048
_SECTION = re.compile(r"^[a-z][a-z0-9_]*$")
_HEX = re.compile(r"^[0-9a-f]*$")


# ------------------------------------------------------------------------- identities
@dataclass(frozen=True, slots=True)
class EnclaveIdentity:
    """The measurements one service must present (SGX/sim: MRENCLAVE+MRSIGNER; TDX: MRTD)."""

    mr_enclave: bytes = b""
    mr_signer: bytes = b""
    mr_td: bytes = b""
    rtmrs: tuple[tuple[int, bytes], ...] = ()

    def matches(
        self, platform: str, mr_enclave: bytes, mr_signer: bytes, rtmrs: Sequence[bytes] = ()
    ) -> bool:
        """Whether attested values (TDX: ``mr_enclave`` is MRTD) equal this identity."""
        if platform == "tdx":
            if not self.mr_td or self.mr_td != mr_enclave:
                return False
            return all(i < len(rtmrs) and rtmrs[i] == value for i, value in self.rtmrs)
        if not self.mr_enclave:
            return False
        return self.mr_enclave == mr_enclave and self.mr_signer == mr_signer

    def describe(self) -> str:
        """Hex summary for messages."""
        if self.mr_td:
            extra = "".join(f", rtmr{i} {v.hex()}" for i, v in self.rtmrs)
            return f"MRTD {self.mr_td.hex()}{extra}"
        return f"MRENCLAVE {self.mr_enclave.hex()}, MRSIGNER {self.mr_signer.hex()}"


def _hex_value(table: Mapping[str, Any], section: str, key: str, size: int) -> bytes:
    value = table.get(key)
    where = f"enclave_info [{section}] {key}"
    if not isinstance(value, str):
        raise EnclaveInfoError(f"{where}: missing or not a string")
    if len(value) != 2 * size or not _HEX.match(value):
        raise EnclaveInfoError(f"{where}: must be {2 * size} lowercase hex characters")
    return bytes.fromhex(value)


def _parse_identity(section: str, table: Any) -> EnclaveIdentity:
    if not isinstance(table, dict):
        raise EnclaveInfoError(f"enclave_info [{section}]: must be a table")
    rtmr_keys = {f"rtmr{i}" for i in range(4)}
    if "mr_td" in table:
        unknown = sorted(set(table) - {"mr_td"} - rtmr_keys)
        if unknown:
            raise EnclaveInfoError(f"enclave_info [{section}] {unknown[0]}: unknown key")
        return EnclaveIdentity(
            mr_td=_hex_value(table, section, "mr_td", 48),
            rtmrs=tuple(
                (i, _hex_value(table, section, f"rtmr{i}", 48))
                for i in range(4)
                if f"rtmr{i}" in table
            ),
        )
    unknown = sorted(set(table) - {"mr_enclave", "mr_signer"})
    if unknown:
        raise EnclaveInfoError(f"enclave_info [{section}] {unknown[0]}: unknown key")
    return EnclaveIdentity(
        mr_enclave=_hex_value(table, section, "mr_enclave", 32),
        mr_signer=_hex_value(table, section, "mr_signer", 32),
    )


@dataclass(frozen=True, slots=True)
class EnclaveInfo(Mapping[str, EnclaveIdentity]):
    """Service name → accepted identity; ``auditors`` = fingerprints of keys that signed it.

    An :class:`EnclaveInfo` from :meth:`parse` has no auditors (unaudited);
    :func:`load_audited_enclave_info` returns one whose ``auditors`` is the verified signer set.
    """

    identities: Mapping[str, EnclaveIdentity]
    auditors: tuple[str, ...] = ()
    sha256: str = field(default="", compare=False)

    def __getitem__(self, service: str) -> EnclaveIdentity:
        return self.identities[service]

    def __iter__(self) -> Iterator[str]:
        return iter(self.identities)

    def __len__(self) -> int:
        return len(self.identities)

    def identity(self, service: str) -> EnclaveIdentity:
        """The identity listed for ``service`` (:class:`UnknownService` if none)."""
        try:
            return self.identities[service]
        except KeyError:
            raise UnknownService(f"enclave_info: no entry for {service}") from None

    @classmethod
    def parse(cls, data: bytes) -> EnclaveInfo:
        """Parse file bytes (not audited: see :func:`load_audited_enclave_info`)."""
        try:
            doc = tomllib.loads(data.decode())
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise EnclaveInfoError(f"enclave_info: not valid TOML ({exc})") from None
        identities: dict[str, EnclaveIdentity] = {}
        for section, table in doc.items():
            if not _SECTION.match(section):
                raise EnclaveInfoError(f"enclave_info [{section}]: not a valid enclave name")
            identities[section] = _parse_identity(section, table)
        if not identities:
            raise EnclaveInfoError("enclave_info: no enclave tables")
        return cls(identities=identities, sha256=hashlib.sha256(data).hexdigest())

    @staticmethod
    def render(identities: Mapping[str, EnclaveIdentity]) -> bytes:
        """Canonical file bytes for ``identities`` (sorted tables, lowercase hex)."""
        lines: list[str] = []
        for section in sorted(identities):
            if not _SECTION.match(section):
                raise ValueError(f"enclave name {section!r}: not a valid table name")
            ident = identities[section]
            lines.append(f"[{section}]")
            if ident.mr_td:
                lines.append(f'mr_td = "{ident.mr_td.hex()}"')
                lines.extend(f'rtmr{i} = "{value.hex()}"' for i, value in ident.rtmrs)
            else:
                lines.append(f'mr_enclave = "{ident.mr_enclave.hex()}"')
                lines.append(f'mr_signer = "{ident.mr_signer.hex()}"')
            lines.append("")
        data = "\n".join(lines).encode()
        EnclaveInfo.parse(data)  # never write a file we would refuse
        return data


# ------------------------------------------------------------------------- auditor keys
def _fingerprint(public_key: PublicKeyTypes) -> str:
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def _check_key_type(key: PublicKeyTypes, where: str) -> str:
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < _MIN_RSA_BITS:
            raise AuditError(f"{where}: RSA key of {key.key_size} bits (need >= {_MIN_RSA_BITS})")
        return f"rsa-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(
        key.curve, ec.SECP256R1 | ec.SECP384R1
    ):
        return f"ecdsa-{key.curve.name}"
    raise AuditError(f"{where}: unsupported auditor key type {type(key).__name__}")


@dataclass(frozen=True, slots=True)
class AuditorKey:
    """An auditor's public key; ``fingerprint`` = SHA-256 of its DER SubjectPublicKeyInfo."""

    public_key: PublicKeyTypes = field(repr=False)
    kind: str
    fingerprint: str
    name: str = ""

    def verifies(self, signature: bytes, data: bytes) -> bool:
        """Whether ``signature`` is this auditor's signature over ``data``."""
        key = self.public_key
        try:
            if isinstance(key, ed25519.Ed25519PublicKey):
                key.verify(signature, data)
            elif isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            elif isinstance(key, ec.EllipticCurvePublicKey):
                digest = hashes.SHA384() if isinstance(key.curve, ec.SECP384R1) else hashes.SHA256()
                key.verify(signature, data, ec.ECDSA(digest))
            else:  # pragma: no cover - excluded when loading
                return False
        except (InvalidSignature, ValueError):
            return False
        return True


def load_auditor_key(pem: bytes, name: str = "") -> AuditorKey:
    """Load an auditor public key: SPKI PEM, or PKCS#1 ``RSA PUBLIC KEY`` PEM (Teaclave's)."""
    where = f"auditor key {name}".rstrip()
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise AuditError(f"{where}: not a PEM public key ({exc})") from None
    kind = _check_key_type(key, where)
    return AuditorKey(public_key=key, kind=kind, fingerprint=_fingerprint(key), name=name)


def generate_auditor_key(kind: AuditorKeyType = "ed25519") -> tuple[bytes, bytes]:
    """A new auditor key pair: (private PKCS#8 PEM, public SPKI PEM)."""
    private: PrivateKeyTypes
    if kind == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
    elif kind == "ecdsa-p256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif kind in ("rsa-3072", "rsa-4096"):
        private = rsa.generate_private_key(public_exponent=65537, key_size=int(kind[4:]))
    else:
        raise ValueError(
            f"auditor key type: {kind!r} is not ed25519, ecdsa-p256, rsa-3072, rsa-4096"
        )
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


def sign_enclave_info(data: bytes, private_key_pem: bytes) -> bytes:
    """Sign the exact file bytes with an auditor private key (raw signature bytes)."""
    try:
        key = serialization.load_pem_private_key(private_key_pem, None)
    except (ValueError, TypeError) as exc:
        raise AuditError(f"auditor private key: cannot be loaded ({exc})") from None
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    if isinstance(key, rsa.RSAPrivateKey):
        _check_key_type(key.public_key(), "auditor private key")
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        _check_key_type(key.public_key(), "auditor private key")
        digest = hashes.SHA384() if isinstance(key.curve, ec.SECP384R1) else hashes.SHA256()
        return key.sign(data, ec.ECDSA(digest))
    raise AuditError(f"auditor private key: unsupported type {type(key).__name__}")


def verify_auditor_signatures(
    data: bytes,
    signatures: Sequence[bytes],
    keys: Sequence[AuditorKey],
    *,
    quorum: int,
) -> tuple[str, ...]:
    """Check ``signatures`` over ``data``; return the distinct signers' fingerprints (sorted).

    Refuses an empty list, any signature no key verifies, and fewer than ``quorum`` distinct
    signing keys (duplicates — the same signature twice, or two signatures by one key — count
    once).
    """
    if quorum < 1:
        raise ValueError(f"auditor quorum: must be >= 1, got {quorum}")
    if not keys:
        raise AuditError("auditor keys: none configured")
    if not signatures:
        raise AuditorSignatureMissing(
            "auditor signatures: none supplied (an empty list is refused)"
        )
    distinct_keys = {key.fingerprint: key for key in keys}
    signers: set[str] = set()
    for index, signature in enumerate(signatures):
        signer = next(
            (fp for fp, key in distinct_keys.items() if key.verifies(signature, data)), None
        )
        if signer is None:
            raise AuditorSignatureInvalid(
                f"auditor signature #{index}: verifies under none of the "
                f"{len(distinct_keys)} auditor keys"
            )
        signers.add(signer)
    if len(signers) < quorum:
        raise AuditorQuorumNotMet(
            f"auditor quorum: {len(signers)} distinct auditor(s) signed, {quorum} required "
            f"({len(signatures)} signature(s) supplied; duplicates count once)"
        )
    return tuple(sorted(signers))


def _read(path: str | os.PathLike[str], what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise AuditError(f"{what} {path}: {exc.strerror}") from None


def load_audited_enclave_info(
    path: str | os.PathLike[str],
    signature_paths: Iterable[str | os.PathLike[str]],
    auditor_keys: Iterable[AuditorKey | str | os.PathLike[str]],
    *,
    quorum: int,
) -> EnclaveInfo:
    """Read enclave_info once, verify the auditor signatures over those bytes, then parse them.

    ``auditor_keys`` may be loaded keys or paths of PEM public keys.
    """
    data = _read(path, "enclave_info")
    keys = [
        k if isinstance(k, AuditorKey) else load_auditor_key(_read(k, "auditor key"), str(k))
        for k in auditor_keys
    ]
    signatures = [_read(p, "auditor signature") for p in signature_paths]
    signers = verify_auditor_signatures(data, signatures, keys, quorum=quorum)
    info = EnclaveInfo.parse(data)
    return EnclaveInfo(identities=info.identities, auditors=signers, sha256=info.sha256)
