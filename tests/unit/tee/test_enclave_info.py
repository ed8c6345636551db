"""enclave_info.toml parsing and its auditor signatures (distinct keys, quorum, no empty list)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from teaclave.config.build import FRONTEND, STORAGE
from teaclave.tee import (
    EnclaveIdentity,
    EnclaveInfo,
    VerificationPolicy,
    generate_auditor_key,
    load_audited_enclave_info,
    load_auditor_key,
    sign_enclave_info,
    verify_auditor_signatures,
)
from teaclave.tee.errors import (
    AuditError,
    AuditorQuorumNotMet,
    AuditorSignatureInvalid,
    AuditorSignatureMissing,
    EnclaveInfoError,
    UnknownService,
)

TEACLAVE_MRSIGNER = "83d719e77deaca1470f6baf62a4d774303c899db69020f9c70ee1dfc08c7ce9e"
DATA = EnclaveInfo.render(
    {
        STORAGE: EnclaveIdentity(bytes(range(32)), bytes.fromhex(TEACLAVE_MRSIGNER)),
        FRONTEND: EnclaveIdentity(bytes(32), bytes.fromhex(TEACLAVE_MRSIGNER)),
    }
)


@pytest.fixture(scope="module")
def auditors() -> list[tuple[bytes, bytes]]:
    """Three auditors of different key types: (private PEM, public PEM)."""
    return [generate_auditor_key(kind) for kind in ("ed25519", "ecdsa-p256", "ed25519")]


def _keys(auditors: list[tuple[bytes, bytes]]) -> list:
    return [load_auditor_key(public, f"auditor{i}") for i, (_, public) in enumerate(auditors)]


# ------------------------------------------------------------------------------ the file


def test_render_and_parse_round_trip() -> None:
    info = EnclaveInfo.parse(DATA)
    assert set(info) == {STORAGE, FRONTEND}
    assert info[STORAGE].mr_enclave == bytes(range(32))
    assert info.identity(FRONTEND).mr_signer.hex() == TEACLAVE_MRSIGNER
    assert EnclaveInfo.render(info.identities) == DATA
    assert b'[teaclave_storage_service]\nmr_enclave = "000102' in DATA
    with pytest.raises(UnknownService):
        info.identity("teaclave_other_service")


def test_teaclave_generated_format_parses() -> None:
    text = (
        "[teaclave_frontend_service]\n"
        'mr_enclave = "82bc195bd181ca8e3cf220f633eea98e7a0a55f3217fa7f731cf0d7a8d83253e"\n'
        f'mr_signer  = "{TEACLAVE_MRSIGNER}"\n'
    ).encode()
    assert EnclaveInfo.parse(text)[FRONTEND].mr_enclave.hex().startswith("82bc195b")


def test_tdx_identity() -> None:
    text = f'[teaclave_storage_service]\nmr_td = "{"ab" * 48}"\nrtmr1 = "{"cd" * 48}"\n'.encode()
    ident = EnclaveInfo.parse(text)[STORAGE]
    rtmrs = [bytes(48), bytes.fromhex("cd" * 48), bytes(48), bytes(48)]
    assert ident.matches("tdx", bytes.fromhex("ab" * 48), b"", rtmrs)
    assert not ident.matches("tdx", bytes.fromhex("ab" * 48), b"", [bytes(48)] * 4)
    assert not ident.matches("sgx", bytes.fromhex("ab" * 48), b"")
    assert EnclaveInfo.parse(EnclaveInfo.render({STORAGE: ident}))[STORAGE] == ident


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[teaclave_storage_service]\nmr_enclave = "00"\nmr_signer = "00"\n',
            "mr_enclave: must be 64",
        ),
        (
            f'[teaclave_storage_service]\nmr_enclave = "{"AB" * 32}"\nmr_signer = "{"00" * 32}"\n',
            "lowercase",
        ),
        (f'[teaclave_storage_service]\nmr_enclave = "{"ab" * 32}"\n', "mr_signer: missing"),
        (
            f'[teaclave_storage_service]\nmr_enclave = "{"ab" * 32}"\n'
            f'mr_signer = "{"00" * 32}"\nx = 1\n',
            "x: unknown key",
        ),
        ("", "no enclave tables"),
        ("[x", "not valid TOML"),
        ('mr_enclave = "00"\n', "must be a table"),
    ],
)
def test_malformed_files_are_refused(text: str, message: str) -> None:
    with pytest.raises(EnclaveInfoError, match=message):
        EnclaveInfo.parse(text.encode())


# ------------------------------------------------------------------------------ auditors


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa-p256", "rsa-3072"])
def test_each_key_type_signs_and_verifies(kind: str) -> None:
    private, public = generate_auditor_key(kind)  # type: ignore[arg-type]
    key = load_auditor_key(public)
    signature = sign_enclave_info(DATA, private)
    assert key.verifies(signature, DATA)
    assert not key.verifies(signature, DATA + b"\n")
    assert verify_auditor_signatures(DATA, [signature], [key], quorum=1) == (key.fingerprint,)


def test_teaclave_style_rsa_pkcs1_public_key() -> None:
    """Teaclave's auditors: PKCS#1 'RSA PUBLIC KEY' PEM, RSA-PKCS#1-v1.5-SHA256 signatures."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pkcs1 = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
    )
    assert pkcs1.startswith(b"-----BEGIN RSA PUBLIC KEY-----")
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    signature = sign_enclave_info(DATA, private_pem)
    assert len(signature) == 256
    key = load_auditor_key(pkcs1, "godzilla")
    assert key.kind == "rsa-2048"
    assert verify_auditor_signatures(DATA, [signature], [key], quorum=1)


