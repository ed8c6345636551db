"""The ``teaclave`` command as a user runs it: ``demo``, ``up`` errors and warnings, ``service``."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_processes import ADMIN_PASSWORD, Endpoints, Launcher, cli_env, write_config

import teaclave
from teaclave.sdk import TeaclaveException

DEMO_STEPS = (
    "[demo] starting the platform (TEE platform: sim",
    "[demo] seven services and one worker up in ",
    "[demo] the data owners' file server: http://127.0.0.1:",
    "[demo] admin registered data owners alice and bob; both logged in",
    "[demo] warm-up builtin-echo task finished; result: ",
    "[demo] admin registered builtin-ordered-set-intersect as function-",
    "[demo] alice created task task-",
    "[demo] alice encrypted 6 hashed customers (cmac ",
    "[demo] bob encrypted 5 hashed customers (cmac ",
    "[demo] alice approved the task",
    "[demo] bob approved the task",
    "[demo] task finished in ",
    "[demo] alice decrypted the result: 100011 → shared customers: ",
    "[demo] bob decrypted the result: 10110 → shared customers: ",
    "[demo] platform stopped",
)
SHARED_CUSTOMERS = "gus@example.org, emil@example.org, carl@example.org"


def teaclave_cli(
    *args: str, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "teaclave.cli", *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "expected"),
    [((), "Hello, Teaclave!"), (("--message", "Ciao, enclave"), "Ciao, enclave")],
    ids=["default", "message"],
)
def test_demo_runs_a_task_end_to_end(args: tuple[str, ...], expected: str) -> None:
    run = teaclave_cli("demo", *args)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == len(DEMO_STEPS), run.stdout
    for line, step in zip(lines, DEMO_STEPS, strict=True):
        assert line.startswith(step), (line, step)
    assert lines[4].endswith(f"result: {expected!r}")
    assert lines[11].endswith("'3 common items'")
    assert lines[12].endswith(SHARED_CUSTOMERS) and lines[13].endswith(SHARED_CUSTOMERS)


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[api_endpoints]\n", "api_endpoints.authentication"),
        ("", "api_endpoints"),
        ("not toml at all = = =\n", "not valid TOML"),
    ],
    ids=["missing-endpoint", "missing-section", "bad-toml"],
)
def test_up_bad_config_is_a_configuration_error(tmp_path: Path, toml: str, key: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(toml)
    run = teaclave_cli("up", "--config", str(cfg), cwd=tmp_path)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "teaclave up: configuration error: " in run.stderr
    assert key in run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout == ""


def test_up_bad_value_names_the_key(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    cfg.write_text(
        cfg.read_text().replace("executor_timeout_secs = 2.0", 'executor_timeout_secs = "soon"')
    )
    run = teaclave_cli("up", "--config", str(cfg), cwd=tmp_path)
    assert run.returncode == 2
    assert "configuration error: scheduler.executor_timeout_secs: expected a number" in run.stderr


def test_up_missing_config_file_and_negative_workers(tmp_path: Path) -> None:
    missing = teaclave_cli("up", "--config", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert missing.returncode == 2
    assert "configuration error" in missing.stderr and "nope.toml" in missing.stderr
    directory = teaclave_cli("up", "--config", str(tmp_path), cwd=tmp_path)
    assert directory.returncode == 2
    assert "configuration error" in directory.stderr and "Traceback" not in directory.stderr
    workers = teaclave_cli("up", "--config", str(write_config(tmp_path)), "--workers", "-1")
    assert workers.returncode == 2
    assert "--workers must be >= 0" in workers.stderr


@pytest.mark.slow
def test_up_dev_warns_and_creates_teaclaves_admin(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, admin_password="")
    runner = Launcher(tmp_path)
    try:
        proc = runner.up(cfg, "--workers", "0", "--dev")
        proc.wait_for_line("Press Ctrl-C to stop.")
        output = proc.output()
        assert "WARNING: --dev created (or kept) the account admin/teaclave" in output
        assert "WARNING: Never use --dev with real data." in output
        ends = Endpoints.of(cfg)
        assert ends.login("admin", "teaclave")
        assert proc.signal_and_wait(signal.SIGTERM) == 0
    finally:
        runner.cleanup()


def test_up_without_dev_has_no_warning_and_no_public_admin(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    runner = Launcher(tmp_path)
    try:
        proc = runner.up(cfg, "--workers", "0")
        proc.wait_for_line("Press Ctrl-C to stop.")
        assert "WARNING" not in proc.output()
        ends = Endpoints.of(cfg)
        with ends.auth() as auth, pytest.raises(TeaclaveException, match="authentication failed"):
            auth.user_login("admin", "teaclave")
        assert proc.signal_and_wait(signal.SIGTERM) == 0
    finally:
        runner.cleanup()


def test_up_dev_with_an_admin_password_says_the_password_wins(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)  # has admin_password
    runner = Launcher(tmp_path)
    try:
        proc = runner.up(cfg, "--workers", "0", "--dev")
        proc.wait_for_line("Press Ctrl-C to stop.")
        output = proc.output()
        assert "WARNING: --dev was given together with an admin password" in output
        assert "admin/teaclave" not in output
        ends = Endpoints.of(cfg)
        assert ends.login("admin", ADMIN_PASSWORD)
        with ends.auth() as auth, pytest.raises(TeaclaveException, match="authentication failed"):
            auth.user_login("admin", "teaclave")
        assert proc.signal_and_wait(signal.SIGTERM) == 0
    finally:
        runner.cleanup()


def test_version() -> None:
    run = teaclave_cli("--version")
    assert run.returncode == 0
    assert run.stdout.strip() == f"teaclave-py {teaclave.__version__}"


def test_service_unknown_name_is_an_argparse_error() -> None:
    run = teaclave_cli("service", "bogus")
    assert run.returncode == 2
    assert "teaclave service: error: argument name: invalid choice: 'bogus'" in run.stderr
    assert "storage" in run.stderr  # the choices are listed


def test_service_bad_config_is_a_configuration_error(tmp_path: Path) -> None:
    run = teaclave_cli("service", "storage", "--config", str(tmp_path / "nope.toml"))
    assert run.returncode == 2
    assert "teaclave service: configuration error:" in run.stderr
    assert "nope.toml: no such configuration file" in run.stderr
    assert "Traceback" not in run.stderr
