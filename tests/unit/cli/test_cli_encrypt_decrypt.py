"""``teaclave encrypt`` / ``decrypt`` against Teaclave's fixtures and as a careless user."""

from __future__ import annotations

from pathlib import Path

import pytest

from teaclave.cli.main import main
from teaclave.crypto.protected_fs import root_tag

FIXTURES = Path(__file__).resolve().parents[3] / "../shared/fixtures/teaclave/functions"
needs_fixtures = pytest.mark.skipif(
    not FIXTURES.exists(), reason="Teaclave fixtures not found at ../shared/fixtures"
)


@needs_fixtures
def test_aes_gcm_matches_teaclave_fixture_byte_for_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "train.aes_gcm_128"
    args = ["-a", "aes-gcm-128", "-k", "00" * 16, "--iv", "01" * 12]
    assert (
        main(
            [
                "encrypt",
                *args,
                "-i",
                str(FIXTURES / "gbdt_training/train.txt"),
                "-o",
                str(out),
                "-c",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == "592f1e607649d89ff2aa8a2841a57cad"
    assert out.read_bytes() == (FIXTURES / "gbdt_training/train.aes_gcm_128").read_bytes()


@needs_fixtures
def test_decrypt_teaclave_protected_fixture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "psi0.txt"
    source = FIXTURES / "ordered_set_intersect/psi0.txt.enc"
    args = [
        "decrypt",
        "-a",
        "teaclave-file-128",
        "-k",
        "00" * 16,
        "-i",
        str(source),
        "-o",
        str(out),
    ]
    assert main([*args, "-c", "--tag", "92f686d4ac2ba6b4ffd93bc7ac5dbf58"]) == 0
    assert capsys.readouterr().out.strip() == "92f686d4ac2ba6b4ffd93bc7ac5dbf58"
    assert out.read_bytes() == (FIXTURES / "ordered_set_intersect/psi0.txt").read_bytes()


@pytest.mark.parametrize("scheme", ["aes-gcm-128", "aes-gcm-256", "teaclave-file-128"])
def test_round_trip_with_generated_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], scheme: str
) -> None:
    plain = tmp_path / "data.txt"
    plain.write_bytes(b"line\n" * 5000)
    enc = tmp_path / "data.enc"
    assert main(["encrypt", "-a", scheme, "-i", str(plain), "-o", str(enc)]) == 0
    printed = dict(line.split(maxsplit=1) for line in capsys.readouterr().out.splitlines())
    key = printed["key"]
    extra = ["--iv", printed["iv"]] if scheme != "teaclave-file-128" else []
    tag = printed.get("cmac") or printed["tag"]
    if scheme == "teaclave-file-128":
        assert root_tag(enc).hex() == tag
    back = tmp_path / "back.txt"
    assert (
        main(
            [
                "decrypt",
                "-a",
                scheme,
                "-k",
                key,
                *extra,
                "-i",
                str(enc),
                "-o",
                str(back),
                "--tag",
                tag,
            ]
        )
        == 0
    )
    assert back.read_bytes() == plain.read_bytes()


def test_wrong_key_or_tampered_file_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "secret.txt"
    plain.write_bytes(b"top secret\n" * 1000)
    enc = tmp_path / "secret.enc"
    assert (
        main(
            [
                "encrypt",
                "-a",
                "teaclave-file-128",
                "-k",
                "11" * 16,
                "-i",
                str(plain),
                "-o",
                str(enc),
            ]
        )
        == 0
    )
    capsys.readouterr()
    out = tmp_path / "out.txt"
    assert (
        main(
            ["decrypt", "-a", "teaclave-file-128", "-k", "22" * 16, "-i", str(enc), "-o", str(out)]
        )
        == 1
    )
    assert "wrong key" in capsys.readouterr().err
    assert not out.exists()
    data = bytearray(enc.read_bytes())
    data[5000] ^= 1
    enc.write_bytes(bytes(data))
    assert (
        main(
            ["decrypt", "-a", "teaclave-file-128", "-k", "11" * 16, "-i", str(enc), "-o", str(out)]
        )
        == 1
    )
    assert not out.exists()
    assert (
        list(tmp_path.iterdir()) == sorted(tmp_path.iterdir())
        and len(list(tmp_path.iterdir())) == 2
    )


def test_refuses_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "p.txt"
    plain.write_text("x")
    out = tmp_path / "exists.enc"
    out.write_text("keep me")
    assert main(["encrypt", "-a", "aes-gcm-128", "-i", str(plain), "-o", str(out)]) == 1
    assert "--force" in capsys.readouterr().err
    assert out.read_text() == "keep me"
    assert main(["encrypt", "-a", "aes-gcm-128", "-i", str(plain), "-o", str(out), "--force"]) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-k", "zz"], "--key: not hex"),
        (["-k", "00" * 15], "--key: needs 16 bytes"),
        (["-k", "00" * 16, "--iv", "00" * 11], "--iv: needs 12 bytes"),
    ],
)
def test_bad_key_material_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    plain = tmp_path / "p.txt"
    plain.write_text("x")
    assert (
        main(["encrypt", "-a", "aes-gcm-128", *args, "-i", str(plain), "-o", str(tmp_path / "o")])
        == 1
    )
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
