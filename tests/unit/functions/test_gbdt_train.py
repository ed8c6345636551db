from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from function_helpers import FIXTURES, skip_without, write

from teaclave.executors import ExecutionContext, execution_context
from teaclave.functions import FunctionError, load_builtin_functions
from teaclave.functions.gbdt_model import DecisionTree, GbdtModel, model_from_json
from teaclave.functions.gbdt_train import GbdtTrainer, config_from_arguments
from teaclave.worker.runtime import RawIoRuntime

GBDT = FIXTURES / "gbdt_training"
needs_fixtures = skip_without(GBDT)
F32 = np.float32
UNKNOWN = F32(np.finfo(np.float32).min)

ARGS: dict[str, Any] = {
    "feature_size": 4,
    "max_depth": 4,
    "iterations": 100,
    "shrinkage": 0.1,
    "feature_sample_ratio": 1.0,
    "data_sample_ratio": 1.0,
    "min_leaf_size": 1,
    "loss": "LAD",
    "training_optimization_level": 2,
}


def train(tmp_path: Path, data: Path, **overrides: Any) -> tuple[str, str]:
    runtime = RawIoRuntime({"training_data": data}, {"trained_model": tmp_path / "model"})
    summary = load_builtin_functions()["builtin-gbdt-train"]({**ARGS, **overrides}, runtime)
    return summary, (tmp_path / "model").read_text()


@needs_fixtures
def test_teaclave_oracle_byte_for_byte(tmp_path: Path) -> None:
    summary, model = train(tmp_path, GBDT / "train.txt")
    assert summary == "Trained 120 lines of data."
    assert model == (GBDT / "expected_model.txt").read_text()


@needs_fixtures
def test_oracle_predictions_agree(tmp_path: Path) -> None:
    _, model = train(tmp_path, GBDT / "train.txt")
    data = np.loadtxt(GBDT / "train.txt", delimiter=",", dtype=np.float32)
    ours = model_from_json(json.loads(model)).predict(data[:, :4])
    expected = model_from_json(json.loads((GBDT / "expected_model.txt").read_text()))
    assert np.array_equal(ours, expected.predict(data[:, :4]))


# --- a literal transcription of the crate's loops, for the losses without a Teaclave oracle ---


def reference_bias(loss: str, y: np.ndarray) -> np.float32:
    """``GBDT::init`` with per-sample loops."""
    n = len(y)
    if loss == "LAD":
        ordered_labels = sorted(y.tolist())
        weight = F32(0.0)
        for i in range(n):
            weight = F32(weight + F32(1.0))
            if weight * F32(2.0) > F32(n):
                a, b = F32(ordered_labels[i]), F32(ordered_labels[i - 1])
                return F32((a + b) / F32(2.0)) if i >= 2 else a
        return F32(0.0)
    total, count = F32(0.0), F32(0.0)
    for label in y:
        total, count = F32(total + label), F32(count + F32(1.0))
    bias = F32(total / count)
    if loss == "LogLikelyhood":
        bias = F32(F32(np.log(float(F32((1 + bias) / (1 - bias))))) / F32(2.0))
    return bias


