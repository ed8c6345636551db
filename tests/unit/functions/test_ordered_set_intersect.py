from __future__ import annotations

from pathlib import Path

import pytest

from teaclave.functions import FunctionError, load_builtin_functions
from teaclave.worker.runtime import RawIoRuntime

FIXTURES = Path(__file__).resolve().parents[3] / "../shared/fixtures/teaclave/functions"
PSI = FIXTURES / "ordered_set_intersect"


def run(
    tmp_path: Path, first: Path, second: Path, order: str = "ascending"
) -> tuple[str, str, str]:
    runtime = RawIoRuntime(
        {"input_data1": first, "input_data2": second},
        {"output_result1": tmp_path / "out1", "output_result2": tmp_path / "out2"},
    )
    summary = load_builtin_functions()["builtin-ordered-set-intersect"]({"order": order}, runtime)
    return summary, (tmp_path / "out1").read_text(), (tmp_path / "out2").read_text()


@pytest.mark.skipif(not PSI.exists(), reason="Teaclave fixtures not found at ../shared/fixtures")
def test_teaclave_oracle(tmp_path: Path) -> None:
    assert run(tmp_path, PSI / "psi0.txt", PSI / "psi1.txt") == (
        "3 common items",
        "0101010",
        "01101",
    )


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_descending_and_misspelling(tmp_path: Path) -> None:
    a = write(tmp_path / "a", ["ff", "0a", "01"])
    b = write(tmp_path / "b", ["0a", "02"])
    for order in ("desending", "descending"):
        assert run(tmp_path, a, b, order) == ("1 common items", "010", "10")


def test_unsorted_input_refused(tmp_path: Path) -> None:
    a = write(tmp_path / "a", ["02", "01"])
    b = write(tmp_path / "b", ["01"])
    with pytest.raises(FunctionError, match="Invalid ordering"):
        run(tmp_path, a, b)


def test_bad_order_and_bad_hex(tmp_path: Path) -> None:
    a = write(tmp_path / "a", ["zz"])
    with pytest.raises(FunctionError, match="Invalid order"):
        run(tmp_path, a, a, "sideways")
    with pytest.raises(FunctionError, match="not a hex string"):
        run(tmp_path, a, a)


def test_empty_inputs(tmp_path: Path) -> None:
    empty = write(tmp_path / "e", [])
    assert run(tmp_path, empty, empty) == ("0 common items", "", "")
