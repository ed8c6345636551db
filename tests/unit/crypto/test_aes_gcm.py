"""aes-gcm-128/256 streaming: round trips, chunk boundaries and every tamper case."""

from __future__ import annotations

import io

import pytest
from crypto_helpers import pseudo_random
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from teaclave.crypto import AAD, FormatError, IntegrityError, TagMismatch, aes_gcm

KEY128 = bytes(range(16))
KEY256 = bytes(range(32))
IV = bytes(range(12))


def encrypt(data: bytes, key: bytes = KEY128, iv: bytes = IV, chunk: int = 1 << 20) -> bytes:
    out = io.BytesIO()
    tag = aes_gcm.encrypt_stream(io.BytesIO(data), out, key, iv, chunk_size=chunk)
    assert out.getvalue()[-16:] == tag
    return out.getvalue()


def decrypt(
    data: bytes,
    key: bytes = KEY128,
    iv: bytes = IV,
    expected_tag: bytes | None = None,
    chunk: int = 1 << 20,
) -> bytes:
    out = io.BytesIO()
    aes_gcm.decrypt_stream(io.BytesIO(data), out, key, iv, expected_tag, chunk_size=chunk)
    return out.getvalue()


@pytest.mark.parametrize("key", [KEY128, KEY256], ids=["aes-128", "aes-256"])
@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1000, 4096, 65537])
@pytest.mark.parametrize("chunk", [16, 1000, 1 << 20])
def test_stream_matches_one_shot_aead(key: bytes, size: int, chunk: int) -> None:
    data = pseudo_random(size, size)
    sealed = encrypt(data, key, chunk=chunk)
    assert sealed == AESGCM(key).encrypt(IV, data, AAD)
    assert decrypt(sealed, key, chunk=chunk) == data
    assert aes_gcm.decrypt(key, IV, sealed, sealed[-16:]) == data


def test_aad_is_eight_zero_bytes() -> None:
    assert bytes(8) == AAD
    sealed = encrypt(b"hello")
    assert sealed != AESGCM(KEY128).encrypt(IV, b"hello", None)


def test_decrypt_starts_at_the_current_position() -> None:
    sealed = encrypt(b"payload")
    src = io.BytesIO(b"prefix" + sealed)
    src.seek(6)
    out = io.BytesIO()
    aes_gcm.decrypt_stream(src, out, KEY128, IV)
    assert out.getvalue() == b"payload"


@pytest.mark.parametrize("position", [0, 5, 9999, -17, -16, -1])
def test_flipped_bit_is_an_integrity_error(position: int) -> None:
    sealed = bytearray(encrypt(pseudo_random(10000)))
    sealed[position] ^= 0x10
    with pytest.raises(IntegrityError, match="authentication failed"):
        decrypt(bytes(sealed))


def test_flipped_tag_is_a_tag_mismatch_when_a_tag_is_expected() -> None:
    sealed = encrypt(b"data")
    tag = sealed[-16:]
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(TagMismatch) as err:
        decrypt(tampered, expected_tag=tag)
    assert tag.hex() in str(err.value) and tampered[-16:].hex() in str(err.value)


def test_truncated_is_an_error() -> None:
    sealed = encrypt(pseudo_random(100))
    with pytest.raises(IntegrityError):
        decrypt(sealed[:-1])
    with pytest.raises(IntegrityError):
        decrypt(sealed[1:])
    with pytest.raises(FormatError, match="shorter than the 16-byte tag"):
        decrypt(sealed[:15])
    with pytest.raises(FormatError):
        aes_gcm.decrypt(KEY128, IV, sealed[:3])


def test_wrong_key_iv_and_expected_tag() -> None:
    sealed = encrypt(b"secret")
    with pytest.raises(IntegrityError, match="wrong key or IV"):
        decrypt(sealed, key=bytes(16))
    with pytest.raises(IntegrityError):
        decrypt(sealed, iv=bytes(12))
    with pytest.raises(IntegrityError):
        aes_gcm.decrypt(bytes(16), IV, sealed)
    with pytest.raises(TagMismatch):
        decrypt(sealed, expected_tag=bytes(16))
    with pytest.raises(TagMismatch):
        aes_gcm.decrypt(KEY128, IV, sealed, bytes(16))


def test_expected_tag_is_checked_before_any_plaintext_is_written() -> None:
    sealed = encrypt(pseudo_random(5000))
    out = io.BytesIO()
    with pytest.raises(TagMismatch):
        aes_gcm.decrypt_stream(io.BytesIO(sealed), out, KEY128, IV, bytes(16))
    assert out.getvalue() == b""


def test_empty_plaintext_round_trips() -> None:
    sealed = encrypt(b"")
    assert len(sealed) == 16
    assert decrypt(sealed) == b""


def test_bad_key_and_iv_sizes_are_value_errors() -> None:
    with pytest.raises(ValueError, match="key"):
        encrypt(b"x", key=bytes(24))
    with pytest.raises(ValueError, match="iv"):
        encrypt(b"x", iv=bytes(16))
    with pytest.raises(ValueError, match="iv"):
        decrypt(b"x" * 20, iv=b"")


class ReadOnly:
    """A source without readinto: the stream functions must fall back to read()."""

    def __init__(self, data: bytes) -> None:
        self._buf = io.BytesIO(data)

    def read(self, size: int = -1, /) -> bytes:
        return self._buf.read(size)

    def seek(self, offset: int, whence: int = 0, /) -> int:
        return self._buf.seek(offset, whence)

    def tell(self) -> int:
        return self._buf.tell()


def test_sources_without_readinto() -> None:
    data = pseudo_random(3000)
    out = io.BytesIO()
    tag = aes_gcm.encrypt_stream(ReadOnly(data), out, KEY128, IV, chunk_size=1000)
    back = io.BytesIO()
    assert aes_gcm.decrypt_stream(ReadOnly(out.getvalue()), back, KEY128, IV, tag, 700) == tag
    assert back.getvalue() == data