class ReferenceTree:
    """``DecisionTree::fit`` with per-sample loops (no missing values, all samples)."""

    def __init__(
        self, conf: Any, x: np.ndarray, target: list[Any], residual: list[Any], preds: list[Any]
    ) -> None:
        self.conf, self.x, self.target = conf, x, target
        self.residual, self.preds = residual, preds
        self.s = [float(t) for t in target]
        self.logit_c = [F32(abs(v) * (2.0 - abs(v))) for v in self.s]
        features = conf.feature_size
        self.orders = [
            sorted(range(len(target)), key=x[:, f].tolist().__getitem__) for f in range(features)
        ]
        self.nodes: list[dict[str, Any]] = []

    def leaf_value(self, data: list[int]) -> np.float32:
        if self.conf.loss == "LAD":
            values = sorted(float(self.residual[i]) for i in data)
            weight = 0.0
            for i, value in enumerate(values):
                weight += 1.0
                if weight * 2.0 > len(values):
                    if i >= 1:
                        return F32((F32(value) + F32(values[i - 1])) / F32(2.0))
                    return F32(value)
            return F32(0.0)
        total, weight = 0.0, 0.0
        for i in data:
            total += self.s[i]
            weight += float(self.logit_c[i]) if self.conf.loss == "LogLikelyhood" else 1.0
        return F32(0.0) if abs(weight) < 1e-10 else F32(total / weight)

    def best_split(self, data: list[int]) -> tuple[int, np.float32, list[int]] | None:
        s, x = self.s, self.x
        members = set(data)
        sum_s = sum_ss = 0.0
        for i in data:
            sum_s += s[i]
            sum_ss += s[i] * s[i]
        best = float(np.finfo(np.float64).max)
        found = None
        for f in range(self.conf.feature_size):
            sd = [i for i in self.orders[f] if i in members]
            impurity, value = float(np.finfo(np.float64).max), F32(0.0)
            ls = lss = lc = 0.0
            rs, rss, rc = sum_s, sum_ss, float(len(data))
            for k in range(len(sd) - 1):
                i = sd[k]
                ls, lss, lc = ls + s[i], lss + s[i] * s[i], lc + 1.0
                rs, rss, rc = rs - s[i], rss - s[i] * s[i], rc - 1.0
                f1, f2 = x[i][f], x[sd[k + 1]][f]
                if float(abs(F32(f1 - f2))) < 1e-5:
                    continue
                fit1 = max(lss - ls * ls / lc, 0.0) if lc > 1.0 else 0.0
                fit2 = max(rss - rs * rs / rc, 0.0) if rc > 1.0 else 0.0
                fitness = 0.0 + fit1 + fit2
                if impurity > fitness:
                    impurity, value = fitness, F32(F32(f1 + f2) / F32(2.0))
            if best > impurity:
                best, found = impurity, (f, value, sd)
        return found

    def fit_node(self, parent: int, is_left: bool, depth: int, data: list[int]) -> None:
        nodes, conf, target = self.nodes, self.conf, self.target
        index = len(nodes)
        nodes.append({"fi": 0, "fv": F32(0.0), "leaf": False, "left": 0, "right": 0})
        if index:
            nodes[parent]["left" if is_left else "right"] = index
        pred = nodes[index]["pred"] = self.leaf_value(data)
        same = bool(data) and all(float(abs(F32(target[data[0]] - target[i]))) < 1e-5 for i in data)
        if not (depth >= conf.max_depth or same or len(data) <= conf.min_leaf_size):
            found = self.best_split(data)
            if found is not None:
                f, value, sd = found
                left = [i for i in sd if self.x[i][f] < value]
                right = [i for i in sd if not self.x[i][f] < value]
                if left and right:
                    nodes[index]["fi"], nodes[index]["fv"] = f, value
                    self.fit_node(index, True, depth + 1, left)
                    self.fit_node(index, False, depth + 1, right)
                    return
        nodes[index]["leaf"] = True
        for i in data:
            self.preds[i] = pred

    def tree(self) -> DecisionTree:
        nodes, conf = self.nodes, self.conf
        return DecisionTree(
            feature_index=np.array([node["fi"] for node in nodes], dtype=np.intp),
            feature_value=np.array([node["fv"] for node in nodes], dtype=np.float32),
            pred=np.array([node["pred"] for node in nodes], dtype=np.float32),
            missing=np.zeros(len(nodes), dtype=np.int8),
            is_leaf=np.array([node["leaf"] for node in nodes], dtype=np.bool_),
            left=np.array([node["left"] for node in nodes], dtype=np.intp),
            right=np.array([node["right"] for node in nodes], dtype=np.intp),
            feature_size=conf.feature_size,
            max_depth=conf.max_depth,
            min_leaf_size=conf.min_leaf_size,
            loss=conf.loss,
            feature_sample_ratio=conf.feature_sample_ratio,
        )


