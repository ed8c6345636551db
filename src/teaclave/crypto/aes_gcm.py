"""The ``aes-gcm-128`` / ``aes-gcm-256`` file schemes of Teaclave 0.6.

Layout: ``ciphertext ‖ tag(16)``, one AEAD message over the whole file, no header, no length
field, no chunking. The nonce is the registered 12-byte IV as given and the AAD is **8 zero
bytes** (not empty: files made with an empty AAD do not decrypt). The 16-byte GCM tag is the
file's "cmac".

The stream functions run in constant memory with the streaming ``Cipher(AES, GCM)`` API and
``update_into`` reused buffers, which reaches close to ``openssl speed`` throughput.
"""

from __future__ import annotations

import io
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import FormatError, IntegrityError, TagMismatch

__all__ = [
    "AAD",
    "IV_SIZE",
    "TAG_SIZE",
    "ReadableStream",
    "SeekableStream",
    "WritableStream",
    "decrypt",
    "decrypt_stream",
    "encrypt",
    "encrypt_stream",
]

AAD = bytes(8)
TAG_SIZE = 16
IV_SIZE = 12
_BLOCK = 16


class ReadableStream(Protocol):
    """What the stream functions read from (``BinaryIO``, our protected-file reader, ...).

    A ``readinto`` method is used when present.
    """

    def read(self, size: int = -1, /) -> bytes:
        """Read up to ``size`` bytes."""
        ...


class SeekableStream(ReadableStream, Protocol):
    """A seekable :class:`ReadableStream` (decryption needs the tag at the end first)."""

    def seek(self, offset: int, whence: int = 0, /) -> int:
        """Move the position."""
        ...

    def tell(self) -> int:
        """The position."""
        ...


class WritableStream(Protocol):
    """What the stream functions write to (``BinaryIO``, our protected-file writer, ...)."""

    def write(self, data: bytes | memoryview, /) -> object:
        """Write ``data`` completely."""
        ...


def _check_key_iv(key: bytes, iv: bytes) -> None:
    if len(key) not in (16, 32):
        raise ValueError(f"key: AES-GCM needs a 16- or 32-byte key, got {len(key)} bytes")
    if len(iv) != IV_SIZE:
        raise ValueError(f"iv: AES-GCM needs a {IV_SIZE}-byte IV, got {len(iv)} bytes")


def _read_into(src: ReadableStream, view: memoryview) -> int:
    """Fill ``view`` from ``src`` as far as possible; return the byte count (0 at EOF)."""
    readinto = getattr(src, "readinto", None)
    total = 0
    while total < len(view):
        if readinto is not None:
            n = readinto(view[total:])
        else:
            data = src.read(len(view) - total)
            n = len(data)
            view[total : total + n] = data
        if not n:
            break
        total += n
    return total


def encrypt_stream(
    src: ReadableStream, dst: WritableStream, key: bytes, iv: bytes, chunk_size: int = 1 << 20
) -> bytes:
    """Encrypt ``src`` (read to EOF) into ``dst`` as ``ciphertext ‖ tag``; return the tag."""
    _check_key_iv(key, iv)
    encryptor = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
    encryptor.authenticate_additional_data(AAD)
    in_view = memoryview(bytearray(chunk_size))
    out_view = memoryview(bytearray(chunk_size + _BLOCK - 1))
    while True:
        n = _read_into(src, in_view)
        if not n:
            break
        written = encryptor.update_into(in_view[:n], out_view)
        dst.write(out_view[:written])
        if n < chunk_size:
            break
    tail = encryptor.finalize()
    if tail:
        dst.write(tail)
    tag = encryptor.tag
    dst.write(tag)
    return tag


def decrypt_stream(
    src: SeekableStream,
    dst: WritableStream,
    key: bytes,
    iv: bytes,
    expected_tag: bytes | None = None,
    chunk_size: int = 1 << 20,
) -> bytes:
    """Decrypt ``src`` (from its current position to EOF) into ``dst``; return the tag.

    ``src`` must be seekable: the tag is its last 16 bytes. ``expected_tag`` is compared before
    anything is decrypted (:class:`TagMismatch`). Plaintext is streamed to ``dst`` before the tag
    can be verified, so on any exception (:class:`IntegrityError` when GCM verification fails at
    the end) the caller must treat what was written to ``dst`` as garbage.
    """
    _check_key_iv(key, iv)
    start = src.tell()
    end = src.seek(0, io.SEEK_END)
    length = end - start
    if length < TAG_SIZE:
        raise FormatError(f"aes-gcm: {length} bytes is shorter than the {TAG_SIZE}-byte tag")
    src.seek(end - TAG_SIZE)
    tag = src.read(TAG_SIZE)
    if len(tag) != TAG_SIZE:
        raise FormatError("aes-gcm: could not read the tag (file changed while reading?)")
    if expected_tag is not None and tag != expected_tag:
        raise TagMismatch(expected_tag, tag, "aes-gcm tag")
    src.seek(start)
    decryptor = Cipher(algorithms.AES(key), modes.GCM(iv)).decryptor()
    decryptor.authenticate_additional_data(AAD)
    in_view = memoryview(bytearray(chunk_size))
    out_view = memoryview(bytearray(chunk_size + _BLOCK - 1))
    remaining = length - TAG_SIZE
    while remaining:
        n = _read_into(src, in_view[: min(chunk_size, remaining)])
        if not n:
            raise FormatError("aes-gcm: file shrank while reading")
        remaining -= n
        written = decryptor.update_into(in_view[:n], out_view)
        dst.write(out_view[:written])
    try:
        tail = decryptor.finalize_with_tag(tag)
    except InvalidTag:
        raise IntegrityError(
            "aes-gcm: authentication failed: wrong key or IV, or corrupted ciphertext"
        ) from None
    if tail:
        dst.write(tail)
    return tag


def encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """Encrypt a small in-memory message; return ``ciphertext ‖ tag``."""
    _check_key_iv(key, iv)
    return AESGCM(key).encrypt(iv, plaintext, AAD)


def decrypt(key: bytes, iv: bytes, data: bytes, expected_tag: bytes | None = None) -> bytes:
    """Decrypt an in-memory ``ciphertext ‖ tag`` message; return the plaintext.

    Raises :class:`FormatError` (shorter than a tag), :class:`TagMismatch` (``expected_tag``
    differs from the stored tag) or :class:`IntegrityError` (authentication failed).
    """
    _check_key_iv(key, iv)
    if len(data) < TAG_SIZE:
        raise FormatError(f"aes-gcm: {len(data)} bytes is shorter than the {TAG_SIZE}-byte tag")
    tag = bytes(data[-TAG_SIZE:])
    if expected_tag is not None and tag != expected_tag:
        raise TagMismatch(expected_tag, tag, "aes-gcm tag")
    try:
        return AESGCM(key).decrypt(iv, data, AAD)
    except InvalidTag:
        raise IntegrityError(
            "aes-gcm: authentication failed: wrong key or IV, or corrupted ciphertext"
        ) from None
