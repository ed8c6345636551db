from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from teaclave.functions import FunctionError
from teaclave.functions._typed_args import (
    bool_argument,
    f32_argument,
    float_argument,
    str_argument,
    uint_argument,
)


def test_accepted_values() -> None:
    args = {"u": 4, "f": 0.5, "i": 2, "b": False, "s": "LAD", "small": 255}
    assert uint_argument(args, "u") == 4
    assert uint_argument(args, "small", bits=8) == 255
    assert float_argument(args, "f") == 0.5
    assert float_argument(args, "i") == 2.0
    assert f32_argument(args, "f") == np.float32(0.5)
    assert bool_argument(args, "b") is False
    assert str_argument(args, "s") == "LAD"


@pytest.mark.parametrize(
    ("reader", "value", "message"),
    [
        (uint_argument, "4", "k: expected an unsigned integer, got a string"),
        (uint_argument, 4.0, "k: expected an unsigned integer, got a floating point number"),
        (uint_argument, True, "k: expected an unsigned integer, got a boolean"),
        (uint_argument, -1, "k: -1 is out of range"),
        (uint_argument, 2**64, "out of range for an unsigned 64-bit integer"),
        (float_argument, "0.1", "k: expected a number, got a string"),
        (float_argument, False, "k: expected a number, got a boolean"),
        (float_argument, float("nan"), "k: expected a finite number"),
        (f32_argument, 1e39, "out of range for a 32-bit float"),
        (bool_argument, "true", "k: expected a boolean, got a string"),
        (bool_argument, 0, "k: expected a boolean, got an integer"),
        (str_argument, 3, "k: expected a string, got an integer"),
        (str_argument, None, "k: missing"),
    ],
)
def test_refusals(reader: Callable[[dict[str, Any], str], Any], value: Any, message: str) -> None:
    with pytest.raises(FunctionError, match=f"^Cannot deserialize arguments: .*{message}"):
        reader({"k": value}, "k")


def test_missing_key_and_bit_widths() -> None:
    with pytest.raises(FunctionError, match="Cannot deserialize arguments: k: missing"):
        uint_argument({}, "k")
    with pytest.raises(FunctionError, match="256 is out of range for an unsigned 8-bit integer"):
        uint_argument({"k": 256}, "k", bits=8)