def reference_fit(conf_args: dict[str, Any], x: np.ndarray, y: np.ndarray) -> GbdtModel:
    """Per-sample loops mirroring gbdt-rs ``GBDT::fit`` (no missing values, no sampling)."""
    conf = config_from_arguments(conf_args)
    n = len(y)
    bias = reference_bias(conf.loss, y)
    predicted = [bias] * n
    preds = [UNKNOWN] * n
    trees = []
    for _ in range(conf.iterations):
        target, residual = [F32(0.0)] * n, [F32(0.0)] * n
        for i in range(n):
            if conf.loss == "LAD":
                residual[i] = F32(y[i] - predicted[i])
                target[i] = F32(1.0) if residual[i] >= 0 else F32(-1.0)
            elif conf.loss == "LogLikelyhood":
                power = F32(np.exp(float(F32(F32(2.0) * y[i]) * predicted[i])))
                target[i] = F32(F32(F32(2.0) * y[i]) / F32(F32(1.0) + power))
            else:
                target[i] = F32(y[i] - predicted[i])
        builder = ReferenceTree(conf, x, target, residual, preds)
        builder.fit_node(0, False, 0, list(range(n)))
        for i in range(n):
            predicted[i] = F32(predicted[i] + F32(preds[i] * conf.shrinkage))
        trees.append(builder.tree())
    return GbdtModel(conf, trees, bias)


@pytest.mark.parametrize(
    ("loss", "seed"), [("SquaredError", 1), ("LogLikelyhood", 2), ("LAD", 3), ("reg:linear", 4)]
)
def test_matches_the_literal_reference(loss: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(70, 3)).round(1).astype(np.float32)  # rounding makes ties
    if loss == "LogLikelyhood":
        y = np.where(x[:, 0] + rng.normal(size=70) > 0, 1.0, -1.0).astype(np.float32)
    else:
        y = (x[:, 0] * 3 + x[:, 1] ** 2 + rng.normal(size=70)).astype(np.float32)
    conf_args = {
        **ARGS,
        "feature_size": 3,
        "max_depth": 3,
        "iterations": 6,
        "min_leaf_size": 2,
        "loss": loss,
    }
    trainer = GbdtTrainer(config_from_arguments(conf_args), x, y)
    model = trainer.fit()
    assert model.to_json() == reference_fit(conf_args, x, y).to_json()
    assert np.array_equal(model.raw_predict(x), trainer.predicted)


def test_settings_are_serialized(tmp_path: Path) -> None:
    data = write(tmp_path / "d", "1,2,3\n4,5,6\n7,8,9\n")
    _, text = train(
        tmp_path,
        data,
        feature_size=2,
        iterations=2,
        max_depth=1,
        shrinkage=0.25,
        loss="reg:logistic",
        training_optimization_level=7,
    )
    model = json.loads(text)
    assert text.startswith(
        '{"conf":{"feature_size":2,"max_depth":1,"iterations":2,"shrinkage":0.25,'
        '"feature_sample_ratio":1.0,"data_sample_ratio":1.0,"min_leaf_size":1,'
        '"loss":"RegLogistic","debug":false,"initial_guess_enabled":false,'
        '"training_optimization_level":2},"trees":[{"tree":{"tree":['
    )
    assert len(model["trees"]) == 2
    assert model["trees"][0]["loss"] == "RegLogistic"


