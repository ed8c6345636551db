from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from function_helpers import FIXTURES, skip_without

from teaclave.executors import ExecutionContext, execution_context
from teaclave.functions import FunctionError, load_builtin_functions
from teaclave.worker.runtime import RawIoRuntime

TRAINING = FIXTURES / "logistic_regression_training"
needs_fixtures = skip_without(TRAINING)
ARGS: dict[str, Any] = {"alg_alpha": 0.3, "alg_iters": 100, "feature_size": 30}


def train(tmp_path: Path, data: Path, **overrides: Any) -> tuple[str, str]:
    runtime = RawIoRuntime({"training_data": data}, {"model_file": tmp_path / "model"})
    summary = load_builtin_functions()["builtin-logistic-regression-train"](
        {**ARGS, **overrides}, runtime
    )
    return summary, (tmp_path / "model").read_text()


def write(path: Path, rows: np.ndarray) -> Path:
    path.write_text("\n".join(",".join(map(repr, row)) for row in rows.tolist()) + "\n")
    return path


@needs_fixtures
def test_teaclave_oracle(tmp_path: Path) -> None:
    summary, text = train(tmp_path, TRAINING / "train.txt")
    assert summary == "Trained 100 lines of data."
    model = json.loads(text)
    expected = json.loads((TRAINING / "expected_model.txt").read_text())
    assert list(model) == ["alpha", "iters", "parameters"]
    assert (model["alpha"], model["iters"]) == (0.3, 100)
    assert text.startswith('{"alpha":0.3,"iters":100,"parameters":[-0.72176732155726')
    ours, theirs = np.array(model["parameters"]), np.array(expected["parameters"])
    assert ours.shape == (31,)
    assert np.allclose(ours, theirs, rtol=1e-12, atol=0)


def reference_descent(x: np.ndarray, y: np.ndarray, alpha: float, iters: int) -> list[float]:
    """rusty-machine's loop, one sample and one parameter at a time."""
    rows = [[1.0, *row] for row in x.tolist()]
    params = [0.5] * len(rows[0])
    previous = 0.0
    for _ in range(iters):
        outputs = [
            1 / (1 + math.exp(-sum(a * b for a, b in zip(r, params, strict=True)))) for r in rows
        ]
        cost = -sum(
            t * math.log(o) + (1 - t) * math.log(1 - o) for t, o in zip(y, outputs, strict=True)
        ) / len(rows)
        if abs(previous - cost) < 1e-20:
            break
        grad = [
            sum(r[j] * (o - t) for r, o, t in zip(rows, outputs, y, strict=True)) / len(rows)
            for j in range(len(params))
        ]
        params = [p - g * alpha for p, g in zip(params, grad, strict=True)]
        previous = cost
    return params


def test_matches_the_literal_reference(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(60, 3))
    y = (x @ [1.0, -2.0, 0.5] + rng.normal(size=60) > 0).astype(float)
    _, text = train(tmp_path, write(tmp_path / "d", np.c_[x, y]), feature_size=3, alg_iters=40,
                    alg_alpha=0.7)  # fmt: skip
    ours = json.loads(text)["parameters"]
    assert np.allclose(ours, reference_descent(x, y, 0.7, 40), rtol=1e-12, atol=1e-15)


def test_zero_iterations_keep_the_start(tmp_path: Path) -> None:
    data = write(tmp_path / "d", np.array([[1.0, 0.0], [2.0, 1.0]]))
    summary, text = train(tmp_path, data, feature_size=1, alg_iters=0, alg_alpha=1)
    assert summary == "Trained 2 lines of data."
    assert text == '{"alpha":1.0,"iters":0,"parameters":[0.5,0.5]}'


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"alg_alpha": "0.3"}, "Cannot deserialize arguments: alg_alpha: expected a number"),
        ({"alg_alpha": 0}, "Invalid alg_alpha"),
        ({"alg_alpha": -0.1}, "Invalid alg_alpha"),
        ({"alg_iters": "100"}, "Cannot deserialize arguments: alg_iters"),
        ({"alg_iters": 1.5}, "alg_iters: expected an unsigned integer, got a floating point"),
        ({"feature_size": None}, "feature_size: missing"),
        ({"feature_size": 2}, r"column len = 4, expected = 3 \(training_data line 1\)"),
    ],
)
def test_errors(tmp_path: Path, overrides: dict[str, Any], message: str) -> None:
    data = write(tmp_path / "d", np.array([[1.0, 2.0, 3.0, 1.0]]))
    with pytest.raises(FunctionError, match=message):
        train(tmp_path, data, **{"feature_size": 3, **overrides})
    assert not (tmp_path / "model").exists()


def test_empty_input(tmp_path: Path) -> None:
    (tmp_path / "d").write_text("")
    with pytest.raises(FunctionError, match="Empty input: training_data"):
        train(tmp_path, tmp_path / "d")


def test_large_input_is_vectorised(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    x = rng.normal(size=(200_000, 4)).round(4)
    y = (x @ [2.0, -1.0, 0.5, 0.0] > 0.3).astype(float)
    summary, text = train(
        tmp_path, write(tmp_path / "d", np.c_[x, y]), feature_size=4, alg_iters=20, alg_alpha=1.0
    )
    assert summary == "Trained 200000 lines of data."
    params = np.array(json.loads(text)["parameters"])
    design = np.c_[np.ones(len(x)), x]
    expected = np.full(5, 0.5)
    for _ in range(20):
        outputs = 1 / (1 + np.exp(-design @ expected))
        expected = expected - design.T @ (outputs - y) / len(x) * 1.0
    assert np.allclose(params, expected, rtol=1e-9)
    accuracy = ((1 / (1 + np.exp(-design @ params)) > 0.5) == (y == 1)).mean()
    assert accuracy > 0.9


def test_stops_past_the_deadline(tmp_path: Path) -> None:
    data = write(tmp_path / "d", np.array([[1.0, 0.0], [2.0, 1.0]]))
    with (
        execution_context(ExecutionContext(deadline=time.monotonic() - 1)),
        pytest.raises(FunctionError, match="Interrupted"),
    ):
        train(tmp_path, data, feature_size=1)
    assert not (tmp_path / "model").exists()
