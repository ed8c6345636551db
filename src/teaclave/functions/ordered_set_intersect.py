"""``builtin-ordered-set-intersect``: private set intersection of two sorted hash lists.

Each input (``input_data1``, ``input_data2``) holds one hex string per line, sorted by the
``order`` argument (``ascending``, or Teaclave's misspelled ``desending``; ``descending`` is
accepted too). Output ``output_result<k>`` gets one character per line of input ``k``: ``1``
when that line is in the intersection, else ``0`` (no separators). Summary: "K common items".
"""

from __future__ import annotations

import binascii
import itertools
from typing import TYPE_CHECKING, Any

from teaclave.functions import FunctionError, register, string_argument

if TYPE_CHECKING:
    from teaclave.worker.runtime import Runtime

NAME = "builtin-ordered-set-intersect"
INPUTS = ("input_data1", "input_data2")
OUTPUTS = ("output_result1", "output_result2")
_ORDERS = {"ascending": False, "desending": True, "descending": True}


def _read_sorted(runtime: Runtime, name: str, descending: bool) -> list[bytes]:
    with runtime.open_input(name) as stream:
        lines = [line.strip() for line in stream.read().splitlines()]
    items = []
    for number, line in enumerate(lines, 1):
        if not line:
            continue
        try:
            items.append(binascii.unhexlify(line))
        except (binascii.Error, ValueError):
            raise FunctionError(f"{name} line {number}: not a hex string") from None
    pairs = itertools.pairwise(items)
    if any((b > a) if descending else (b < a) for a, b in pairs):
        raise FunctionError(f"Invalid ordering: {name} is not sorted")
    return items


@register(NAME)
def ordered_set_intersect(arguments: dict[str, Any], runtime: Runtime) -> str:
    """Mark the common items of the two inputs; return "K common items"."""
    order = string_argument(arguments, "order")
    if order not in _ORDERS:
        raise FunctionError(f"Invalid order: {order!r} (expected ascending or desending)")
    descending = _ORDERS[order]
    first = _read_sorted(runtime, INPUTS[0], descending)
    second = _read_sorted(runtime, INPUTS[1], descending)
    common = set(first).intersection(second)
    for items, output in ((first, OUTPUTS[0]), (second, OUTPUTS[1])):
        marks = "".join("1" if item in common else "0" for item in items)
        with runtime.create_output(output) as stream:
            stream.write(marks.encode())
    return f"{len(common)} common items"