def test_sampling_ratios_still_train(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 3))
    y = (x[:, 0] > 0).astype(float) * 4
    data = write(tmp_path / "d", "\n".join(",".join(map(str, row)) for row in np.c_[x, y].tolist()))
    summary, text = train(
        tmp_path,
        data,
        feature_size=3,
        iterations=30,
        feature_sample_ratio=0.5,
        data_sample_ratio=0.7,
        shrinkage=0.3,
        loss="SquaredError",
    )
    assert summary == "Trained 300 lines of data."
    model = model_from_json(json.loads(text))
    error = np.abs(model.predict(x.astype(np.float32)) - y).mean()
    assert error < 0.5 < np.abs(y - y.mean()).mean()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"feature_size": "4"}, "Cannot deserialize arguments: feature_size: expected an unsigned"),
        ({"max_depth": 4.0}, "Cannot deserialize arguments: max_depth"),
        ({"max_depth": 2**32}, "max_depth: 4294967296 is out of range"),
        ({"training_optimization_level": 256}, "training_optimization_level"),
        ({"iterations": -1}, "iterations"),
        ({"shrinkage": "0.1"}, "shrinkage: expected a number, got a string"),
        ({"shrinkage": 1e300}, "shrinkage"),
        ({"min_leaf_size": True}, "min_leaf_size: expected an unsigned integer, got a boolean"),
        ({"loss": 3}, "loss: expected a string"),
        ({"loss": "Hinge"}, "Invalid loss"),
        ({"data_sample_ratio": None}, "data_sample_ratio: missing"),
    ],
)
def test_argument_errors(tmp_path: Path, overrides: dict[str, Any], message: str) -> None:
    data = write(tmp_path / "d", "1,2,3,4,5\n")
    with pytest.raises(FunctionError, match=message):
        train(tmp_path, data, **overrides)
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"Empty input: training_data has no data lines"),
        ("1,2,3,4,5\n\n1,2,3,4,5\n", r"Empty line \(training_data line 2\)"),
        ("1,2,3,4,5\n  \t\n", r"Empty line \(training_data line 2\)"),
        ("1,2,3,4,5\n1,2,3,4\n", r"column len = 4, expected = 5 \(training_data line 2\)"),
        ("1,2,3,4,5\n1,2,3,4,5,6\n", r"column len = 6, expected = 5 \(training_data line 2\)"),
        ("1,2,3,4,5\n1,2,x,4,5\n", r"invalid float literal \(training_data line 2, column 3\)"),
        ("1,2,3,4,5\n1,2,,4,5\n", r"invalid float literal \(training_data line 2, column 3\)"),
        ("1,2,3,4,nan\n", r"NaN is not supported \(training_data line 1\)"),
    ],
)
def test_data_errors(tmp_path: Path, text: str, message: str) -> None:
    data = write(tmp_path / "d", text)
    with pytest.raises(FunctionError, match=message):
        train(tmp_path, data)


def test_error_messages_do_not_echo_data(tmp_path: Path) -> None:
    data = write(tmp_path / "d", "1,2,secret-value,4,5\n")
    with pytest.raises(FunctionError) as caught:
        train(tmp_path, data)
    assert "secret" not in str(caught.value)


def test_crlf_and_surrounding_whitespace(tmp_path: Path) -> None:
    plain = write(tmp_path / "a", "1,2,3,4,5\n2,3,4,5,6\n3,4,5,6,9")
    dos = write(tmp_path / "b", " 1,2,3,4,5 \r\n2, 3,4,5,6\r\n3,4,5,6,9\r\n")
    first = train(tmp_path, plain, iterations=3)
    assert train(tmp_path, dos, iterations=3) == first


def test_large_input_is_vectorised() -> None:
    rows = 200_000
    rng = np.random.default_rng(7)
    x = rng.normal(size=(rows, 3)).round(3).astype(np.float32)
    y = ((x[:, 0] > 0.2) * 2.0 + (x[:, 1] > 0) * 1.0).astype(np.float32)
    conf = config_from_arguments(
        {**ARGS, "feature_size": 3, "max_depth": 3, "iterations": 3, "shrinkage": 0.5}
    )
    trainer = GbdtTrainer(conf, x, y)
    model = trainer.fit()
    assert len(model.trees) == 3
    assert np.array_equal(model.raw_predict(x), trainer.predicted)
    mae = np.abs(trainer.predicted - y).mean()
    assert mae < np.abs(model.bias - y).mean() - 0.3


def test_stops_when_canceled_or_past_the_deadline(tmp_path: Path) -> None:
    data = write(tmp_path / "d", "1,2,3,4,5\n2,3,4,5,6\n")
    canceled = threading.Event()
    canceled.set()
    for context in (
        ExecutionContext(deadline=time.monotonic() - 1),
        ExecutionContext(cancel=canceled),
    ):
        with execution_context(context), pytest.raises(FunctionError, match="Interrupted"):
            train(tmp_path, data)
    assert not (tmp_path / "model").exists()
    assert train(tmp_path, data, iterations=1)[0] == "Trained 2 lines of data."
