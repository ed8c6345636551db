from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest
from function_helpers import FIXTURES, skip_without

from teaclave.functions.gbdt_model import GbdtModel, ModelError, model_from_json

MODEL = FIXTURES / "gbdt_prediction" / "model.txt"
needs_fixtures = skip_without(MODEL)
UNKNOWN = float(np.finfo(np.float32).min)


def node(
    index: int, left: int = 0, right: int = 0, *, feature: int = 0, value: float = 0.0,
    pred: float = 0.0, missing: int = 0, leaf: bool = False,
) -> dict[str, Any]:  # fmt: skip
    return {
        "value": {
            "feature_index": feature,
            "feature_value": value,
            "pred": pred,
            "missing": missing,
            "is_leaf": leaf,
        },
        "index": index,
        "left": left,
        "right": right,
    }


def model(nodes: list[dict[str, Any]], loss: str = "SquaredError", **conf: Any) -> dict[str, Any]:
    settings = {
        "feature_size": 2,
        "max_depth": 2,
        "iterations": 1,
        "shrinkage": 1.0,
        "feature_sample_ratio": 1.0,
        "data_sample_ratio": 1.0,
        "min_leaf_size": 1,
        "loss": loss,
        "debug": False,
        "initial_guess_enabled": False,
        "training_optimization_level": 2,
        **conf,
    }
    tree = {
        "tree": {"tree": nodes},
        "feature_size": 2,
        "max_depth": 2,
        "min_leaf_size": 1,
        "loss": loss,
        "feature_sample_ratio": 1.0,
    }
    return {"conf": settings, "trees": [tree], "bias": 0.5}


def stump(missing: int) -> list[dict[str, Any]]:
    return [
        node(0, 1, 2, feature=1, value=2.5, pred=10.0, missing=missing),
        node(1, pred=1.0, leaf=True),
        node(2, pred=2.0, leaf=True),
    ]


@needs_fixtures
def test_fixture_model_round_trips_byte_for_byte() -> None:
    text = MODEL.read_text()
    parsed = model_from_json(json.loads(text))
    assert len(parsed.trees) == 100
    assert parsed.to_json() == text


def test_split_rule_and_bias() -> None:
    parsed = model_from_json(model(stump(0)))
    features = np.array([[9, 1.0], [9, 2.5], [9, 3.0]], dtype=np.float32)
    assert parsed.predict(features).tolist() == [1.5, 2.5, 2.5]


@pytest.mark.parametrize(("missing", "expected"), [(-1, 1.5), (0, 10.5), (1, 2.5)])
def test_missing_feature_follows_the_node_setting(missing: int, expected: float) -> None:
    parsed = model_from_json(model(stump(missing)))
    features = np.array([[0.0, UNKNOWN]], dtype=np.float32)
    assert parsed.predict(features).tolist() == [expected]


def test_links_per_loss() -> None:
    features = np.array([[0.0, 0.0]], dtype=np.float32)
    raw = 0.5 + 1.0
    log_likely = model_from_json(model(stump(0), loss="LogLikelyhood")).predict(features)
    assert log_likely[0] == pytest.approx(1 / (1 + np.exp(-2 * raw)), rel=1e-6)
    logistic = model_from_json(model(stump(0), loss="BinaryLogistic")).predict(features)
    assert logistic[0] == pytest.approx(1 / (1 + np.exp(-raw)), rel=1e-6)
    assert model_from_json(model(stump(0), loss="RegLinear")).predict(features)[0] == raw


def test_initial_guess_enabled_ignores_the_bias() -> None:
    parsed = model_from_json(model(stump(0), initial_guess_enabled=True))
    assert parsed.predict(np.zeros((1, 2), dtype=np.float32)).tolist() == [1.0]


def test_shrinkage_is_applied_in_f32() -> None:
    parsed = model_from_json(model(stump(0), shrinkage=0.1))
    value = parsed.predict(np.zeros((1, 2), dtype=np.float32))[0]
    assert value == np.float32(0.5) + np.float32(0.1) * np.float32(1.0)


def test_no_trees_predicts_the_unknown_value() -> None:
    document = model(stump(0), iterations=0)
    document["trees"] = []
    parsed = model_from_json(document)
    assert parsed.predict(np.zeros((2, 2), dtype=np.float32)).tolist() == [UNKNOWN, UNKNOWN]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("bias"), "missing field `bias`"),
        (lambda d: d["conf"].pop("loss"), "missing field `loss` in conf"),
        (lambda d: d["conf"].update(loss="Hinge"), "conf.loss is not a known loss"),
        (lambda d: d["conf"].update(iterations="1"), "conf.iterations is not an integer"),
        (lambda d: d.update(trees={}), "trees is not a list"),
        (lambda d: d["trees"][0]["tree"].update(tree=[]), "has no nodes"),
        (lambda d: d["trees"][0]["tree"]["tree"][0].update(left=0), "without both children"),
        (lambda d: d["trees"][0]["tree"]["tree"][0].update(right=7), "without both children"),
        (
            lambda d: d["trees"][0]["tree"]["tree"][1]["value"].update(pred=None),
            r"tree\[1\].value.pred is not a number",
        ),
        (
            lambda d: d["trees"][0]["tree"]["tree"][0]["value"].update(missing=300),
            "missing is not an integer",
        ),
    ],
)
def test_invalid_models_are_refused(mutate: Any, message: str) -> None:
    document = copy.deepcopy(model(stump(0)))
    mutate(document)
    with pytest.raises(ModelError, match=message):
        model_from_json(document)


def test_iterations_must_match_the_trees() -> None:
    parsed = model_from_json(model(stump(0), iterations=2))
    with pytest.raises(ModelError, match="iterations is 2 but there are 1 trees"):
        parsed.predict(np.zeros((1, 2), dtype=np.float32))


def test_cycles_are_detected() -> None:
    nodes = [node(0, 1, 2, value=-1.0), node(1, 0, 0, leaf=True), node(2, 2, 2, value=-1.0)]
    parsed = model_from_json(model(nodes))
    with pytest.raises(ModelError, match="cycle"):
        parsed.predict(np.zeros((1, 2), dtype=np.float32))


def test_serialization_of_f32_values() -> None:
    nodes = stump(0)
    nodes[0]["value"]["feature_value"] = 4.85
    nodes[1]["value"]["pred"] = -1.4722347e-05
    nodes[2]["value"]["pred"] = 1e-7
    parsed: GbdtModel = model_from_json(model(nodes, shrinkage=0.1))
    text = parsed.to_json()
    assert '"feature_value":4.85,' in text
    assert '"pred":-0.000014722347,' in text
    assert '"pred":1e-7,' in text
    assert '"shrinkage":0.1,' in text
    assert text.endswith(',"bias":0.5}')
