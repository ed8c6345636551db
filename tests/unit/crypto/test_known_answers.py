"""Known-answer tests against Apache Teaclave 0.6's own encrypted fixtures (spec §2.7.2)."""

from __future__ import annotations

import base64
import io
import shutil
import struct
from pathlib import Path

import pytest
from crypto_helpers import ZERO_KEY, fixtures_dir, metadata_key
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.cmac import CMAC

from teaclave.crypto import (
    IntegrityError,
    NameMismatch,
    ProtectedFileReader,
    TagMismatch,
    aes_gcm,
    protected_fs,
    root_tag,
    schemes,
)

TF128 = [
    ("functions/gbdt_training/train.enc", "train.txt", "860030495909b84864b991865e9ad94f"),
    (
        "functions/ordered_set_intersect/psi0.txt.enc",
        "psi0.txt",
        "92f686d4ac2ba6b4ffd93bc7ac5dbf58",
    ),
    (
        "functions/ordered_set_intersect/psi1.txt.enc",
        "psi1.txt",
        "8b3104972a6f0de949315e0b45d5dd66",
    ),
    ("functions/ordered_set_join/join0.csv.enc", "join0.csv", "3f91d2744763445d265ea469debb74f0"),
    ("functions/ordered_set_join/join1.csv.enc", "join1.csv", "d1e5a520489c93d0254c8c22cdefab89"),
    (
        "functions/password_check/exposed_passwords.txt.enc",
        "exposed_passwords.txt",
        "a31dd0b7de0b6cc7e0dec1dcf7a46479",
    ),
    (
        "functions/private_join_and_compute/three_party_data/bank_a.enc",
        "bank_a.txt",
        "f6a4585a4903f8dea0ee90ac84a50dba",
    ),
    (
        "functions/private_join_and_compute/three_party_data/bank_b.enc",
        "bank_b.txt",
        "ab6065314fcbacd6971ff55d3821b51e",
    ),
    (
        "functions/private_join_and_compute/three_party_data/bank_c.enc",
        "bank_c.txt",
        "9d7dbe465806731a43008ab094c97688",
    ),
    ("functions/rsa_sign/rsakey.enc", "key.der", "620c16ab588ca638f3b0a2692ab078cf"),
]
IDS = [Path(enc).name for enc, _, _ in TF128]


@pytest.mark.parametrize(("enc", "twin", "cmac"), TF128, ids=IDS)
def test_teaclave_file_128_fixture_decrypts_to_its_twin(
    enc: str, twin: str, cmac: str, tmp_path: Path
) -> None:
    path = fixtures_dir() / enc
    expected = (path.parent / twin).read_bytes()
    with ProtectedFileReader(path, ZERO_KEY, expected_tag=bytes.fromhex(cmac)) as reader:
        assert reader.tag.hex() == cmac
        assert reader.name == path.name.encode()
        assert reader.size == len(expected)
        assert reader.read() == expected
    assert root_tag(path).hex() == cmac
    out = tmp_path / twin
    tag = schemes.decrypt_file("teaclave-file-128", path, out, ZERO_KEY)
    assert tag is not None and tag.hex() == cmac
    assert out.read_bytes() == expected


@pytest.mark.parametrize(("enc", "twin", "cmac"), TF128[:3], ids=IDS[:3])
def test_fixture_rejects_wrong_cmac_key_and_name(
    enc: str, twin: str, cmac: str, tmp_path: Path
) -> None:
    path = fixtures_dir() / enc
    wrong_cmac = bytes.fromhex("881adca6b0524472da0a9d0bb02b9af9")  # mesapy_optional_files.py's
    with pytest.raises(TagMismatch, match="881adca6"):
        ProtectedFileReader(path, ZERO_KEY, expected_tag=wrong_cmac)
    with pytest.raises(IntegrityError, match="wrong key"):
        ProtectedFileReader(path, bytes(15) + b"\x01")
    renamed = tmp_path / ("renamed-" + path.name)
    shutil.copyfile(path, renamed)
    with pytest.raises(NameMismatch, match="renamed-"):
        ProtectedFileReader(renamed, ZERO_KEY)
    # ... but the original name can be given explicitly.
    with ProtectedFileReader(renamed, ZERO_KEY, bytes.fromhex(cmac), name=path.name) as reader:
        assert reader.read() == (path.parent / twin).read_bytes()


