from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from teaclave.functions import FunctionError, load_builtin_functions
from teaclave.worker.runtime import NoFilesRuntime

KEY256 = "aqUdgZ0lJnuz9yiPkoDxM6ZcTcVVpd4KKLqzbHD88Lg="
KEY128 = "aqUdgZ0lJnuz9yiPkoDxMw=="
NONCE = "AAECAwQFBgcICQoL"
DATA256 = "CaZd8qSMMlBp8SjSXj2I4dQIuC9KkZ5DI/ATo1sWJw=="
DATA128 = "OqMscYqxk1CshHQZulTrrDlJjS/v6BE/clWJyTerUw=="


def decrypt(**arguments: object) -> str:
    function = load_builtin_functions()["builtin_online_decrypt"]
    return function(arguments, NoFilesRuntime())


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_teaclave_vectors() -> None:
    assert (
        decrypt(key=KEY256, nonce=NONCE, encrypted_data=DATA256, algorithm="aes256gcm")
        == "Hello Teaclave!"
    )
    assert (
        decrypt(key=KEY128, nonce=NONCE, encrypted_data=DATA128, algorithm="aes128gcm")
        == "Hello Teaclave!"
    )


def test_only_the_first_twelve_nonce_bytes_are_used() -> None:
    long_nonce = b64(bytes(range(12)) + b"ignored")
    assert (
        decrypt(key=KEY256, nonce=long_nonce, encrypted_data=DATA256, algorithm="aes256gcm")
        == "Hello Teaclave!"
    )


def test_associated_data_is_empty() -> None:
    key, nonce = bytes(16), bytes(12)
    with_aad = AESGCM(key).encrypt(nonce, b"secret", b"aad")
    with pytest.raises(FunctionError, match="Decryption failed"):
        decrypt(key=b64(key), nonce=b64(nonce), encrypted_data=b64(with_aad), algorithm="aes128gcm")
    without = AESGCM(key).encrypt(nonce, b"secret", None)
    assert (
        decrypt(key=b64(key), nonce=b64(nonce), encrypted_data=b64(without), algorithm="aes128gcm")
        == "secret"
    )


def test_invalid_algorithm() -> None:
    with pytest.raises(FunctionError, match="Invalid algorithm"):
        decrypt(key=KEY256, nonce=NONCE, encrypted_data=DATA256, algorithm="aes192gcm")


def test_key_must_match_the_algorithm() -> None:
    with pytest.raises(FunctionError, match="key: aes128gcm needs a 16-byte key"):
        decrypt(key=KEY256, nonce=NONCE, encrypted_data=DATA256, algorithm="aes128gcm")


def test_tampered_data_fails() -> None:
    data = bytearray(base64.b64decode(DATA256))
    data[0] ^= 1
    with pytest.raises(FunctionError, match="Decryption failed"):
        decrypt(key=KEY256, nonce=NONCE, encrypted_data=b64(bytes(data)), algorithm="aes256gcm")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("key", "not base64!", "key: not valid base64"),
        ("nonce", b64(bytes(11)), "nonce: needs at least 12 bytes"),
        ("encrypted_data", b64(bytes(15)), "encrypted_data: shorter than"),
        ("encrypted_data", 7, "Cannot deserialize arguments: encrypted_data"),
        ("algorithm", None, "Cannot deserialize arguments: algorithm"),
    ],
)
def test_bad_arguments_name_the_field(field: str, value: object, message: str) -> None:
    arguments: dict[str, object] = {
        "key": KEY256,
        "nonce": NONCE,
        "encrypted_data": DATA256,
        "algorithm": "aes256gcm",
    }
    arguments[field] = value
    with pytest.raises(FunctionError, match=message):
        decrypt(**arguments)


def test_plaintext_must_be_utf8() -> None:
    key, nonce = bytes(32), bytes(12)
    data = AESGCM(key).encrypt(nonce, b"\xff\xfe", None)
    with pytest.raises(FunctionError, match="Invalid UTF-8"):
        decrypt(
            key=b64(key), nonce=b64(nonce), encrypted_data=b64(bytes(data)), algorithm="aes256gcm"
        )
