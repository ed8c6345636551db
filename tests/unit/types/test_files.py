"""FileCrypto, tags, owner lists, input/output records (spec §2.4, §2.7 serde shapes)."""

from __future__ import annotations

import json
import uuid

import pytest

from teaclave.types.errors import DecodeError, InvalidArgument, StatusCode
from teaclave.types.files import (
    FUSION_URL_PREFIX,
    CryptoSchema,
    FileCrypto,
    InputFile,
    OutputFile,
    new_fusion_url,
    owners_from_json,
    owners_to_json,
    parse_tag,
    parse_url,
    tag_from_json,
    tag_to_json,
)

KEY16 = bytes(range(16))
KEY32 = bytes(range(32))
IV12 = bytes(range(100, 112))
TAG = bytes(range(200, 216))


# ---------------------------------------------------------------------- from_wire
@pytest.mark.parametrize(
    ("schema", "key", "iv", "expected"),
    [
        ("aes-gcm-128", KEY16, IV12, FileCrypto(CryptoSchema.AES_GCM_128, KEY16, IV12)),
        ("aes-gcm-256", KEY32, IV12, FileCrypto(CryptoSchema.AES_GCM_256, KEY32, IV12)),
        ("teaclave-file-128", KEY16, b"", FileCrypto(CryptoSchema.TEACLAVE_FILE_128, KEY16)),
        ("raw", b"", b"", FileCrypto(CryptoSchema.RAW)),
    ],
)
def test_from_wire_accepts_every_schema(schema: str, key: bytes, iv: bytes, expected: FileCrypto):
    assert FileCrypto.from_wire(schema, key, iv) == expected


def test_raw_ignores_key_and_iv():
    assert FileCrypto.from_wire("raw", KEY32, b"xyz") == FileCrypto(CryptoSchema.RAW)


@pytest.mark.parametrize(
    ("schema", "key", "want", "got"),
    [
        ("aes-gcm-128", KEY32, 16, 32),
        ("aes-gcm-128", b"", 16, 0),
        ("aes-gcm-256", KEY16, 32, 16),
        ("teaclave-file-128", bytes(15), 16, 15),
    ],
)
def test_wrong_key_size_names_crypto_info_key(schema: str, key: bytes, want: int, got: int):
    with pytest.raises(InvalidArgument) as err:
        FileCrypto.from_wire(schema, key, IV12)
    assert err.value.code is StatusCode.INVALID_ARGUMENT
    assert err.value.message == f"crypto_info.key: {schema} needs {want} bytes, got {got}"


@pytest.mark.parametrize("schema", ["aes-gcm-128", "aes-gcm-256"])
@pytest.mark.parametrize("iv", [b"", bytes(11), bytes(13), bytes(16)])
def test_wrong_iv_size_names_crypto_info_iv(schema: str, iv: bytes):
    key = KEY16 if schema == "aes-gcm-128" else KEY32
    with pytest.raises(InvalidArgument, match=rf"^crypto_info\.iv: {schema} needs 12 bytes, got"):
        FileCrypto.from_wire(schema, key, iv)


def test_teaclave_file_128_with_an_iv_is_refused():
    with pytest.raises(InvalidArgument, match=r"^crypto_info\.iv: teaclave-file-128 takes no iv"):
        FileCrypto.from_wire("teaclave-file-128", KEY16, IV12)


@pytest.mark.parametrize("schema", ["", "AES-GCM-128", "aes_gcm_128", "aes-gcm-192", "Raw"])
def test_unknown_schema_is_refused_naming_crypto_info_schema(schema: str):
    with pytest.raises(InvalidArgument) as err:
        FileCrypto.from_wire(schema, KEY16, IV12)
    assert err.value.message.startswith("crypto_info.schema: invalid crypto schema")
    for name in ("aes-gcm-128", "aes-gcm-256", "teaclave-file-128", "raw"):
        assert name in err.value.message


def test_the_field_prefix_can_be_changed():
    with pytest.raises(InvalidArgument, match=r"^output\.crypto_info\.key: "):
        FileCrypto.from_wire("aes-gcm-128", b"", IV12, field="output.crypto_info")


def test_random_protected_crypto_is_a_fresh_teaclave_file_128_key():
    a, b = FileCrypto.random_protected(), FileCrypto.random_protected()
    assert a.schema is CryptoSchema.TEACLAVE_FILE_128
    assert len(a.key) == 16 and a.iv == b""
    assert a.key != b.key


# ---------------------------------------------------------------------- serde
@pytest.mark.parametrize(
    ("crypto", "shape"),
    [
        (
            FileCrypto(CryptoSchema.AES_GCM_128, KEY16, IV12),
            {"AesGcm128": {"key": list(KEY16), "iv": list(IV12)}},
        ),
        (
            FileCrypto(CryptoSchema.AES_GCM_256, KEY32, IV12),
            {"AesGcm256": {"key": list(KEY32), "iv": list(IV12)}},
        ),
        (
            FileCrypto(CryptoSchema.TEACLAVE_FILE_128, KEY16),
            {"TeaclaveFile128": {"key": list(KEY16)}},
        ),
        (FileCrypto(CryptoSchema.RAW), "Raw"),
    ],
)
def test_crypto_serde_shapes_and_round_trip(crypto: FileCrypto, shape: object):
    assert crypto.to_json() == shape
    # Through real JSON text, as stored records are.
    assert FileCrypto.from_json(json.loads(json.dumps(crypto.to_json()))) == crypto


