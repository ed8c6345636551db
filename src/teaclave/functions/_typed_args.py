"""Typed readers of a builtin's argument object (Teaclave deserializes it into a typed struct).

JSON numbers and booleans only: a string such as ``"4"`` (what a non-overwritable registered
default becomes, spec §2.9) does not deserialize as a number, exactly as in Teaclave. Every
refusal is ``FunctionError("Cannot deserialize arguments: <key>: <why>")``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from teaclave.functions import FunctionError

PREFIX = "Cannot deserialize arguments"


def _refuse(key: str, why: str) -> FunctionError:
    return FunctionError(f"{PREFIX}: {key}: {why}")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, float):
        return "a floating point number"
    if isinstance(value, int):
        return "an integer"
    return f"a {type(value).__name__}"


def _present(arguments: dict[str, Any], key: str) -> Any:
    if key not in arguments or arguments[key] is None:
        raise _refuse(key, "missing")
    return arguments[key]


def uint_argument(arguments: dict[str, Any], key: str, bits: int = 64) -> int:
    """``arguments[key]`` as an unsigned ``bits``-bit integer (``u8``, ``u32``, ``usize``)."""
    value = _present(arguments, key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _refuse(key, f"expected an unsigned integer, got {_kind(value)}")
    if value < 0 or value >= 1 << bits:
        raise _refuse(key, f"{value} is out of range for an unsigned {bits}-bit integer")
    return value


def float_argument(arguments: dict[str, Any], key: str) -> float:
    """``arguments[key]`` as an ``f64`` (JSON integers are accepted, as serde does)."""
    value = _present(arguments, key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _refuse(key, f"expected a number, got {_kind(value)}")
    result = float(value)
    if not math.isfinite(result):
        raise _refuse(key, "expected a finite number")
    return result


def f32_argument(arguments: dict[str, Any], key: str) -> np.float32:
    """``arguments[key]`` as an ``f32`` (the ``f64`` value rounded to single precision)."""
    value = float_argument(arguments, key)
    with np.errstate(over="ignore"):
        single = np.float32(value)
    if not np.isfinite(single):
        raise _refuse(key, f"{value} is out of range for a 32-bit float")
    return single


def bool_argument(arguments: dict[str, Any], key: str) -> bool:
    """``arguments[key]`` as a boolean (JSON ``true``/``false`` only)."""
    value = _present(arguments, key)
    if not isinstance(value, bool):
        raise _refuse(key, f"expected a boolean, got {_kind(value)}")
    return value


def str_argument(arguments: dict[str, Any], key: str) -> str:
    """``arguments[key]`` as a string."""
    value = _present(arguments, key)
    if not isinstance(value, str):
        raise _refuse(key, f"expected a string, got {_kind(value)}")
    return value


__all__ = ["bool_argument", "f32_argument", "float_argument", "str_argument", "uint_argument"]
