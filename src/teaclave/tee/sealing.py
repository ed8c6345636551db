"""Sealing: encrypt state so that only the same enclave identity (MRENCLAVE) can open it.

A :class:`SealingKey` comes from the platform (``TeePlatform.sealing_key(service, label)``):

* ``sim`` — ``HKDF-SHA256(ikm = <state>/tee/root_secret, salt = "teaclave-sim-sealing/v1",
  info = MRENCLAVE ‖ NUL ‖ label)``; the root secret is 32 random bytes, mode 0600 (a file that
  group or others can read is refused). Simulation — no hardware protection: whoever reads the
  state directory and the code can derive the key.
* ``sgx`` (Gramine) — the same HKDF over Gramine's MRENCLAVE-bound sealing key
  ``/dev/attestation/keys/_sgx_mrenclave``.
* ``tdx`` / ``sev-snp`` — no sealing key (:class:`~teaclave.tee.errors.SealingUnavailable`).

Blob layout (AES-256-GCM)::

    "TCLSEAL" 0x01 | len(MRENCLAVE) u8 | MRENCLAVE | nonce (12) | ciphertext ‖ tag (16)

The GCM AAD is the header (everything before the nonce) followed by the caller's AAD. The
sealing MRENCLAVE is stored in clear (it is public) so that opening a blob sealed by other code
fails with :class:`~teaclave.tee.errors.SealedByDifferentCode`, whose message says the code
changed and points to the migration procedure, instead of a bare authentication failure.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from teaclave.tee.errors import (
    SealedByDifferentCode,
    SealedDataCorrupted,
    SealingUnavailable,
)

__all__ = [
    "MIGRATION_DOC",
    "SEAL_MAGIC",
    "Sealer",
    "SealingKey",
    "derive_sealing_key",
    "load_root_secret",
]

SEAL_MAGIC = b"TCLSEAL\x01"
MIGRATION_DOC = "docs/attestation.md#migrating-sealed-state"
_NONCE = 12
_SIM_SALT = b"teaclave-sim-sealing/v1"
_ROOT_SECRET_SIZE = 32


@dataclass(frozen=True, slots=True)
class SealingKey:
    """A 32-byte key bound to ``mr_enclave`` (and ``label``) on ``platform``."""

    key: bytes = field(repr=False)
    mr_enclave: bytes
    platform: str
    label: str


def derive_sealing_key(
    secret: bytes, mr_enclave: bytes, label: str, *, salt: bytes = _SIM_SALT
) -> bytes:
    """HKDF-SHA256 of a platform secret, the enclave measurement and a purpose label."""
    if not mr_enclave:
        raise ValueError("sealing: MRENCLAVE must not be empty")
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=salt, info=mr_enclave + b"\0" + label.encode()
    )
    return hkdf.derive(secret)


def load_root_secret(path: str | os.PathLike[str]) -> bytes:
    """Read the platform root secret, refusing a file others can read or of the wrong size."""
    file = Path(path)
    try:
        mode = file.stat().st_mode
        data = file.read_bytes()
    except OSError as exc:
        raise SealingUnavailable(f"sealing root secret {file}: {exc.strerror}") from None
    if stat.S_IMODE(mode) & 0o077:
        raise SealingUnavailable(
            f"sealing root secret {file}: mode {stat.S_IMODE(mode):04o} lets others read it; "
            "it must be 0600"
        )
    if len(data) != _ROOT_SECRET_SIZE:
        raise SealingUnavailable(
            f"sealing root secret {file}: {len(data)} bytes, expected {_ROOT_SECRET_SIZE}"
        )
    return data


class Sealer:
    """Seal and unseal with one :class:`SealingKey`."""

    def __init__(self, key: SealingKey) -> None:
        if len(key.key) != 32:
            raise ValueError("sealing key: must be 32 bytes")
        if not 0 < len(key.mr_enclave) < 256:
            raise ValueError("sealing key: MRENCLAVE must be 1..255 bytes")
        self._key = key
        self._aead = AESGCM(key.key)
        self._header = SEAL_MAGIC + bytes([len(key.mr_enclave)]) + key.mr_enclave

    @property
    def mr_enclave(self) -> bytes:
        """The identity blobs are sealed to."""
        return self._key.mr_enclave

    def seal(self, data: bytes, aad: bytes = b"") -> bytes:
        """Encrypt and authenticate ``data`` (and ``aad``) to this enclave identity."""
        nonce = os.urandom(_NONCE)
        return self._header + nonce + self._aead.encrypt(nonce, data, self._header + aad)

    def unseal(self, blob: bytes, aad: bytes = b"") -> bytes:
        """Open a blob sealed by :meth:`seal` with the same identity, label and ``aad``."""
        if not blob.startswith(SEAL_MAGIC) or len(blob) < len(SEAL_MAGIC) + 1:
            raise SealedDataCorrupted("sealed blob: bad magic (not a teaclave sealed blob)")
        size = blob[len(SEAL_MAGIC)]
        header_end = len(SEAL_MAGIC) + 1 + size
        if len(blob) < header_end + _NONCE + 16:
            raise SealedDataCorrupted("sealed blob: truncated")
        sealed_by = blob[len(SEAL_MAGIC) + 1 : header_end]
        if sealed_by != self._key.mr_enclave:
            raise SealedByDifferentCode(
                f"sealed data was sealed by MRENCLAVE {sealed_by.hex()} but this code is "
                f"MRENCLAVE {self._key.mr_enclave.hex()}: the code changed, and changed code "
                f"cannot open the old sealed state; migrate it as described in {MIGRATION_DOC}"
            )
        nonce = blob[header_end : header_end + _NONCE]
        try:
            return self._aead.decrypt(nonce, blob[header_end + _NONCE :], blob[:header_end] + aad)
        except InvalidTag:
            raise SealedDataCorrupted(
                f"sealed blob ({self._key.label}): authentication failed — modified, wrong AAD, "
                "another purpose label, or sealed under another platform root secret"
            ) from None
