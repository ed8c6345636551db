r"""Header-less CSV of numbers → numpy matrix, with Teaclave's line rules and errors.

The Rust builtins read line by line (``\n``, optional ``\r``), trim each line, refuse an empty
one ("Empty line") and a wrong column count ("Data format error: column len = N, expected =
M"), and parse every field as a float. This module checks the line structure with vectorised
byte scans and converts with ``numpy.loadtxt`` (C parser), so large inputs never go through a
per-row Python loop. Errors name the input and the 1-based line but never echo its content
(the data is private).
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from teaclave.functions import FunctionError

if TYPE_CHECKING:
    from teaclave.worker.runtime import Runtime

_IS_WHITESPACE = np.zeros(256, dtype=np.bool_)
_IS_WHITESPACE[[9, 10, 11, 12, 13, 32]] = True  # what Rust's str::trim removes (ASCII)
_NEWLINE = 10
_COMMA = 44
_LOADTXT_ERROR = re.compile(r"at row (\d+), column (\d+)")


def read_input(runtime: Runtime, name: str) -> bytes:
    """All bytes of input ``name``."""
    with runtime.open_input(name) as stream:
        return stream.read()


def parse_numeric_csv(
    raw: bytes, name: str, columns: int | None, dtype: type[np.floating]
) -> npt.NDArray[np.floating]:
    """Parse ``raw`` into a ``rows x columns`` array of ``dtype``.

    ``columns=None`` takes the first line's column count and requires it on every line.
    Raises ``FunctionError`` for no data at all, an empty line, a wrong column count, or a
    field that is not a number.
    """
    buf = np.frombuffer(raw, dtype=np.uint8)
    newlines = np.flatnonzero(buf == _NEWLINE)
    starts = np.concatenate(([0], newlines + 1))
    if starts[-1] == len(buf):  # a final newline does not start another line
        starts = starts[:-1]
    if len(starts) == 0:
        raise FunctionError(f"Empty input: {name} has no data lines")
    ends = np.concatenate((starts[1:], [len(buf)]))
    content = ~_IS_WHITESPACE[buf]
    filled = np.logical_or.reduceat(content, starts) & (ends > starts)
    if not filled.all():
        line = int(np.argmin(filled)) + 1
        raise FunctionError(f"Empty line ({name} line {line})")
    commas = np.flatnonzero(buf == _COMMA)
    counts = np.searchsorted(commas, ends) - np.searchsorted(commas, starts) + 1
    expected = int(counts[0]) if columns is None else columns
    wrong = counts != expected
    if wrong.any():
        index = int(np.argmax(wrong))
        raise FunctionError(
            f"Data format error: column len = {int(counts[index])}, expected = {expected}"
            f" ({name} line {index + 1})"
        )
    try:
        matrix = np.loadtxt(
            io.BytesIO(raw),
            delimiter=",",
            dtype=dtype,
            comments=None,
            ndmin=2,
            encoding="latin-1",
        )
    except ValueError as error:
        match = _LOADTXT_ERROR.search(str(error))
        where = f"{name} line {int(match[1]) + 1}, column {match[2]}" if match else name
        raise FunctionError(f"invalid float literal ({where})") from None
    if matrix.shape != (len(starts), expected):
        raise FunctionError(f"Data format error: malformed line breaks in {name}")
    return matrix


def read_f64_csv(runtime: Runtime, name: str, columns: int | None) -> npt.NDArray[np.float64]:
    """Input ``name`` parsed as ``f64`` (Rust ``parse::<f64>``)."""
    matrix = parse_numeric_csv(read_input(runtime, name), name, columns, np.float64)
    return np.asarray(matrix, dtype=np.float64)


def read_f32_csv(runtime: Runtime, name: str, columns: int | None) -> npt.NDArray[np.float32]:
    """Input ``name`` parsed as ``f32`` (Rust ``parse::<f32>``)."""
    matrix = parse_numeric_csv(read_input(runtime, name), name, columns, np.float32)
    return np.asarray(matrix, dtype=np.float32)


def refuse_nan(matrix: npt.NDArray[np.floating], name: str) -> None:
    """``FunctionError`` naming the first line holding a NaN (the trainers cannot order it)."""
    rows = np.isnan(matrix).any(axis=1)
    if rows.any():
        raise FunctionError(f"NaN is not supported ({name} line {int(np.argmax(rows)) + 1})")


__all__ = ["parse_numeric_csv", "read_f32_csv", "read_f64_csv", "read_input", "refuse_nan"]
