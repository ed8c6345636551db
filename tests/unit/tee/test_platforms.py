"""Platform selection and the device interfaces (Gramine /dev/attestation, configfs-tsm)."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
from tee_helpers import SimEnv, dcap_fixtures, forge_cert, new_key, rd, utc

from teaclave.config.build import STORAGE
from teaclave.tee import (
    ConfigfsTsmPlatform,
    FileCollateral,
    GramineSgxPlatform,
    Sealer,
    SimPlatform,
    TeePlatform,
    VerificationPolicy,
    get_platform,
    verify_peer_certificate,
)
from teaclave.tee.errors import (
    EvidenceGenerationFailed,
    PlatformUnavailable,
    ReportDataMismatch,
    SealingUnavailable,
)
from teaclave.tee.evidence import parse_report
from teaclave.tee.platforms import GRAMINE_DEVICE, TSM_REPORT_DIR


def test_sim_platform_by_name(tmp_path: Path, package_copy: Path) -> None:
    platform = get_platform("sim", tmp_path, package_root=package_copy)
    assert isinstance(platform, SimPlatform) and isinstance(platform, TeePlatform)
    assert platform.simulated and platform.name == "sim"
    assert "simulation — no hardware protection" in repr(platform)
    tee = tmp_path / "tee"
    assert stat.S_IMODE(tee.stat().st_mode) == 0o700
    for key in ("sim_root_key.pem", "sim_quoting_key.pem", "sim_enclave_signing_key.pem"):
        assert stat.S_IMODE((tee / key).stat().st_mode) == 0o600
    # Reopening keeps the same keys.
    again = SimPlatform(tmp_path, package_root=package_copy)
    assert again.root_der == platform.root_der
    assert again.measurement(STORAGE) == platform.measurement(STORAGE)


def test_sim_state_is_created_once_under_concurrency(tmp_path: Path, package_copy: Path) -> None:
    roots: list[bytes] = []
    lock = threading.Lock()

    def open_platform() -> None:
        root = SimPlatform(tmp_path, package_root=package_copy).root_der
        with lock:
            roots.append(root)

    threads = [threading.Thread(target=open_platform) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(roots) == 8 and len(set(roots)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["tee"]


@pytest.mark.skipif(GRAMINE_DEVICE.exists(), reason="running inside Gramine")
def test_sgx_without_gramine_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(PlatformUnavailable, match="/dev/attestation/attestation_type is missing"):
        get_platform("sgx", tmp_path)


@pytest.mark.skipif(TSM_REPORT_DIR.exists(), reason="configfs-tsm present")
@pytest.mark.parametrize("name", ["tdx", "sev-snp"])
def test_confidential_vm_without_configfs_tsm_fails_loudly(tmp_path: Path, name: str) -> None:
    with pytest.raises(PlatformUnavailable, match="/sys/kernel/config/tsm/report is missing"):
        get_platform(name, tmp_path)


def test_unknown_platform(tmp_path: Path) -> None:
    with pytest.raises(PlatformUnavailable, match="unknown"):
        get_platform("sgx-epid", tmp_path)


def _fake_gramine(root: Path, kind: str = "dcap") -> Path:
    """A directory with Gramine's pseudo-files; the 'quote' is Intel's sample SGX quote."""
    device = root / "attestation"
    (device / "keys").mkdir(parents=True)
    (device / "attestation_type").write_text(kind + "\n")
    (device / "quote").write_bytes((dcap_fixtures() / "sgx_quote").read_bytes())
    (device / "keys" / "_sgx_mrenclave").write_bytes(bytes(range(16)))
    return device


def test_gramine_attestation_type_must_be_dcap(tmp_path: Path) -> None:
    with pytest.raises(PlatformUnavailable, match="need 'dcap'"):
        GramineSgxPlatform(_fake_gramine(tmp_path, kind="none"))


def test_gramine_protocol_and_quote_in_certificate(tmp_path: Path, sim: SimEnv) -> None:
    device = _fake_gramine(tmp_path)
    platform = GramineSgxPlatform(device)
    key = new_key()
    evidence = platform.attest(STORAGE, rd(key), now=utc("2025-07-01T00:00:00"))
    assert (device / "user_report_data").read_bytes() == rd(key)  # written before reading
    report = parse_report(evidence.report)
    assert report.platform == "sgx" and report.quote == (device / "quote").read_bytes()
    assert evidence.signature == b"" and evidence.certs == ()
    assert platform.measurement(STORAGE).mr_enclave.hex().startswith("33d8736d")
    # The (real, fixed) quote verifies, but it is not bound to our key.
    root = dcap_fixtures()
    policy = VerificationPolicy(
        sim.info,
        platforms={"sgx"},
        collateral=FileCollateral([root / "sgx_quote_collateral.json"]),
        tcb_allow={"UpToDate", "ConfigurationAndSWHardeningNeeded"},
    )
    now = utc("2025-07-01T00:00:10")
    cert = forge_cert(key, evidence, not_before=now - 60)
    with pytest.raises(ReportDataMismatch):
        verify_peer_certificate(cert, STORAGE, policy, now=now)


def test_gramine_sealing_key(tmp_path: Path) -> None:
    platform = GramineSgxPlatform(_fake_gramine(tmp_path))
    sealer = Sealer(platform.sealing_key(STORAGE, "jwt-secret"))
    assert sealer.unseal(sealer.seal(b"secret")) == b"secret"
    assert sealer.mr_enclave.hex().startswith("33d8736d")
    (tmp_path / "attestation" / "keys" / "_sgx_mrenclave").unlink()
    with pytest.raises(SealingUnavailable, match="_sgx_mrenclave"):
        platform.sealing_key(STORAGE, "jwt-secret")


def test_gramine_report_data_size(tmp_path: Path) -> None:
    platform = GramineSgxPlatform(_fake_gramine(tmp_path))
    with pytest.raises(ValueError, match="64 bytes"):
        platform.attest(STORAGE, b"short", now=0)


def test_configfs_tsm_failure_is_reported_and_cleaned_up(tmp_path: Path) -> None:
    """A plain directory is not configfs: no generation file appears, and we leave no entry."""
    reports = tmp_path / "report"
    reports.mkdir()
    platform = ConfigfsTsmPlatform("tdx", reports)
    with pytest.raises(EvidenceGenerationFailed, match="generation"):
        platform.attest(STORAGE, bytes(64), now=0)
    assert list(reports.iterdir()) == []
    with pytest.raises(SealingUnavailable, match="key broker"):
        platform.sealing_key(STORAGE, "x")
