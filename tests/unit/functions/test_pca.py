from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from function_helpers import FIXTURES, skip_without

from teaclave.functions import FunctionError, load_builtin_functions
from teaclave.worker.runtime import RawIoRuntime

PCA = FIXTURES / "princopal_components_analysis"
needs_fixtures = skip_without(PCA)
ARGS: dict[str, Any] = {"n": 2, "center": True, "feature_size": 4}
# Rust `{:?}` of an f64: shortest digits, exponent form like 1e-5 / 1.5e16 (no "+", no padding)
RUST_DEBUG_F64 = re.compile(r"-?(\d+\.\d+|\d(\.\d+)?e-?[1-9]\d*|NaN|inf)")


def run(tmp_path: Path, data: Path, **overrides: Any) -> tuple[str, str]:
    runtime = RawIoRuntime({"input_data": data}, {"output_data": tmp_path / "result"})
    summary = load_builtin_functions()["builtin_principal_components_analysis"](
        {**ARGS, **overrides}, runtime
    )
    return summary, (tmp_path / "result").read_text()


def write(path: Path, rows: np.ndarray) -> Path:
    path.write_text("\n".join(",".join(map(repr, row)) for row in rows.tolist()) + "\n")
    return path


def parse(text: str) -> np.ndarray:
    rows = [line.split(",") for line in text.splitlines()]
    for row in rows:
        for field in row:
            assert RUST_DEBUG_F64.fullmatch(field), field
    return np.array(rows, dtype=np.float64)


def align_signs(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """Flip each of our components to the oracle's sign (PCA components have no sign)."""
    signs = np.sign((ours * theirs).sum(axis=0))
    return ours * np.where(signs == 0, 1, signs)


@needs_fixtures
def test_teaclave_oracle(tmp_path: Path) -> None:
    summary, text = run(tmp_path, PCA / "input.txt")
    assert summary == "transform 90 rows * 2 cols lines of data."
    expected_text = (PCA / "expected_result.txt").read_text()
    ours, theirs = parse(text), parse(expected_text)
    assert ours.shape == theirs.shape == (90, 2)
    assert np.allclose(align_signs(ours, theirs), theirs, rtol=1e-9, atol=1e-12)
    assert text.endswith("\n") and text.count("\n") == expected_text.count("\n")


def test_matches_an_eigen_decomposition(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    data = rng.normal(size=(50, 3)) @ np.array([[3.0, 0, 0], [1, 1, 0], [0, 0.2, 0.1]])
    labels = rng.integers(0, 2, size=(50, 1))
    for center in (True, False):
        summary, text = run(tmp_path, write(tmp_path / "d", np.c_[data, labels]), n=3,
                            feature_size=3, center=center)  # fmt: skip
        assert summary == "transform 50 rows * 3 cols lines of data."
        basis = data - data.mean(axis=0) if center else data
        values, vectors = np.linalg.eigh(basis.T @ basis)
        expected = basis @ vectors[:, np.argsort(values)[::-1]]
        assert np.allclose(align_signs(parse(text), expected), expected, atol=1e-9)


def test_zero_components_and_exponent_text(tmp_path: Path) -> None:
    rows = np.array([[1e-9, 0.0, 7.0], [-1e-9, 0.0, 7.0], [3e-9, 0.0, 7.0]])
    summary, text = run(tmp_path, write(tmp_path / "d", rows), n=0, feature_size=2)
    assert (summary, text) == ("transform 3 rows * 0 cols lines of data.", "\n\n\n")
    _, text = run(tmp_path, write(tmp_path / "d", rows), n=1, feature_size=2, center=False)
    assert "e-9" in text and "e-09" not in text


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"n": 5}, "Input data must have equal or larger number of columns than n"),
        ({"n": "2"}, "Cannot deserialize arguments: n: expected an unsigned integer"),
        ({"center": "true"}, "Cannot deserialize arguments: center: expected a boolean"),
        ({"center": 1}, "center: expected a boolean, got an integer"),
        ({"feature_size": 3}, r"column len = 5, expected = 4 \(input_data line 1\)"),
    ],
)
def test_errors(tmp_path: Path, overrides: dict[str, Any], message: str) -> None:
    data = write(tmp_path / "d", np.array([[1.0, 2.0, 3.0, 4.0, 0.0], [2.0, 1.0, 0.0, 1.0, 1.0]]))
    with pytest.raises(FunctionError, match=message):
        run(tmp_path, data, **overrides)


def test_non_finite_values_are_refused(tmp_path: Path) -> None:
    (tmp_path / "d").write_text("1,2,inf,4,0\n1,2,3,4,0\n")
    with pytest.raises(FunctionError, match="finite"):
        run(tmp_path, tmp_path / "d")


def test_large_input_is_vectorised(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    data = rng.normal(size=(200_000, 4)) * [5.0, 2.0, 1.0, 0.5]
    summary, text = run(tmp_path, write(tmp_path / "d", np.c_[data, np.zeros(200_000)]))
    assert summary == "transform 200000 rows * 2 cols lines of data."
    centered = data - data.mean(axis=0)
    values, vectors = np.linalg.eigh(centered.T @ centered)
    expected = centered @ vectors[:, np.argsort(values)[::-1][:2]]
    ours = np.array([line.split(",") for line in text.splitlines()], dtype=np.float64)
    assert np.allclose(align_signs(ours, expected), expected, atol=1e-8)
