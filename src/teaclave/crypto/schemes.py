"""One entry point per Teaclave file scheme, by wire name (``FileCryptoInfo.schema``).

==================== ======== ========= ==================================================
scheme               key      IV        on-disk format / returned tag
==================== ======== ========= ==================================================
``aes-gcm-128``      16 B     12 B      ``ciphertext ‖ tag``, AAD 8 zero bytes; the GCM tag
``aes-gcm-256``      32 B     12 B      same
``teaclave-file-128`` 16 B    empty     SGX protected-FS container; the root GMAC
``raw``              ignored  ignored   plaintext copy; no tag (None)
==================== ======== ========= ==================================================

Both functions write ``dst`` through a temporary file in ``dst``'s directory and rename it
only on success, so ``dst`` never holds partial or unauthenticated data. The temporary file is
created with mode 0600, which the renamed file keeps.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from . import aes_gcm, protected_fs

__all__ = ["SCHEMES", "check_key_iv", "decrypt_file", "encrypt_file"]

SCHEMES = ("aes-gcm-128", "aes-gcm-256", "teaclave-file-128", "raw")
_KEY_SIZES = {"aes-gcm-128": 16, "aes-gcm-256": 32, "teaclave-file-128": 16}


def check_key_iv(schema: str, key: bytes, iv: bytes) -> None:
    """Raise :class:`ValueError` (naming ``schema``, ``key`` or ``iv``) unless they fit."""
    if schema not in SCHEMES:
        raise ValueError(f"schema: unsupported file crypto schema {schema!r}; expected {SCHEMES}")
    if schema == "raw":
        return
    if len(key) != _KEY_SIZES[schema]:
        raise ValueError(
            f"key: {schema} needs a {_KEY_SIZES[schema]}-byte key, got {len(key)} bytes"
        )
    if schema == "teaclave-file-128":
        if iv:
            raise ValueError(f"iv: teaclave-file-128 takes no IV, got {len(iv)} bytes")
    elif len(iv) != aes_gcm.IV_SIZE:
        raise ValueError(f"iv: {schema} needs a {aes_gcm.IV_SIZE}-byte IV, got {len(iv)} bytes")


def encrypt_file(
    schema: str,
    src: Path,
    dst: Path,
    key: bytes,
    iv: bytes = b"",
    name: str | None = None,
) -> bytes | None:
    """Encrypt ``src`` into ``dst`` with ``schema``; return the tag (None for ``raw``).

    ``name`` (teaclave-file-128 only) is the name stored in the file; default: ``dst``'s base
    name, the name a reader will expect.
    """
    check_key_iv(schema, key, iv)
    if schema == "teaclave-file-128":
        return protected_fs.encrypt_file(src, dst, key, name=name)
    fd, temp = _temp_next_to(dst)
    try:
        with os.fdopen(fd, "wb") as out:
            if schema == "raw":
                with open(src, "rb") as inp:
                    shutil.copyfileobj(inp, out, 1 << 20)
                tag = None
            else:
                with open(src, "rb", buffering=0) as inp:
                    tag = aes_gcm.encrypt_stream(inp, out, key, iv)
        os.replace(temp, dst)
    except BaseException:
        _unlink_quietly(temp)
        raise
    return tag


def decrypt_file(
    schema: str,
    src: Path,
    dst: Path,
    key: bytes,
    iv: bytes = b"",
    expected_tag: bytes | None = None,
    name: str | None = None,
) -> bytes | None:
    """Decrypt ``src`` into ``dst`` with ``schema``; return the file's tag (None for ``raw``).

    ``expected_tag`` is checked before any plaintext is produced (:class:`TagMismatch`);
    ``raw`` ignores it. ``name`` (teaclave-file-128 only) is the expected stored name; default:
    ``src``'s base name. Failures raise a :class:`~teaclave.crypto.errors.CryptoError` subclass
    and leave ``dst`` untouched.
    """
    check_key_iv(schema, key, iv)
    if schema == "teaclave-file-128":
        return protected_fs.decrypt_file(src, dst, key, expected_tag=expected_tag, name=name)
    fd, temp = _temp_next_to(dst)
    try:
        with os.fdopen(fd, "wb") as out:
            if schema == "raw":
                with open(src, "rb") as inp:
                    shutil.copyfileobj(inp, out, 1 << 20)
                tag = None
            else:
                with open(src, "rb", buffering=0) as inp:
                    tag = aes_gcm.decrypt_stream(inp, out, key, iv, expected_tag)
        os.replace(temp, dst)
    except BaseException:
        _unlink_quietly(temp)
        raise
    return tag


def _temp_next_to(path: Path) -> tuple[int, str]:
    target = Path(path)
    return tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
