"""schemes.encrypt_file/decrypt_file: one entry point per wire name, atomic outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
from crypto_helpers import parse, pseudo_random

from teaclave.crypto import (
    SCHEMES,
    FormatError,
    IntegrityError,
    NameMismatch,
    TagMismatch,
    check_key_iv,
    decrypt_file,
    encrypt_file,
)

PARAMS = {
    "aes-gcm-128": (bytes(range(16)), bytes(12)),
    "aes-gcm-256": (bytes(range(32)), b"\x07" * 12),
    "teaclave-file-128": (bytes(range(16)), b""),
    "raw": (b"", b""),
}


def test_scheme_names() -> None:
    assert SCHEMES == ("aes-gcm-128", "aes-gcm-256", "teaclave-file-128", "raw")


@pytest.mark.parametrize("schema", SCHEMES)
@pytest.mark.parametrize("size", [0, 1, 5000, 3072 + 4096 * 97])
def test_round_trip(schema: str, size: int, tmp_path: Path) -> None:
    key, iv = PARAMS[schema]
    data = pseudo_random(size, size)
    src = tmp_path / "plain"
    src.write_bytes(data)
    enc = tmp_path / "data.enc"
    tag = encrypt_file(schema, src, enc, key, iv)
    if schema == "raw":
        assert tag is None and enc.read_bytes() == data
    else:
        assert tag is not None and len(tag) == 16
        assert enc.read_bytes() != data or size == 0
    out = tmp_path / "back"
    assert decrypt_file(schema, enc, out, key, iv, expected_tag=tag) == tag
    assert out.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["back", "data.enc", "plain"]


def test_teaclave_file_128_stores_the_destination_name(tmp_path: Path) -> None:
    key, iv = PARAMS["teaclave-file-128"]
    src = tmp_path / "plain"
    src.write_bytes(b"hello")
    encrypt_file("teaclave-file-128", src, tmp_path / "input.enc", key, iv)
    assert parse((tmp_path / "input.enc").read_bytes(), key).name == b"input.enc"
    (tmp_path / "input.enc").rename(tmp_path / "moved.enc")
    with pytest.raises(NameMismatch):
        decrypt_file("teaclave-file-128", tmp_path / "moved.enc", tmp_path / "o", key, iv)
    decrypt_file("teaclave-file-128", tmp_path / "moved.enc", tmp_path / "o", key, name="input.enc")
    assert (tmp_path / "o").read_bytes() == b"hello"
    encrypt_file("teaclave-file-128", src, tmp_path / "x.enc", key, iv, name="url-segment")
    assert parse((tmp_path / "x.enc").read_bytes(), key).name == b"url-segment"


@pytest.mark.parametrize(
    ("schema", "key", "iv", "field"),
    [
        ("aes-gcm-128", bytes(32), bytes(12), "key"),
        ("aes-gcm-128", bytes(16), bytes(16), "iv"),
        ("aes-gcm-128", bytes(16), b"", "iv"),
        ("aes-gcm-256", bytes(16), bytes(12), "key"),
        ("aes-gcm-256", bytes(32), bytes(11), "iv"),
        ("teaclave-file-128", bytes(32), b"", "key"),
        ("teaclave-file-128", bytes(16), bytes(12), "iv"),
        ("aes-gcm-512", bytes(16), bytes(12), "schema"),
    ],
)
def test_bad_parameters_are_value_errors(
    schema: str, key: bytes, iv: bytes, field: str, tmp_path: Path
) -> None:
    src = tmp_path / "plain"
    src.write_bytes(b"x")
    with pytest.raises(ValueError, match=f"^{field}: "):
        check_key_iv(schema, key, iv)
    with pytest.raises(ValueError, match=f"^{field}: "):
        encrypt_file(schema, src, tmp_path / "enc", key, iv)
    with pytest.raises(ValueError, match=f"^{field}: "):
        decrypt_file(schema, src, tmp_path / "out", key, iv)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain"]


def test_raw_ignores_key_iv_and_tag(tmp_path: Path) -> None:
    src = tmp_path / "plain"
    src.write_bytes(b"raw data")
    assert encrypt_file("raw", src, tmp_path / "a", b"anything", b"x") is None
    assert decrypt_file("raw", tmp_path / "a", tmp_path / "b", b"", b"", bytes(16)) is None
    assert (tmp_path / "b").read_bytes() == b"raw data"


@pytest.mark.parametrize("schema", ["aes-gcm-128", "aes-gcm-256", "teaclave-file-128"])
def test_failures_leave_dst_untouched(schema: str, tmp_path: Path) -> None:
    key, iv = PARAMS[schema]
    src = tmp_path / "plain"
    src.write_bytes(pseudo_random(100_000))
    enc = tmp_path / "data.enc"
    tag = encrypt_file(schema, src, enc, key, iv)
    assert tag is not None
    out = tmp_path / "out"
    out.write_bytes(b"old content")
    with pytest.raises(TagMismatch):
        decrypt_file(schema, enc, out, key, iv, expected_tag=bytes(16))
    raw = bytearray(enc.read_bytes())
    raw[len(raw) - 5000] ^= 1  # in the middle of the last (data) block / node
    enc.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError):
        decrypt_file(schema, enc, out, key, iv)
    enc.write_bytes(bytes(raw[:-3]))
    with pytest.raises((IntegrityError, FormatError)):
        decrypt_file(schema, enc, out, key, iv)
    assert out.read_bytes() == b"old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.enc", "out", "plain"]


def test_missing_source_leaves_nothing(tmp_path: Path) -> None:
    for schema in SCHEMES:
        key, iv = PARAMS[schema]
        with pytest.raises(FileNotFoundError):
            encrypt_file(schema, tmp_path / "nope", tmp_path / "enc", key, iv)
        with pytest.raises(FileNotFoundError):
            decrypt_file(schema, tmp_path / "nope", tmp_path / "out", key, iv)
    assert list(tmp_path.iterdir()) == []