def test_metadata_gcm_uses_no_aad_and_a_zero_iv() -> None:
    """Prove the ambiguous details with a real fixture: zero IV, empty AAD, 120-byte KDF input."""
    raw = (fixtures_dir() / "functions/gbdt_training/train.enc").read_bytes()
    key_id, gmac = raw[16:48], raw[80:96]
    sealed = raw[96 : 96 + 3372] + gmac
    key = metadata_key(ZERO_KEY, key_id)
    AESGCM(key).decrypt(bytes(12), sealed, None)  # the spec's reading works
    AESGCM(key).decrypt(bytes(12), sealed, b"")  # (empty AAD == no AAD in GCM)
    with pytest.raises(InvalidTag):  # the AES-GCM file scheme's 8-zero-byte AAD does not
        AESGCM(key).decrypt(bytes(12), sealed, bytes(8))
    with pytest.raises(InvalidTag):
        AESGCM(key).decrypt(b"\x01" * 12, sealed, None)
    # KDF variants that do NOT work: no padding after the label / after the output length.
    for layout, args in [
        ("<I64sQ32sI", (1, b"SGX-PROTECTED-FS-METADATA-KEY", 0, key_id, 0x80)),
        ("<I64sIQ32sI", (1, b"SGX-PROTECTED-FS-METADATA-KEY", 0, 0, key_id, 0x80)),
        ("<I64sQ32sII", (1, b"SGX-PROTECTED-FS-METADATA-KEY", 0, key_id, 0x80, 0)),
    ]:
        mac = CMAC(algorithms.AES(ZERO_KEY))
        mac.update(struct.pack(layout, *args))
        with pytest.raises(InvalidTag):
            AESGCM(mac.finalize()).decrypt(bytes(12), sealed, None)


def test_fixture_header_fields() -> None:
    for enc, _, cmac in TF128:
        raw = (fixtures_dir() / enc).read_bytes()
        assert len(raw) == 4096
        assert raw[:8] == b"ELIF_XGS"
        assert raw[8:12] == bytes([1, 0, 1, 0])  # version 1.0, user key, update flag 0
        assert raw[12:16] == bytes(4) and raw[48:80] == bytes(32) and raw[3468:] == bytes(628)
        assert raw[80:96].hex() == cmac


def test_aes_gcm_128_fixture(tmp_path: Path) -> None:
    base = fixtures_dir() / "functions/gbdt_training"
    plain = (base / "train.txt").read_bytes()
    enc = base / "train.aes_gcm_128"
    tag = bytes.fromhex("592f1e607649d89ff2aa8a2841a57cad")
    key, iv = bytes(16), b"\x01" * 12
    out = io.BytesIO()
    with enc.open("rb") as src:
        assert aes_gcm.decrypt_stream(src, out, key, iv, expected_tag=tag) == tag
    assert out.getvalue() == plain
    assert schemes.decrypt_file("aes-gcm-128", enc, tmp_path / "p", key, iv, tag) == tag
    assert (tmp_path / "p").read_bytes() == plain
    # AES-GCM is deterministic: re-encrypting gives the fixture byte for byte.
    assert schemes.encrypt_file("aes-gcm-128", base / "train.txt", tmp_path / "c", key, iv) == tag
    assert (tmp_path / "c").read_bytes() == enc.read_bytes()
    # An empty AAD does not authenticate it (the AAD really is 8 zero bytes).
    with pytest.raises(InvalidTag):
        AESGCM(key).decrypt(iv, enc.read_bytes(), None)


@pytest.mark.parametrize(
    ("plain", "schema", "key", "iv", "tag"),
    [
        (
            "fusion/input1.txt",
            "aes-gcm-128",
            "00000000000000000000000000000001",
            "123456781234567812345678",
            "e8afd048b339fc835733e16c761a301c",
        ),
        (
            "fusion/input2.txt",
            "aes-gcm-256",
            "00" * 31 + "02",
            "012345670123456701234567",
            "75d7cf7a7843dee709e29ba0dcb865d2",
        ),
    ],
)
def test_fusion_vectors(
    plain: str, schema: str, key: str, iv: str, tag: str, tmp_path: Path
) -> None:
    src = fixtures_dir() / plain
    if not src.exists():
        pytest.skip(f"{plain} is not in the shared fixtures")
    enc = tmp_path / "input.enc"
    got = schemes.encrypt_file(schema, src, enc, bytes.fromhex(key), bytes.fromhex(iv))
    assert got is not None and got.hex() == tag
    out = tmp_path / "input.txt"
    schemes.decrypt_file(schema, enc, out, bytes.fromhex(key), bytes.fromhex(iv), got)
    assert out.read_bytes() == src.read_bytes()


def test_password_data_url_vector() -> None:
    data = base64.b64decode("c+mpvRfZ0fboR0j3rTgOGDBiubSzlCt9")
    tag = bytes.fromhex("e84748f7ad380e183062b9b4b3942b7d")
    assert aes_gcm.decrypt(bytes(16), bytes(12), data, expected_tag=tag) == b"password"
    out = io.BytesIO()
    assert aes_gcm.decrypt_stream(io.BytesIO(data), out, bytes(16), bytes(12), tag) == tag
    assert out.getvalue() == b"password"
    assert aes_gcm.encrypt(bytes(16), bytes(12), b"password") == data


def test_protected_fs_decrypt_file_keeps_fixture_name(tmp_path: Path) -> None:
    enc, twin, cmac = TF128[0]
    path = fixtures_dir() / enc
    out = tmp_path / "plain"
    assert protected_fs.decrypt_file(path, out, ZERO_KEY, bytes.fromhex(cmac)).hex() == cmac
    assert out.read_bytes() == (path.parent / twin).read_bytes()
