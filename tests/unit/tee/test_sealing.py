"""Sealing to the enclave identity: round trip, tampering, changed code, other roots."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from tee_helpers import SimEnv, copy_package

from teaclave.config.build import AUTHENTICATION, STORAGE
from teaclave.tee import Sealer, SimPlatform
from teaclave.tee.errors import (
    SealedByDifferentCode,
    SealedDataCorrupted,
    SealingUnavailable,
)
from teaclave.tee.sealing import MIGRATION_DOC, SEAL_MAGIC

SECRET = b"storage encryption key \x00\x01\x02"


def _sealer(platform: SimPlatform, service: str = STORAGE, label: str = "storage-key") -> Sealer:
    return Sealer(platform.sealing_key(service, label))


def test_round_trip_with_aad(sim: SimEnv) -> None:
    sealer = _sealer(sim.platform)
    blob = sealer.seal(SECRET, aad=b"db v1")
    assert blob.startswith(SEAL_MAGIC) and SECRET not in blob
    assert sealer.unseal(blob, aad=b"db v1") == SECRET
    assert _sealer(sim.platform).unseal(blob, aad=b"db v1") == SECRET  # key is re-derivable
    assert sealer.seal(SECRET) != sealer.seal(SECRET)  # fresh nonce each time
    assert sealer.unseal(sealer.seal(b"")) == b""


def test_tampering_is_detected(sim: SimEnv) -> None:
    sealer = _sealer(sim.platform)
    blob = sealer.seal(SECRET, aad=b"a")
    with pytest.raises(SealedDataCorrupted, match="authentication failed"):
        sealer.unseal(blob, aad=b"b")
    for offset in (len(blob) - 1, len(blob) - 20, len(SEAL_MAGIC) + 33 + 2):
        tampered = bytearray(blob)
        tampered[offset] ^= 0x01
        with pytest.raises(SealedDataCorrupted):
            sealer.unseal(bytes(tampered), aad=b"a")
    with pytest.raises(SealedDataCorrupted, match="magic"):
        sealer.unseal(b"X" + blob[1:], aad=b"a")
    with pytest.raises(SealedDataCorrupted, match="truncated"):
        sealer.unseal(blob[:45], aad=b"a")


def test_changed_code_cannot_unseal(tmp_path: Path, sim: SimEnv) -> None:
    blob = _sealer(sim.platform).seal(SECRET)
    changed = copy_package(tmp_path / "changed" / "teaclave")
    (changed / "services" / "storage" / "service.py").write_text("# changed\n", "utf-8")
    new_code = SimPlatform(sim.state_dir, package_root=changed)
    with pytest.raises(SealedByDifferentCode) as refused:
        _sealer(new_code).unseal(blob)
    message = str(refused.value)
    assert "the code changed" in message and MIGRATION_DOC in message
    assert sim.info[STORAGE].mr_enclave.hex() in message


def test_other_service_cannot_unseal(sim: SimEnv) -> None:
    blob = _sealer(sim.platform, STORAGE).seal(SECRET)
    with pytest.raises(SealedByDifferentCode):
        _sealer(sim.platform, AUTHENTICATION).unseal(blob)


def test_other_label_or_other_root_secret_cannot_unseal(tmp_path: Path, sim: SimEnv) -> None:
    blob = _sealer(sim.platform, label="storage-key").seal(SECRET)
    with pytest.raises(SealedDataCorrupted):
        _sealer(sim.platform, label="jwt-secret").unseal(blob)
    elsewhere = SimPlatform(tmp_path / "other-state", package_root=sim.package_root)
    with pytest.raises(SealedDataCorrupted, match="root secret"):
        _sealer(elsewhere).unseal(blob)


def test_root_secret_must_be_private(tmp_path: Path, sim: SimEnv) -> None:
    path = sim.platform.authority.root_secret_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_bytes()) == 32
    platform = SimPlatform(tmp_path / "state", package_root=sim.package_root)
    secret = platform.authority.root_secret_path
    os.chmod(secret, 0o644)
    with pytest.raises(SealingUnavailable, match="0644"):
        platform.sealing_key(STORAGE, "x")
    os.chmod(secret, 0o600)
    secret.write_bytes(b"short")
    with pytest.raises(SealingUnavailable, match="5 bytes"):
        platform.sealing_key(STORAGE, "x")
