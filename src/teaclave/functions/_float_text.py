"""Float text exactly as the Rust builtins print it.

* ``serde_f32`` / ``serde_f64``: serde_json's number text (the ``ryu`` crate's layout of the
  shortest round-trip digits: ``0.1``, ``2.0``, ``0.000014722347``, ``1e-7``, ``1.5e16``;
  non-finite values serialize as ``null``).
* ``rust_debug_f64``: Rust's ``{:?}`` for ``f64`` (shortest digits; exponent form below ``1e-4``
  and from ``1e16`` on, written ``1e-5`` / ``1.5e16``; ``NaN``, ``inf``).
* ``rust_fixed``: Rust's ``{:.N}`` (the exact binary value rounded to ``N`` decimals).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

# ryu switches to exponent form outside these decimal-exponent windows: (max kk, min kk excl.)
_F32_WINDOW = (13, -6)
_F64_WINDOW = (16, -5)


def _ryu(value: float, digits_text: str, window: tuple[int, int]) -> str:
    """Lay out ``value`` whose shortest scientific text is ``digits_text`` the way ryu does."""
    if not math.isfinite(value):
        return "null"
    if value == 0.0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    mantissa, _, exponent_text = digits_text.partition("e")
    negative = mantissa.startswith("-")
    digits = mantissa.lstrip("-").replace(".", "")
    length = len(digits)
    k = int(exponent_text) - (length - 1)  # value = digits * 10**k
    kk = length + k
    max_kk, min_kk = window
    sign = "-" if negative else ""
    if k >= 0 and kk <= max_kk:
        return f"{sign}{digits}{'0' * k}.0"
    if 0 < kk <= max_kk:
        return f"{sign}{digits[:kk]}.{digits[kk:]}"
    if min_kk < kk <= 0:
        return f"{sign}0.{'0' * -kk}{digits}"
    if length == 1:
        return f"{sign}{digits}e{kk - 1}"
    return f"{sign}{digits[0]}.{digits[1:]}e{kk - 1}"


def serde_f32(value: float | np.floating) -> str:
    """serde_json's text of ``value`` rounded to ``f32`` (``4.8500004``, ``-0.000014722347``)."""
    single = np.float32(value)
    if not np.isfinite(single):
        return "null"
    text = np.format_float_scientific(single, unique=True, trim="-")
    return _ryu(float(single), text, _F32_WINDOW)


def serde_f64(value: float) -> str:
    """serde_json's text of the ``f64`` ``value`` (``0.3``, ``1.0``, ``0.00001``, ``1e-6``)."""
    double = np.float64(value)
    if not np.isfinite(double):
        return "null"
    text = np.format_float_scientific(double, unique=True, trim="-")
    return _ryu(float(double), text, _F64_WINDOW)


def rust_debug_f64(value: float) -> str:
    """Rust's ``format!("{:?}", value)`` for an ``f64``."""
    if math.isnan(value):
        return "NaN"
    text = repr(float(value))
    if "e" in text:
        mantissa, _, exponent = text.partition("e")
        return f"{mantissa}e{int(exponent)}"
    return text


def rust_fixed(values: Iterable[float], decimals: int) -> list[str]:
    """Rust's ``format!("{:.N}", v)`` of each value (``NaN`` and ``inf`` spelled as in Rust)."""
    spec = f".{decimals}f"
    return ["NaN" if value != value else format(value, spec) for value in values]


__all__ = ["rust_debug_f64", "rust_fixed", "serde_f32", "serde_f64"]
