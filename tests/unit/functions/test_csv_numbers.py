from __future__ import annotations

import numpy as np
import pytest

from teaclave.functions import FunctionError
from teaclave.functions._csv_numbers import parse_numeric_csv, refuse_nan


def parse(raw: bytes, columns: int | None = 2) -> np.ndarray:
    return parse_numeric_csv(raw, "in", columns, np.float64)


def test_lines_and_whitespace() -> None:
    expected = [[1.0, 2.0], [3.0, 4.5]]
    for raw in (b"1,2\n3,4.5", b"1,2\n3,4.5\n", b" 1 ,2\r\n3,\t4.5\r\n", b"1,2e0\n+3,.45e1\n"):
        assert parse(raw).tolist() == expected
    assert parse(b"7\n8\n", None).tolist() == [[7.0], [8.0]]
    assert parse(b"1,2,3\n4,5,6\n", None).shape == (2, 3)


def test_float32_parsing() -> None:
    matrix = parse_numeric_csv(b"4.8,0.1\n", "in", 2, np.float32)
    assert matrix.dtype == np.float32
    assert matrix.tolist() == [[float(np.float32(4.8)), float(np.float32(0.1))]]


@pytest.mark.parametrize(
    ("raw", "columns", "message"),
    [
        (b"", 2, r"Empty input: in has no data lines"),
        (b"\n", 2, r"Empty line \(in line 1\)"),
        (b"1,2\n\n", 2, r"Empty line \(in line 2\)"),
        (b"1,2\n \x0b\n3,4\n", 2, r"Empty line \(in line 2\)"),
        (b"1,2\n3\n", 2, r"column len = 1, expected = 2 \(in line 2\)"),
        (b"1,2\n3,4,5\n", None, r"column len = 3, expected = 2 \(in line 2\)"),
        (b"1,2\n3,4\n", 3, r"column len = 2, expected = 3 \(in line 1\)"),
        (b"1,2\n3,1_0\n", 2, r"invalid float literal \(in line 2, column 2\)"),
        (b"1,0x10\n", 2, r"invalid float literal \(in line 1, column 2\)"),
        (b'1,"2"\n', 2, r"invalid float literal \(in line 1, column 2\)"),
        (b"#1,2\n", 2, r"invalid float literal \(in line 1, column 1\)"),
        (b"1,2\r3,4\n", 3, r"malformed line breaks|invalid float literal"),
    ],
)
def test_errors(raw: bytes, columns: int | None, message: str) -> None:
    with pytest.raises(FunctionError, match=message):
        parse(raw, columns)


def test_refuse_nan_names_the_line() -> None:
    refuse_nan(np.array([[1.0, np.inf]]), "in")
    with pytest.raises(FunctionError, match=r"NaN is not supported \(in line 3\)"):
        refuse_nan(np.array([[1.0], [2.0], [np.nan]]), "in")


def test_large_input() -> None:
    rows = np.arange(600_000, dtype=np.float64).reshape(200_000, 3) / 8
    raw = "\n".join(",".join(map(repr, row)) for row in rows.tolist()).encode()
    assert np.array_equal(parse(raw, 3), rows)
    broken = raw.replace(b"\n", b"\n\n", 1)
    with pytest.raises(FunctionError, match=r"Empty line \(in line 2\)"):
        parse(broken, 3)
