from __future__ import annotations

import pytest

from teaclave.functions._float_text import rust_debug_f64, rust_fixed, serde_f32, serde_f64


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.1, "0.1"),
        (2.0, "2.0"),
        (-0.0, "-0.0"),
        (4.85, "4.85"),
        (4.8500004, "4.8500004"),
        (-1.4722347e-05, "-0.000014722347"),
        (1.5e-6, "0.0000015"),
        (1e-7, "1e-7"),
        (1.25e-9, "1.25e-9"),
        (1e12, "1000000000000.0"),
        (1e13, "1e13"),
        (3.4028235e38, "3.4028235e38"),
        (float("nan"), "null"),
        (float("inf"), "null"),
    ],
)
def test_serde_f32_is_ryu(value: float, text: str) -> None:
    assert serde_f32(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.3, "0.3"),
        (1.0, "1.0"),
        (-0.7217673215572631, "-0.7217673215572631"),
        (1e-5, "0.00001"),
        (1e-6, "1e-6"),
        (1.5e-300, "1.5e-300"),
        (1e15, "1000000000000000.0"),
        (1e16, "1e16"),
        (123456.75, "123456.75"),
        (float("-inf"), "null"),
    ],
)
def test_serde_f64_is_ryu(value: float, text: str) -> None:
    assert serde_f64(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (-2.4154563605850874, "-2.4154563605850874"),
        (0.0001, "0.0001"),
        (0.00009, "9e-5"),
        (1e16, "1e16"),
        (1.5e16, "1.5e16"),
        (1e15, "1000000000000000.0"),
        (-0.0, "-0.0"),
        (float("nan"), "NaN"),
        (float("-inf"), "-inf"),
    ],
)
def test_rust_debug_f64(value: float, text: str) -> None:
    assert rust_debug_f64(value) == text


def test_rust_fixed() -> None:
    values = [0.75301, 1.0000264645, float("nan"), float("inf"), -0.00001]
    assert rust_fixed(values, 4) == ["0.7530", "1.0000", "NaN", "inf", "-0.0000"]
    assert rust_fixed([1.899999976158142], 10) == ["1.8999999762"]