@pytest.mark.parametrize(
    "value",
    [
        {"AesGcm512": {"key": [], "iv": []}},
        {"AesGcm128": {"key": list(KEY16)}},  # no iv
        {"AesGcm128": {"key": [1, 256], "iv": list(IV12)}},  # not bytes
        {"AesGcm128": {"key": "abc", "iv": list(IV12)}},
        {"AesGcm128": {}, "Raw": {}},
        "raw",
        None,
        [],
    ],
)
def test_crypto_from_json_refuses_malformed_values(value: object):
    with pytest.raises(DecodeError):
        FileCrypto.from_json(value)


def test_tag_parse_and_serde():
    assert parse_tag(TAG) == TAG
    assert tag_to_json(TAG) == {"tag": list(TAG)}
    assert tag_from_json({"tag": list(TAG)}) == TAG
    for bad in (b"", bytes(15), bytes(17)):
        with pytest.raises(InvalidArgument, match=rf"^cmac: expected 16 bytes, got {len(bad)}$"):
            parse_tag(bad)
    with pytest.raises(InvalidArgument, match=r"^input\.cmac: "):
        parse_tag(b"x", "input.cmac")
    with pytest.raises(DecodeError):
        tag_from_json({"cmac": list(TAG)})


def test_owner_list_serde_is_sorted_uids():
    owners = frozenset({"zed", "amy", "bob"})
    assert owners_to_json(owners) == {"uids": ["amy", "bob", "zed"]}
    assert owners_from_json({"uids": ["zed", "amy", "bob"]}) == owners
    with pytest.raises(DecodeError, match="uids"):
        owners_from_json({"uids": "amy"})
    with pytest.raises(DecodeError, match="uids"):
        owners_from_json({"owners": []})


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:6789/fixtures/functions/mesapy/input.txt",
        "file:///tmp/x",
        "fusion:///TEACLAVE_FUSION_BASE/abc.fusion",
        "data:text/plain;base64,SGVsbG8=",
    ],
)
def test_parse_url_accepts_absolute_urls(url: str):
    assert parse_url(url) == url


@pytest.mark.parametrize("url", ["", "relative/path", "/abs/path", "http:"])
def test_parse_url_refuses_non_urls_naming_the_field(url: str):
    with pytest.raises(InvalidArgument, match=r"^url: "):
        parse_url(url)


# ---------------------------------------------------------------------- records
def _input() -> InputFile:
    return InputFile(
        url="http://localhost:6789/in.enc",
        cmac=TAG,
        crypto=FileCrypto(CryptoSchema.AES_GCM_128, KEY16, IV12),
        owner=frozenset({"u2", "u1"}),
        uuid=uuid.UUID("00000000-0000-0000-0000-000000000002"),
    )


def test_input_file_serde_shape_and_round_trip():
    record = _input()
    assert record.to_json() == {
        "url": "http://localhost:6789/in.enc",
        "cmac": {"tag": list(TAG)},
        "crypto_info": {"AesGcm128": {"key": list(KEY16), "iv": list(IV12)}},
        "owner": {"uids": ["u1", "u2"]},
        "uuid": "00000000-0000-0000-0000-000000000002",
    }
    assert InputFile.from_json(json.loads(json.dumps(record.to_json()))) == record
    assert str(record.external_id) == "input-00000000-0000-0000-0000-000000000002"


def test_output_file_serde_with_and_without_cmac():
    out = OutputFile(
        "file:///o", FileCrypto(CryptoSchema.TEACLAVE_FILE_128, KEY16), frozenset({"u"})
    )
    value = out.to_json()
    assert value["cmac"] is None
    assert value["crypto_info"] == {"TeaclaveFile128": {"key": list(KEY16)}}
    assert OutputFile.from_json(json.loads(json.dumps(value))) == out
    out.cmac = TAG
    assert out.to_json()["cmac"] == {"tag": list(TAG)}
    assert OutputFile.from_json(out.to_json()) == out
    assert out.external_id.prefix == "output"
    with pytest.raises(DecodeError, match="cmac"):
        OutputFile.from_json({k: v for k, v in value.items() if k != "cmac"})


def test_output_to_input_keeps_uuid_url_crypto_owner_and_cmac():
    out = OutputFile(
        "file:///o", FileCrypto(CryptoSchema.TEACLAVE_FILE_128, KEY16), frozenset({"a", "b"})
    )
    with pytest.raises(InvalidArgument, match="invalid output file"):
        out.to_input()
    out.cmac = TAG
    derived = out.to_input()
    assert derived == InputFile(out.url, TAG, out.crypto, out.owner, out.uuid)
    assert derived.external_id.uuid == out.external_id.uuid
    assert str(derived.external_id) == f"input-{out.uuid}"


def test_new_fusion_url_is_fresh_under_the_fusion_base():
    a, b = new_fusion_url(), new_fusion_url()
    assert a != b
    assert a.startswith(FUSION_URL_PREFIX) and a.endswith(".fusion")
    uuid.UUID(a[len(FUSION_URL_PREFIX) : -len(".fusion")])
    assert parse_url(a) == a
