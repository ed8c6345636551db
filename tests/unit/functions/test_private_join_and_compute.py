from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from teaclave.functions import FunctionError, load_builtin_functions
from teaclave.worker.runtime import RawIoRuntime

FIXTURES = Path(__file__).resolve().parents[3] / "../shared/fixtures/teaclave/functions"
BANKS = FIXTURES / "private_join_and_compute/three_party_data"


def run_files(
    tmp_path: Path, inputs: list[Path], arguments: dict[str, Any] | None = None
) -> tuple[str, list[str]]:
    count = len(inputs)
    outputs = [tmp_path / f"out{i}" for i in range(count)]
    runtime = RawIoRuntime(
        {f"input_data{i}": path for i, path in enumerate(inputs)},
        {f"output_data{i}": path for i, path in enumerate(outputs)},
    )
    function = load_builtin_functions()["builtin-private-join-and-compute"]
    summary = function(arguments or {"num_user": count}, runtime)
    return summary, [path.read_text() for path in outputs]


def run(tmp_path: Path, *contents: bytes, **arguments: Any) -> tuple[str, list[str]]:
    paths = []
    for index, content in enumerate(contents):
        path = tmp_path / f"in{index}"
        path.write_bytes(content)
        paths.append(path)
    return run_files(tmp_path, paths, arguments or None)


@pytest.mark.skipif(not BANKS.exists(), reason="Teaclave fixtures not found")
def test_teaclave_oracle(tmp_path: Path) -> None:
    summary, outputs = run_files(tmp_path, [BANKS / f"bank_{c}.txt" for c in "abc"])
    assert summary == "3 users join the task in total."
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0].endswith("\n")
    assert set(outputs[0].splitlines()) == {"c, 470000", "e, 5033000"}


def test_malformed_lines_are_skipped(tmp_path: Path) -> None:
    first = (
        b"ab\n"  # too short
        b"x:1:2\n"  # three parts
        b"y : -5\n"  # not a u32
        b"z : 4294967296\n"  # above u32
        b"big : 4294967295\n"
        b"w : +7\n"
        b"  v :  08  \r\n"
        b"u : 1\n"
        b"u : 2\n"  # last one of an identity wins
        b"t : ten\n"
    )
    second = b"y : 1\nz : 1\nx : 1\nbig : 4294967295\nw : 1\nv : 2\nu : 3\n"
    summary, outputs = run(tmp_path, first, second)
    assert summary == "2 users join the task in total."
    assert outputs[0] == outputs[1]
    assert outputs[0] == "big, 8589934590\nw, 8\nv, 10\nu, 5\n"


def test_identities_missing_from_one_party_are_not_written(tmp_path: Path) -> None:
    summary, outputs = run(tmp_path, b"a : 1\nb : 2\n", b"b : 3\nc : 4\n", b"b : 5\na : 6\n")
    assert summary == "3 users join the task in total."
    assert outputs == ["b, 10\n"] * 3


def test_no_common_identity_writes_empty_outputs(tmp_path: Path) -> None:
    assert run(tmp_path, b"a : 1\n", b"b : 2\n") == ("2 users join the task in total.", ["", ""])


@pytest.mark.parametrize("value", [0, 1])
def test_needs_two_parties(tmp_path: Path, value: int) -> None:
    with pytest.raises(FunctionError, match="The demo requires at least two parties!"):
        run(tmp_path, b"a : 1\n", num_user=value)


@pytest.mark.parametrize("value", ["3", -2, 2.0, True, None])
def test_num_user_type(tmp_path: Path, value: object) -> None:
    with pytest.raises(FunctionError, match="Cannot deserialize arguments: num_user"):
        run(tmp_path, b"a : 1\n", b"a : 1\n", num_user=value)


def test_invalid_utf8_names_the_input(tmp_path: Path) -> None:
    with pytest.raises(FunctionError, match="input_data1: not valid UTF-8"):
        run(tmp_path, b"a : 1\n", b"\xff : 1\n")
