from __future__ import annotations

from pathlib import Path

import pytest

from teaclave.functions import FunctionError, load_builtin_functions
from teaclave.worker.runtime import RawIoRuntime

FIXTURES = Path(__file__).resolve().parents[3] / "../shared/fixtures/teaclave/functions"
PASSWORDS = FIXTURES / "password_check"


def run_files(password: Path, exposed: Path, arguments: dict[str, object] | None = None) -> str:
    runtime = RawIoRuntime({"password": password, "exposed_passwords": exposed}, {})
    return load_builtin_functions()["builtin-password-check"](arguments or {}, runtime)


def run(tmp_path: Path, password: bytes, exposed: bytes) -> str:
    (tmp_path / "p").write_bytes(password)
    (tmp_path / "e").write_bytes(exposed)
    return run_files(tmp_path / "p", tmp_path / "e")


@pytest.mark.skipif(not PASSWORDS.exists(), reason="Teaclave fixtures not found")
def test_teaclave_oracle() -> None:
    password, exposed = PASSWORDS / "password.txt", PASSWORDS / "exposed_passwords.txt"
    assert run_files(password, exposed) == "true"
    # Arguments are ignored entirely.
    assert run_files(password, exposed, {"anything": [1, 2], "x": None}) == "true"


def test_not_exposed(tmp_path: Path) -> None:
    assert run(tmp_path, b"correct horse\n", b"123456\npassword\n") == "false"


def test_first_line_trimmed_and_lines_trimmed(tmp_path: Path) -> None:
    exposed = "abc\r\n\thunter2\u3000\n".encode()
    assert run(tmp_path, b"  hunter2 \r\nignored\n", exposed) == "true"
    assert run(tmp_path, b"ignored-first\nabc\n", b"abc\n") == "false"


def test_blank_line_is_the_empty_password(tmp_path: Path) -> None:
    assert run(tmp_path, b"   \n", b"a\n\nb\n") == "true"
    assert run(tmp_path, b"\n", b"a\nb\n") == "false"


def test_empty_password_input_refused(tmp_path: Path) -> None:
    with pytest.raises(FunctionError, match="password: the input is empty"):
        run(tmp_path, b"", b"a\n")


def test_invalid_utf8_names_the_input(tmp_path: Path) -> None:
    with pytest.raises(FunctionError, match="exposed_passwords: not valid UTF-8"):
        run(tmp_path, b"a\n", b"\xc3\x28\n")
