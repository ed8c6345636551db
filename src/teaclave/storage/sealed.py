"""``SealedStore``: a :class:`KeyValueStore` whose values are encrypted under a sealed data key.

Every value (and every queue value) is stored as::

    "TCLSV" 0x01 | nonce (12) | AES-256-GCM(data key, value) ‖ tag (16)

with the AAD ``"kv" NUL key`` (or ``"queue" NUL queue name``), so a value cannot be moved to
another key or between the key space and a queue without failing authentication. Key names and
queue names stay in clear so that prefix scans keep working: **key names are not secret** (they
are ids such as ``function-<uuid>``; never put secrets in them). The store offers no rollback
protection: someone who can write the database can put back an *older* sealed value of the same
key.

The 32-byte data key is random, created on first open and kept *sealed to the enclave
identity* (see :mod:`teaclave.tee.sealing`) in ``key_path`` (``<state>/storage.key``, 0600).
Code with another MRENCLAVE cannot unseal it: opening fails with the tee library's
:class:`~teaclave.tee.errors.SealedByDifferentCode` ("the code changed ...").

Migration of state written before sealing existed (decision): **refused**. A database that holds
keys but has no ``storage.key`` is rejected at open with :class:`UnsealedStateError`, and a value
without the sealed-value header is rejected when read. The backend interface cannot enumerate
queues, so an in-place migration could not be complete; see ``docs/attestation.md``.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from teaclave.storage.base import KeyValueStore
from teaclave.tee._files import create_private_once
from teaclave.tee.errors import SealedDataCorrupted, SealingError
from teaclave.tee.sealing import Sealer

__all__ = [
    "DATA_KEY_LABEL",
    "KEY_FILE",
    "VALUE_MAGIC",
    "SealedStore",
    "UnsealedStateError",
    "open_sealed_store",
]

#: Name of the sealed data key file in the state directory.
KEY_FILE = "storage.key"
#: Purpose label of the sealing key that seals the data key.
DATA_KEY_LABEL = "storage-data-key"
#: Header of every sealed value.
VALUE_MAGIC = b"TCLSV\x01"
_NONCE = 12
_TAG = 16
_DATA_KEY_AAD = b"teaclave-storage-data-key/v1"


class UnsealedStateError(SealingError):
    """The store holds state written before sealing existed (plaintext values, no data key)."""


def _describe(name: bytes) -> str:
    return repr(name.decode(errors="replace"))


def _load_or_create_data_key(sealer: Sealer, key_path: Path, inner: KeyValueStore) -> bytes:
    """Unseal the data key at ``key_path``; create and seal one if the store is empty."""
    if not key_path.exists():
        existing = inner.keys_with_prefix(b"")
        if existing:
            raise UnsealedStateError(
                f"storage: the database holds {len(existing)} key(s) but there is no sealed "
                f"data key {key_path}: this state was written before storage sealing existed "
                "(or storage.key was lost); it is refused rather than read in clear — see "
                "docs/attestation.md#migrating-sealed-state"
            )
        key_path.parent.mkdir(parents=True, exist_ok=True)
        # Never clobbers: the loser of a race uses the winner's key.
        create_private_once(key_path, sealer.seal(os.urandom(32), _DATA_KEY_AAD))
    try:
        blob = key_path.read_bytes()
    except OSError as exc:
        raise SealingError(f"storage data key {key_path}: {exc.strerror}") from None
    data_key = sealer.unseal(blob, _DATA_KEY_AAD)  # SealedByDifferentCode when the code changed
    if len(data_key) != 32:
        raise SealedDataCorrupted(f"storage data key {key_path}: {len(data_key)} bytes, not 32")
    return data_key


class SealedStore(KeyValueStore):
    """Encrypt every value of ``inner`` under a data key sealed (by ``sealer``) in ``key_path``.

    Opening raises :class:`~teaclave.tee.errors.SealedByDifferentCode` when ``key_path`` was
    sealed by other code, and :class:`UnsealedStateError` for a pre-sealing database.
    """

    def __init__(
        self, inner: KeyValueStore, sealer: Sealer, key_path: str | os.PathLike[str]
    ) -> None:
        super().__init__()
        self.inner = inner
        self.key_path = Path(key_path)
        self._aead = AESGCM(_load_or_create_data_key(sealer, self.key_path, inner))

    def _seal(self, value: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return VALUE_MAGIC + nonce + self._aead.encrypt(nonce, value, aad)

    def _open(self, blob: bytes, aad: bytes, where: str) -> bytes:
        if not blob.startswith(VALUE_MAGIC):
            raise UnsealedStateError(
                f"storage: {where} is not a sealed value (written before storage sealing "
                "existed, or overwritten outside the storage service)"
            )
        if len(blob) < len(VALUE_MAGIC) + _NONCE + _TAG:
            raise SealedDataCorrupted(f"storage: {where}: sealed value is truncated")
        start = len(VALUE_MAGIC)
        try:
            return self._aead.decrypt(blob[start : start + _NONCE], blob[start + _NONCE :], aad)
        except InvalidTag:
            raise SealedDataCorrupted(
                f"storage: {where}: sealed value failed authentication — modified, moved from "
                "another key, or written under another data key"
            ) from None

    def get(self, key: bytes) -> bytes | None:
        """The decrypted value at ``key`` or None; a tampered value raises."""
        blob = self.inner.get(key)
        if blob is None:
            return None
        return self._open(blob, b"kv\0" + key, f"value of key {_describe(key)}")

    def put(self, key: bytes, value: bytes) -> None:
        """Encrypt ``value`` (fresh nonce, key name as AAD) and store it."""
        self.inner.put(key, self._seal(value, b"kv\0" + key))

    def delete(self, key: bytes) -> None:
        """Remove ``key``."""
        self.inner.delete(key)

    def keys_with_prefix(self, prefix: bytes) -> list[bytes]:
        """Keys starting with ``prefix`` (key names are stored in clear)."""
        return self.inner.keys_with_prefix(prefix)

    def _enqueue(self, queue: bytes, value: bytes) -> None:
        self.inner._enqueue(queue, self._seal(value, b"queue\0" + queue))

    def _dequeue(self, queue: bytes) -> bytes | None:
        blob = self.inner._dequeue(queue)
        if blob is None:
            return None
        return self._open(blob, b"queue\0" + queue, f"head of queue {_describe(queue)}")

    def close(self) -> None:
        """Close the inner store."""
        self.inner.close()


def open_sealed_store(
    inner: KeyValueStore, sealer: Sealer, key_path: str | os.PathLike[str]
) -> SealedStore:
    """``SealedStore(inner, sealer, key_path)``, closing ``inner`` if it cannot be opened."""
    try:
        return SealedStore(inner, sealer, key_path)
    except BaseException:
        inner.close()
        raise
