from __future__ import annotations

import json
import math
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from function_helpers import FIXTURES, run_predictor, skip_without, write

from teaclave.functions import FunctionError

PREDICTION = FIXTURES / "logistic_regression_prediction"
needs_fixtures = skip_without(PREDICTION)
predict = partial(run_predictor, "builtin-logistic-regression-predict")


@needs_fixtures
def test_teaclave_oracle_byte_for_byte(tmp_path: Path) -> None:
    summary, result = predict(tmp_path, PREDICTION / "model.txt", PREDICTION / "predict_input.txt")
    assert summary == "Predicted 5 lines of data."
    assert result == (PREDICTION / "expected_result.txt").read_text()
    assert result.startswith("0.7530\n0.9163\n0.2041\n")


def test_bias_first_and_four_decimals(tmp_path: Path) -> None:
    model = write(tmp_path / "m", '{"alpha":0.3,"iters":1,"parameters":[1.0,-2.0,0.5]}')
    summary, result = predict(tmp_path, model, write(tmp_path / "d", "0,0\n1,2\n-3,0\n"))
    assert summary == "Predicted 3 lines of data."
    expected = [1 / (1 + math.exp(-z)) for z in (1.0, 1.0 - 2.0 + 1.0, 1.0 + 6.0)]
    assert result == "".join(f"{p:.4f}\n" for p in expected)
    assert result.splitlines()[0] == "0.7311"


@pytest.mark.parametrize(
    ("model", "data", "message"),
    [
        ('{"parameters":[1,2,3]}', "1,2,3\n", r"column len = 3, expected = 2 \(data_file line 1\)"),
        ('{"parameters":[1,2,3]}', "1,2\n\n", r"Empty line \(data_file line 2\)"),
        ('{"parameters":[1,2,3]}', "", "Empty input: data_file"),
        ('{"alpha":0.3,"iters":1,"parameters":null}', "1,2\n", "Model parameter is None"),
        ('{"alpha":0.3}', "1,2\n", "no parameters"),
        ('{"parameters":[1,"2"]}', "1\n", "parameters is not a list of numbers"),
        ('{"parameters":[]}', "1\n", "parameters is not a list of numbers"),
        ("{]", "1\n", "invalid logistic regression model in model_file"),
    ],
)
def test_errors(tmp_path: Path, model: str, data: str, message: str) -> None:
    with pytest.raises(FunctionError, match=message):
        predict(tmp_path, write(tmp_path / "m", model), write(tmp_path / "d", data))
    assert not (tmp_path / "result").exists()


def test_large_input_is_vectorised(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    params = [0.25, 1.5, -0.75, 2.0]
    features = rng.normal(size=(200_000, 3)).round(5)
    model = write(tmp_path / "m", json.dumps({"alpha": 1.0, "iters": 1, "parameters": params}))
    data = write(tmp_path / "d", "\n".join(",".join(map(repr, r)) for r in features.tolist()))
    summary, result = predict(tmp_path, model, data)
    assert summary == "Predicted 200000 lines of data."
    lines = result.splitlines()
    assert len(lines) == 200_000
    for index in range(0, 200_000, 25_000):
        z = params[0] + sum(
            p * v for p, v in zip(params[1:], features[index].tolist(), strict=True)
        )
        assert lines[index] == f"{1 / (1 + math.exp(-z)):.4f}"
