"""``builtin-ordered-set-join``: merge-join two header-less CSV inputs on one column each.

Arguments: ``left_column`` and ``right_column`` (unsigned integers, 0-based), ``ascending``
and ``drop`` (booleans). Inputs ``input_data1`` and ``input_data2`` are UTF-8 CSV (``,``,
``"`` quoting; a leading BOM and blank lines are ignored; all records of one input have the
same number of fields), sorted on the join column in the ``ascending`` order. Output
``output_result``: for every match, the left record (without its join column when ``drop``)
followed by the right record without its join column, written as CSV with LF line ends and
quoting only where needed (Rust ``csv`` crate conventions). Summary: "N records".

Matching reproduces Teaclave's merge walk exactly: keys compare as strings (code-point order);
on a match both sides advance, so the k-th duplicate of a key on the left pairs with the k-th
duplicate on the right; the walk stops when either input ends. Sorted inputs are joined with
numpy (a key's k-th left occurrence meets its k-th right occurrence); unsorted inputs, which
Teaclave accepts silently, take the literal walk so the result is still Teaclave's. Unlike
Teaclave, every line of both inputs is parsed and validated, even past the point where the walk
stops.
"""

from __future__ import annotations

import csv
import io
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from numpy.dtypes import StringDType

from teaclave.functions import FunctionError, function_logger, register
from teaclave.functions._typed_args import bool_argument, uint_argument

if TYPE_CHECKING:
    from teaclave.worker.runtime import Runtime

NAME = "builtin-ordered-set-join"
INPUTS = ("input_data1", "input_data2")
OUTPUT = "output_result"

Record = list[str]
IntArray = npt.NDArray[np.int64]

log = function_logger("ordered_set_join")


def read_records(data: bytes, name: str) -> tuple[list[Record], bool]:
    """Parse CSV ``data`` of input ``name``: blank lines skipped, equal field counts required.

    Also tells whether the text has any ``"``: without one, no field can hold a delimiter, a
    quote or a line break, so no output field taken from it needs quoting.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise FunctionError(f"{name}: not valid UTF-8 (byte {error.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    try:
        records: list[Record] = list(filter(None, reader))  # blank lines parse as []
    except csv.Error as error:
        raise FunctionError(f"{name} line {reader.line_num}: {error}") from None
    if records and len(set(map(len, records))) > 1:
        _refuse_ragged(text, name)
    return records, '"' in text


def _refuse_ragged(text: str, name: str) -> None:
    """Raise the error naming the first record whose field count differs from the first's."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    width = -1
    for record in filter(None, reader):
        if width < 0:
            width = len(record)
        elif len(record) != width:
            raise FunctionError(
                f"{name} line {reader.line_num}: found record with {len(record)} fields, "
                f"but the previous record has {width} fields"
            )


def merge_walk(left: list[str], right: list[str], ascending: bool) -> list[tuple[int, int]]:
    """Teaclave's merge walk over two key lists: the matched index pairs, in output order."""
    pairs: list[tuple[int, int]] = []
    i = j = 0
    while i < len(left) and j < len(right):
        a, b = left[i], right[j]
        if a == b:
            pairs.append((i, j))
            i += 1
            j += 1
        elif (a < b) == ascending:
            i += 1
        else:
            j += 1
    return pairs


def _occurrences(codes: IntArray) -> IntArray:
    """For a sorted array, each element's index within its run of equal values."""
    index = np.arange(codes.size, dtype=np.int64)
    starts = np.ones(codes.size, dtype=bool)
    starts[1:] = codes[1:] != codes[:-1]
    return index - np.maximum.accumulate(np.where(starts, index, 0))


def sorted_join(
    left: list[str], right: list[str], ascending: bool
) -> tuple[IntArray, IntArray] | None:
    """The merge walk's pairs via numpy when both key lists are sorted; else ``None``."""
    keys = np.array(left + right, dtype=StringDType())
    _, inverse = np.unique(keys, return_inverse=True)
    codes = inverse.astype(np.int64).ravel()
    if not ascending:
        codes = -codes
    left_codes, right_codes = codes[: len(left)], codes[len(left) :]
    if np.any(np.diff(left_codes) < 0) or np.any(np.diff(right_codes) < 0):
        return None
    span = max(len(left), len(right))
    left_keys = (left_codes - codes.min()) * span + _occurrences(left_codes)
    right_keys = (right_codes - codes.min()) * span + _occurrences(right_codes)
    _, left_index, right_index = np.intersect1d(
        left_keys, right_keys, assume_unique=True, return_indices=True
    )
    return left_index.astype(np.int64), right_index.astype(np.int64)


def _csv_field(field: str) -> str:
    """Quote ``field`` when the CSV writer must (delimiter, quote, CR or LF inside)."""
    if any(c in field for c in ',"\r\n'):
        return '"' + field.replace('"', '""') + '"'
    return field


def _csv_line(fields: list[str]) -> str:
    """One CSV record plus LF; a record that would be empty is written as ``""``."""
    line = ",".join(_csv_field(field) for field in fields)
    return (line or '""') + "\n"


def _plain_line(fields: list[str]) -> str:
    """``_csv_line`` for fields known to need no quoting (at least two of them)."""
    return ",".join(fields) + "\n"


def _without(record: Record, column: int) -> Record:
    return record[:column] + record[column + 1 :]


@register(NAME)
def ordered_set_join(arguments: dict[str, Any], runtime: Runtime) -> str:
    """Join the two inputs on the selected columns; return "N records"."""
    left_column = uint_argument(arguments, "left_column")
    right_column = uint_argument(arguments, "right_column")
    ascending = bool_argument(arguments, "ascending")
    drop = bool_argument(arguments, "drop")
    tables: list[list[Record]] = []
    quoted = False
    for number, (name, column) in enumerate(
        zip(INPUTS, (left_column, right_column), strict=True), 1
    ):
        with runtime.open_input(name) as stream:
            records, has_quotes = read_records(stream.read(), name)
        quoted = quoted or has_quotes
        if not records:
            raise FunctionError(f"input{number} is empty ({name})")
        if column >= len(records[0]):
            raise FunctionError(
                f"invalid index: column {column} of {name} "
                f"(its records have {len(records[0])} fields)"
            )
        tables.append(records)
    left_records, right_records = tables
    left_keys = list(map(itemgetter(left_column), left_records))
    right_keys = list(map(itemgetter(right_column), right_records))
    matched = sorted_join(left_keys, right_keys, ascending)
    if matched is None:
        log.warning("inputs are not sorted on the join columns; using the sequential walk")
        pairs = merge_walk(left_keys, right_keys, ascending)
        left_index = [i for i, _ in pairs]
        right_index = [j for _, j in pairs]
    else:
        left_index, right_index = matched[0].tolist(), matched[1].tolist()
    width = len(left_records[0]) - drop + len(right_records[0]) - 1
    # Fast path: nothing to quote, and a line can't be empty or a lone empty field.
    line = _plain_line if not quoted and width >= 2 else _csv_line
    lines = [
        line(
            (_without(left_records[i], left_column) if drop else left_records[i])
            + _without(right_records[j], right_column)
        )
        for i, j in zip(left_index, right_index, strict=True)
    ]
    with runtime.create_output(OUTPUT) as stream:
        stream.write("".join(lines).encode("utf-8"))
    return f"{len(lines)} records"
