from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from teaclave.functions import FunctionError, load_builtin_functions
from teaclave.worker.runtime import RawIoRuntime

FIXTURES = Path(__file__).resolve().parents[3] / "../shared/fixtures/teaclave/functions"
RSA = FIXTURES / "rsa_sign"
needs_fixtures = pytest.mark.skipif(not RSA.exists(), reason="Teaclave fixtures not found")


def sign(key_file: Path, arguments: dict[str, object]) -> str:
    runtime = RawIoRuntime({"rsa_key": key_file}, {})
    return load_builtin_functions()["builtin-rsa-sign"](arguments, runtime)


def write_key(tmp_path: Path, der: bytes) -> Path:
    path = tmp_path / "key.der"
    path.write_bytes(der)
    return path


@needs_fixtures
def test_teaclave_oracle() -> None:
    expected = (RSA / "expected_rsasign.txt").read_text().replace("\n", "")
    assert sign(RSA / "key.der", {"data": "test data", "extra": 1}) == expected


@needs_fixtures
def test_pkcs8_form_gives_the_same_signature(tmp_path: Path) -> None:
    key = serialization.load_der_private_key((RSA / "key.der").read_bytes(), None)
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    expected = (RSA / "expected_rsasign.txt").read_text().replace("\n", "")
    assert sign(write_key(tmp_path, pkcs8), {"data": "test data"}) == expected


def test_signature_verifies_over_utf8_data(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    signature = base64.b64decode(sign(write_key(tmp_path, der), {"data": "données ✓"}))
    key.public_key().verify(signature, "données ✓".encode(), padding.PKCS1v15(), hashes.SHA256())


def test_bad_keys_name_the_input(tmp_path: Path) -> None:
    with pytest.raises(FunctionError, match="rsa_key: not an RSA private key"):
        sign(write_key(tmp_path, b"not a key"), {"data": "x"})
    ec_der = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(FunctionError, match="rsa_key: expected an RSA key"):
        sign(write_key(tmp_path, ec_der), {"data": "x"})
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    with pytest.raises(FunctionError, match="rsa_key: RSA key too small"):
        sign(write_key(tmp_path, small), {"data": "x"})


@pytest.mark.parametrize("arguments", [{}, {"data": 5}, {"data": None}])
def test_data_argument_type(tmp_path: Path, arguments: dict[str, object]) -> None:
    with pytest.raises(FunctionError, match="Cannot deserialize arguments: data"):
        sign(write_key(tmp_path, b""), arguments)
