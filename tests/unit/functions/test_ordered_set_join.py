from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from teaclave.functions import FunctionError, load_builtin_functions
from teaclave.functions.ordered_set_join import merge_walk, sorted_join
from teaclave.worker.runtime import RawIoRuntime

FIXTURES = Path(__file__).resolve().parents[3] / "../shared/fixtures/teaclave/functions"
ARGS = {"left_column": 0, "right_column": 0, "ascending": True, "drop": True}


def run(tmp_path: Path, left: bytes, right: bytes, **changes: Any) -> tuple[str, str]:
    (tmp_path / "l.csv").write_bytes(left)
    (tmp_path / "r.csv").write_bytes(right)
    return run_files(tmp_path, tmp_path / "l.csv", tmp_path / "r.csv", {**ARGS, **changes})


def run_files(
    tmp_path: Path, left: Path, right: Path, arguments: dict[str, Any]
) -> tuple[str, str]:
    out = tmp_path / "out.csv"
    runtime = RawIoRuntime({"input_data1": left, "input_data2": right}, {"output_result": out})
    summary = load_builtin_functions()["builtin-ordered-set-join"](arguments, runtime)
    return summary, out.read_text()


@pytest.mark.skipif(
    not (FIXTURES / "ordered_set_join").exists(), reason="Teaclave fixtures not found"
)
def test_teaclave_oracle(tmp_path: Path) -> None:
    join = FIXTURES / "ordered_set_join"
    summary, output = run_files(tmp_path, join / "join0.csv", join / "join1.csv", ARGS)
    assert summary == "120 records"
    assert output.strip() == (FIXTURES / "gbdt_training/train.txt").read_text().strip()


def test_duplicates_pair_in_order_and_both_sides_advance(tmp_path: Path) -> None:
    left = b"a,l1\na,l2\nb,l3\nc,l4\n"
    right = b"a,r1\na,r2\na,r3\nb,r4\nd,r5\n"
    assert run(tmp_path, left, right) == ("3 records", "l1,r1\nl2,r2\nl3,r4\n")
    assert run(tmp_path, left, right, drop=False) == (
        "3 records",
        "a,l1,r1\na,l2,r2\nb,l3,r4\n",
    )


def test_descending_and_other_columns(tmp_path: Path) -> None:
    left = b"x,9\ny,5\nz,1\n"
    right = b"5,p,q\n3,r,s\n1,t,u\n"
    assert run(tmp_path, left, right, left_column=1, ascending=False) == (
        "2 records",
        "y,p,q\nz,t,u\n",
    )


def test_keys_compare_as_strings(tmp_path: Path) -> None:
    # "10" < "9" as strings: sorted for Teaclave's string comparison.
    left = b"10,a\n9,b\n"
    right = b"10,c\n9,d\n"
    assert run(tmp_path, left, right) == ("2 records", "a,c\nb,d\n")


def test_unsorted_input_follows_teaclaves_walk(tmp_path: Path) -> None:
    # Not sorted: the walk skips "a" on the right, then matches "b" and stops.
    assert run(tmp_path, b"b,1\na,2\n", b"a,3\nb,4\n") == ("1 records", "1,4\n")


def test_vectorised_join_equals_the_walk() -> None:
    rng = random.Random(4)
    for _ in range(300):
        alphabet = [rng.choice(["a", "b", "ab", "é", "a\x00", "10", "9"]) for _ in range(4)]
        left = [rng.choice(alphabet) for _ in range(rng.randint(0, 12))]
        right = [rng.choice(alphabet) for _ in range(rng.randint(0, 12))]
        for ascending in (True, False):
            left.sort(reverse=not ascending)
            right.sort(reverse=not ascending)
            matched = sorted_join(left, right, ascending) if left and right else None
            expected = merge_walk(left, right, ascending)
            if left and right:
                assert matched is not None
                got = list(zip(matched[0].tolist(), matched[1].tolist(), strict=True))
                assert got == expected, (left, right, ascending)
    assert sorted_join(["b", "a"], ["a"], True) is None
    assert sorted_join(["a", "b"], ["a"], False) is None


def test_csv_quoting_blank_lines_crlf_and_bom(tmp_path: Path) -> None:
    left = '\ufeff1,"x, y"\r\n\r\n2,"say ""hi"""\r\n3,\n'.encode()
    right = b'1,"multi\nline"\n2,z\n3,\n'
    summary, output = run(tmp_path, left, right)
    assert summary == "3 records"
    assert output == '"x, y","multi\nline"\n"say ""hi""",z\n,\n'


def test_single_column_inputs_write_quoted_empty_records(tmp_path: Path) -> None:
    assert run(tmp_path, b"a\nb\n", b"b\n") == ("1 records", '""\n')


def test_empty_inputs_refused(tmp_path: Path) -> None:
    with pytest.raises(FunctionError, match=r"input1 is empty \(input_data1\)"):
        run(tmp_path, b"\n\n", b"a,1\n")
    with pytest.raises(FunctionError, match=r"input2 is empty \(input_data2\)"):
        run(tmp_path, b"a,1\n", b"")


def test_bad_records_named_by_input_and_line(tmp_path: Path) -> None:
    with pytest.raises(FunctionError, match="input_data2 line 3: found record with 1 fields"):
        run(tmp_path, b"a,1\n", b"a,1\nb,2\nc\n")
    with pytest.raises(FunctionError, match="input_data1: not valid UTF-8"):
        run(tmp_path, b"\xff,1\n", b"a,1\n")
    with pytest.raises(FunctionError, match="invalid index: column 2 of input_data2"):
        run(tmp_path, b"a,1\n", b"a,1\n", right_column=2)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("left_column", "0"),
        ("left_column", -1),
        ("right_column", 1.0),
        ("right_column", True),
        ("ascending", "true"),
        ("drop", 1),
        ("drop", None),
    ],
)
def test_argument_types(tmp_path: Path, key: str, value: object) -> None:
    with pytest.raises(FunctionError, match=f"Cannot deserialize arguments: {key}"):
        run(tmp_path, b"a,1\n", b"a,1\n", **{key: value})


def test_large_sorted_inputs(tmp_path: Path) -> None:
    left = "".join(f"{i:08d},{i}\n" for i in range(0, 60000, 2)).encode()
    right = "".join(f"{i:08d},r\n" for i in range(0, 60000, 3)).encode()
    summary, output = run(tmp_path, left, right)
    assert summary == "10000 records"
    assert output.splitlines()[:2] == ["0,r", "6,r"]