def test_weak_rsa_auditor_key_is_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    pem = weak.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(AuditError, match="1024 bits"):
        load_auditor_key(pem)


def test_quorum_of_distinct_auditors(auditors: list[tuple[bytes, bytes]]) -> None:
    keys = _keys(auditors)
    sigs = [sign_enclave_info(DATA, private) for private, _ in auditors]
    assert len(verify_auditor_signatures(DATA, sigs, keys, quorum=3)) == 3
    assert len(verify_auditor_signatures(DATA, sigs[:2], keys, quorum=2)) == 2


def test_quorum_not_met(auditors: list[tuple[bytes, bytes]]) -> None:
    keys = _keys(auditors)
    sigs = [sign_enclave_info(DATA, private) for private, _ in auditors[:2]]
    with pytest.raises(AuditorQuorumNotMet, match="2 distinct auditor\\(s\\) signed, 3 required"):
        verify_auditor_signatures(DATA, sigs, keys, quorum=3)


def test_duplicate_signatures_count_once(auditors: list[tuple[bytes, bytes]]) -> None:
    keys = _keys(auditors)
    ed = sign_enclave_info(DATA, auditors[0][0])
    with pytest.raises(AuditorQuorumNotMet, match="1 distinct"):
        verify_auditor_signatures(DATA, [ed, ed], keys, quorum=2)
    # ECDSA signatures are randomised: two *different* signatures by one key still count once.
    first, second = (sign_enclave_info(DATA, auditors[1][0]) for _ in range(2))
    assert first != second
    with pytest.raises(AuditorQuorumNotMet, match="1 distinct"):
        verify_auditor_signatures(DATA, [first, second], keys, quorum=2)
    # The same key listed twice among the auditor keys is also one auditor.
    with pytest.raises(AuditorQuorumNotMet):
        verify_auditor_signatures(DATA, [first, ed], [keys[1], keys[1], keys[0]], quorum=3)


def test_empty_signature_list_is_refused(auditors: list[tuple[bytes, bytes]]) -> None:
    with pytest.raises(AuditorSignatureMissing, match="empty list"):
        verify_auditor_signatures(DATA, [], _keys(auditors), quorum=1)


def test_wrong_signature_is_refused(auditors: list[tuple[bytes, bytes]]) -> None:
    keys = _keys(auditors)
    good = sign_enclave_info(DATA, auditors[0][0])
    over_other_bytes = sign_enclave_info(DATA + b"# edited\n", auditors[1][0])
    with pytest.raises(AuditorSignatureInvalid, match="#1"):
        verify_auditor_signatures(DATA, [good, over_other_bytes], keys, quorum=1)
    stranger, _ = generate_auditor_key()
    with pytest.raises(AuditorSignatureInvalid, match="#0"):
        verify_auditor_signatures(DATA, [sign_enclave_info(DATA, stranger)], keys, quorum=1)
    with pytest.raises(AuditorSignatureInvalid):
        verify_auditor_signatures(DATA, [b"not a signature"], keys, quorum=1)


def test_bad_quorum_or_no_keys() -> None:
    with pytest.raises(ValueError, match="quorum"):
        verify_auditor_signatures(DATA, [b"x"], [], quorum=0)
    with pytest.raises(AuditError, match="none configured"):
        verify_auditor_signatures(DATA, [b"x"], [], quorum=1)


def test_load_audited_enclave_info_from_files(
    tmp_path: Path, auditors: list[tuple[bytes, bytes]]
) -> None:
    info_path = tmp_path / "enclave_info.toml"
    info_path.write_bytes(DATA)
    sig_paths, key_paths = [], []
    for index, (private, public) in enumerate(auditors):
        (tmp_path / f"a{index}.pem").write_bytes(public)
        (tmp_path / f"a{index}.sign.sha256").write_bytes(sign_enclave_info(DATA, private))
        key_paths.append(tmp_path / f"a{index}.pem")
        sig_paths.append(tmp_path / f"a{index}.sign.sha256")
    info = load_audited_enclave_info(info_path, sig_paths, key_paths, quorum=3)
    assert len(info.auditors) == 3 and info[STORAGE].mr_enclave == bytes(range(32))
    VerificationPolicy(info)  # an audited file satisfies a production policy
    # A file edited after signing is refused.
    info_path.write_bytes(DATA.replace(b"000102", b"ff0102"))
    with pytest.raises(AuditorSignatureInvalid):
        load_audited_enclave_info(info_path, sig_paths, key_paths, quorum=1)
    with pytest.raises(AuditError, match=r"missing\.sign"):
        load_audited_enclave_info(info_path, [tmp_path / "missing.sign"], key_paths, quorum=1)


def test_policy_refuses_unaudited_enclave_info() -> None:
    with pytest.raises(ValueError, match="not audited"):
        VerificationPolicy(EnclaveInfo.parse(DATA))
    assert VerificationPolicy(EnclaveInfo.parse(DATA), require_audited=False)
