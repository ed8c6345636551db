from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from function_helpers import FIXTURES, run_predictor, skip_without, write

from teaclave.functions import FunctionError
from teaclave.functions.gbdt_model import model_from_json

PREDICTION = FIXTURES / "gbdt_prediction"
needs_fixtures = skip_without(PREDICTION)
predict = partial(run_predictor, "builtin-gbdt-predict")


@needs_fixtures
def test_teaclave_oracle_byte_for_byte(tmp_path: Path) -> None:
    summary, result = predict(tmp_path, PREDICTION / "model.txt", PREDICTION / "test_data.txt")
    assert summary == "Predict result has 30 lines of data."
    assert result == (PREDICTION / "expected_result.txt").read_text()


def stump_model(tmp_path: Path) -> Path:
    nodes = [
        {
            "value": {
                "feature_index": 1,
                "feature_value": 0.5,
                "pred": 0.0,
                "missing": 0,
                "is_leaf": False,
            },
            "index": 0,
            "left": 1,
            "right": 2,
        },
        *(
            {
                "value": {
                    "feature_index": 0,
                    "feature_value": 0.0,
                    "pred": pred,
                    "missing": 0,
                    "is_leaf": True,
                },
                "index": index,
                "left": 0,
                "right": 0,
            }
            for index, pred in ((1, -1.0), (2, 1.0 / 3.0))
        ),
    ]
    settings = {"feature_size": 2, "max_depth": 1, "min_leaf_size": 1, "loss": "LAD"}
    document = {
        "conf": {
            **settings,
            "iterations": 1,
            "shrinkage": 0.1,
            "feature_sample_ratio": 1.0,
            "data_sample_ratio": 1.0,
            "debug": False,
            "initial_guess_enabled": False,
            "training_optimization_level": 2,
        },
        "trees": [{"tree": {"tree": nodes}, **settings, "feature_sample_ratio": 1.0}],
        "bias": 2.0,
    }
    return write(tmp_path / "model.json", json.dumps(document))


def test_formatting_and_extra_columns(tmp_path: Path) -> None:
    data = write(tmp_path / "d", "0,0,9\n0,1,9\n")
    summary, result = predict(tmp_path, stump_model(tmp_path), data)
    assert summary == "Predict result has 2 lines of data."
    low = float(np.float32(2.0) + np.float32(0.1) * np.float32(-1.0))
    high = float(np.float32(2.0) + np.float32(0.1) * np.float32(1.0 / 3.0))
    assert result == f"{low:.10f}\n{high:.10f}\n"
    assert result.splitlines()[0] == "1.8999999762"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Empty input: data_file"),
        ("1,2\n\n", r"Empty line \(data_file line 2\)"),
        ("1,2\n1,2,3\n", r"column len = 3, expected = 2 \(data_file line 2\)"),
        ("1\n", "sample doesn't have the feature: the model needs 2 features, the data has 1"),
        ("1,zz\n", r"invalid float literal \(data_file line 1, column 2\)"),
    ],
)
def test_data_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(FunctionError, match=message):
        predict(tmp_path, stump_model(tmp_path), write(tmp_path / "d", text))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "invalid gbdt model in model_file"),
        ('{"conf": NaN}', "NaN is not valid JSON"),
        ("[]", "the model is not an object"),
        ('{"conf": {}, "trees": [], "bias": 0}', "missing field `feature_size` in conf"),
    ],
)
def test_model_errors(tmp_path: Path, text: str, message: str) -> None:
    model = write(tmp_path / "m", text)
    with pytest.raises(FunctionError, match=message):
        predict(tmp_path, model, write(tmp_path / "d", "1,2\n"))


def walk_one(model_text: str, row: list[float]) -> float:
    """Per-row reference walk (the crate's ``predict_one`` recursion)."""
    document = json.loads(model_text)
    total = np.float32(document["bias"])
    shrinkage = np.float32(document["conf"]["shrinkage"])
    for tree in document["trees"]:
        nodes = tree["tree"]["tree"]
        current = nodes[0]
        while not current["value"]["is_leaf"]:
            value = current["value"]
            feature = np.float32(row[value["feature_index"]])
            branch = "left" if feature < np.float32(value["feature_value"]) else "right"
            current = nodes[current[branch]]
        total = np.float32(total + shrinkage * np.float32(current["value"]["pred"]))
    return float(total)


@needs_fixtures
def test_large_input_is_vectorised(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    features = rng.uniform(0, 8, size=(200_000, 4)).round(2)
    data = write(tmp_path / "big", "\n".join(",".join(map(str, r)) for r in features.tolist()))
    summary, result = predict(tmp_path, PREDICTION / "model.txt", data)
    assert summary == "Predict result has 200000 lines of data."
    lines = result.splitlines()
    assert len(lines) == 200_000
    model_text = (PREDICTION / "model.txt").read_text()
    for index in range(0, 200_000, 20_000):
        assert lines[index] == f"{walk_one(model_text, features[index].tolist()):.10f}"
    parsed = model_from_json(json.loads(model_text))
    assert np.array_equal(
        np.array(lines, dtype=np.float64),
        np.round(parsed.predict(features.astype(np.float32)).astype(np.float64), 10),
    )
