"""Byte-compatible file encryption schemes of Apache Teaclave 0.6.

* :mod:`.aes_gcm` — ``aes-gcm-128`` / ``aes-gcm-256``: ``ciphertext ‖ tag``, AAD = 8 zero bytes.
* :mod:`.protected_fs` — ``teaclave-file-128``: the Intel SGX protected-FS container
  (layout in :mod:`.protected_fs_layout`, key derivation in :mod:`.kdf`).
* :mod:`.schemes` — one encrypt/decrypt entry point per scheme wire name.

Only ``cryptography`` and the standard library are used. Every failure to accept a file is a
:class:`CryptoError` subclass; bad key/IV sizes and unknown schemes are :class:`ValueError`.
"""

from __future__ import annotations

from . import aes_gcm, protected_fs, schemes
from .aes_gcm import AAD, decrypt_stream, encrypt_stream
from .errors import CryptoError, FormatError, IntegrityError, NameMismatch, TagMismatch
from .protected_fs import NODE_SIZE, ProtectedFileReader, ProtectedFileWriter, root_tag
from .schemes import SCHEMES, check_key_iv, decrypt_file, encrypt_file

__all__ = [
    "AAD",
    "NODE_SIZE",
    "SCHEMES",
    "CryptoError",
    "FormatError",
    "IntegrityError",
    "NameMismatch",
    "ProtectedFileReader",
    "ProtectedFileWriter",
    "TagMismatch",
    "aes_gcm",
    "check_key_iv",
    "decrypt_file",
    "decrypt_stream",
    "encrypt_file",
    "encrypt_stream",
    "protected_fs",
    "root_tag",
    "schemes",
]
