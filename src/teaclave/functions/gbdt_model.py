"""The Rust ``gbdt`` crate's model: JSON format (serde of ``GBDT``) and vectorised prediction.

Layout written by ``serde_json::to_string(&gbdt)`` (key order matters for byte equality)::

    {"conf":{"feature_size":4,"max_depth":4,"iterations":100,"shrinkage":0.1,
             "feature_sample_ratio":1.0,"data_sample_ratio":1.0,"min_leaf_size":1,
             "loss":"LAD","debug":false,"initial_guess_enabled":false,
             "training_optimization_level":2},
     "trees":[{"tree":{"tree":[{"value":{"feature_index":2,"feature_value":2.45,"pred":0.0,
                                          "missing":0,"is_leaf":false},
                                "index":0,"left":1,"right":2}, ...]},
               "feature_size":4,"max_depth":4,"min_leaf_size":1,"loss":"LAD",
               "feature_sample_ratio":1.0}, ...],
     "bias":2.0}

Values are ``f32`` (``shrinkage``, ``feature_value``, ``pred``, ``bias``) printed by ryu
(shortest round-trip digits), ratios are ``f64``; ``loss`` is the ``Loss`` variant name.
Nodes are stored depth-first (a node, its whole left subtree, then its right subtree);
``left``/``right`` are positions in the node list, ``0`` meaning none (leaves). Prediction
walks every tree (``feature < feature_value`` goes left; a feature equal to ``f32::MIN`` is
"missing": ``missing`` -1 left, 0 stop at this node, 1 right) and sums
``bias + shrinkage * leaf`` in ``f32`` tree by tree, then applies the loss's link.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from teaclave.functions import FunctionError
from teaclave.functions._float_text import serde_f32, serde_f64

F32 = np.float32
F32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.intp]

#: ``VALUE_TYPE_UNKNOWN``: a feature with this value is "missing".
UNKNOWN = F32(np.finfo(np.float32).min)

#: ``gbdt::config::string2loss`` names → serialized ``Loss`` variant names.
LOSS_BY_NAME = {
    "SquaredError": "SquaredError",
    "LogLikelyhood": "LogLikelyhood",
    "LAD": "LAD",
    "reg:linear": "RegLinear",
    "binary:logistic": "BinaryLogistic",
    "reg:logistic": "RegLogistic",
    "binary:logitraw": "BinaryLogitraw",
    "multi:softprob": "MultiSoftprob",
    "multi:softmax": "MultiSoftmax",
    "rank:pairwise": "RankPairwise",
}
LOSS_VARIANTS = frozenset(LOSS_BY_NAME.values())


class ModelError(FunctionError):
    """A model file that is not a valid ``gbdt`` model."""


@dataclass(frozen=True)
class GbdtConfig:
    """``gbdt::config::Config`` (fields in serialization order)."""

    feature_size: int
    max_depth: int
    iterations: int
    shrinkage: np.float32
    feature_sample_ratio: float
    data_sample_ratio: float
    min_leaf_size: int
    loss: str
    debug: bool = False
    initial_guess_enabled: bool = False
    training_optimization_level: int = 2

    def to_json(self) -> str:
        """serde_json text of the config."""
        return (
            f'{{"feature_size":{self.feature_size},"max_depth":{self.max_depth},'
            f'"iterations":{self.iterations},"shrinkage":{serde_f32(self.shrinkage)},'
            f'"feature_sample_ratio":{serde_f64(self.feature_sample_ratio)},'
            f'"data_sample_ratio":{serde_f64(self.data_sample_ratio)},'
            f'"min_leaf_size":{self.min_leaf_size},"loss":"{self.loss}",'
            f'"debug":{_bool(self.debug)},'
            f'"initial_guess_enabled":{_bool(self.initial_guess_enabled)},'
            f'"training_optimization_level":{self.training_optimization_level}}}'
        )


@dataclass
class DecisionTree:
    """One tree: parallel node arrays (position = node index) plus its serialized settings."""

    feature_index: IntArray
    feature_value: F32Array
    pred: F32Array
    missing: npt.NDArray[np.int8]
    is_leaf: npt.NDArray[np.bool_]
    left: IntArray
    right: IntArray
    feature_size: int
    max_depth: int
    min_leaf_size: int
    loss: str
    feature_sample_ratio: float

    def to_json(self) -> str:
        """serde_json text of the tree (``{"tree":{"tree":[nodes]},...}``)."""
        nodes = ",".join(
            f'{{"value":{{"feature_index":{fi},"feature_value":{serde_f32(fv)},'
            f'"pred":{serde_f32(pv)},"missing":{ms},"is_leaf":{_bool(leaf)}}},'
            f'"index":{index},"left":{lt},"right":{rt}}}'
            for index, (fi, fv, pv, ms, leaf, lt, rt) in enumerate(
                zip(
                    self.feature_index.tolist(),
                    self.feature_value,
                    self.pred,
                    self.missing.tolist(),
                    self.is_leaf.tolist(),
                    self.left.tolist(),
                    self.right.tolist(),
                    strict=True,
                )
            )
        )
        return (
            f'{{"tree":{{"tree":[{nodes}]}},"feature_size":{self.feature_size},'
            f'"max_depth":{self.max_depth},"min_leaf_size":{self.min_leaf_size},'
            f'"loss":"{self.loss}","feature_sample_ratio":{serde_f64(self.feature_sample_ratio)}}}'
        )

    def predict(self, features: F32Array) -> F32Array:
        """Each row's prediction by this tree (``features`` is rows x features)."""
        return self.predict_columns(np.ascontiguousarray(features.T))

    def predict_columns(self, columns: F32Array) -> F32Array:
        """Each row's prediction by this tree, ``columns`` being features x rows.

        Rows are partitioned node by node (``feature < feature_value`` goes left), so the
        work is one gather and one comparison per row and tree level.
        """
        width, count = columns.shape
        out = np.empty(count, dtype=np.float32)
        stack: list[tuple[int, IntArray, int]] = [(0, np.arange(count), 0)]
        while stack:
            node, rows, steps = stack.pop()
            if steps > len(self.pred):
                raise ModelError("invalid gbdt model: a tree contains a cycle")
            if self.is_leaf[node] or rows.size == 0:
                out[rows] = self.pred[node]
                continue
            index = int(self.feature_index[node])
            if index >= width:
                raise FunctionError(
                    f"sample doesn't have the feature: the model needs {index + 1} features,"
                    f" the data has {width}"
                )
            value = columns[index][rows]
            unknown = value == UNKNOWN
            go_left = value < self.feature_value[node]
            if unknown.any():
                missing = int(self.missing[node])
                if missing == 0:
                    out[rows[unknown]] = self.pred[node]
                go_left = np.where(unknown, missing == -1, go_left)
                known_or_routed = ~unknown if missing == 0 else np.ones_like(unknown)
                stack.append((int(self.right[node]), rows[known_or_routed & ~go_left], steps + 1))
                stack.append((int(self.left[node]), rows[known_or_routed & go_left], steps + 1))
                continue
            stack.append((int(self.right[node]), rows[~go_left], steps + 1))
            stack.append((int(self.left[node]), rows[go_left], steps + 1))
        return out


@dataclass
class GbdtModel:
    """``gbdt::gradient_boost::GBDT``: config, trees and the bias (initial guess)."""

    conf: GbdtConfig
    trees: list[DecisionTree] = field(default_factory=list)
    bias: np.float32 = field(default_factory=lambda: F32(0.0))

    def to_json(self) -> str:
        """The model exactly as ``serde_json::to_string(&gbdt)`` writes it."""
        trees = ",".join(tree.to_json() for tree in self.trees)
        return f'{{"conf":{self.conf.to_json()},"trees":[{trees}],"bias":{serde_f32(self.bias)}}}'

    def raw_predict(self, features: F32Array) -> F32Array:
        """``bias + sum(shrinkage * tree)`` in ``f32``, tree by tree (``predict_n``)."""
        rows = features.shape[0]
        if not self.trees:
            return np.full(rows, UNKNOWN, dtype=np.float32)
        start = F32(0.0) if self.conf.initial_guess_enabled else self.bias
        total = np.full(rows, start, dtype=np.float32)
        columns = np.ascontiguousarray(features.T)
        for tree in self.trees:
            total += self.conf.shrinkage * tree.predict_columns(columns)
        return total

    def predict(self, features: F32Array) -> F32Array:
        """Predictions with the loss's link applied (``GBDT::predict``)."""
        if self.conf.iterations != len(self.trees):
            raise ModelError(
                f"invalid gbdt model: iterations is {self.conf.iterations} but there are"
                f" {len(self.trees)} trees"
            )
        raw = self.raw_predict(features)
        if self.conf.loss == "LogLikelyhood":
            return _logistic(F32(-2.0) * raw)
        if self.conf.loss in ("BinaryLogistic", "RegLogistic"):
            return _logistic(-raw)
        return raw


def _logistic(exponent: F32Array) -> F32Array:
    """``1 / (1 + exp(x))`` in ``f32`` (exp rounded from double, like a correctly rounded expf)."""
    with np.errstate(over="ignore"):
        power = np.exp(exponent.astype(np.float64)).astype(np.float32)
        return (F32(1.0) / (F32(1.0) + power)).astype(np.float32)


def _bool(value: bool) -> str:
    return "true" if value else "false"


# ----------------------------------------------------------------------------- reading


def _field(record: Any, key: str, where: str) -> Any:
    if not isinstance(record, dict):
        raise ModelError(f"invalid gbdt model: {where} is not an object")
    if key not in record:
        raise ModelError(f"invalid gbdt model: missing field `{key}` in {where}")
    return record[key]


def _int(record: Any, key: str, where: str, low: int = 0, high: int = 2**64 - 1) -> int:
    value = _field(record, key, where)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ModelError(f"invalid gbdt model: {where}.{key} is not an integer in [{low}, {high}]")
    return value


def _number(record: Any, key: str, where: str) -> float:
    value = _field(record, key, where)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ModelError(f"invalid gbdt model: {where}.{key} is not a number")
    return float(value)


def _flag(record: Any, key: str, where: str) -> bool:
    value = _field(record, key, where)
    if not isinstance(value, bool):
        raise ModelError(f"invalid gbdt model: {where}.{key} is not a boolean")
    return value


def _loss(record: Any, where: str) -> str:
    value = _field(record, "loss", where)
    if value not in LOSS_VARIANTS:
        raise ModelError(f"invalid gbdt model: {where}.loss is not a known loss")
    return str(value)


def _f32(value: float) -> np.float32:
    with np.errstate(over="ignore"):
        return F32(value)


def _config(record: Any) -> GbdtConfig:
    where = "conf"
    return GbdtConfig(
        feature_size=_int(record, "feature_size", where),
        max_depth=_int(record, "max_depth", where, high=2**32 - 1),
        iterations=_int(record, "iterations", where),
        shrinkage=_f32(_number(record, "shrinkage", where)),
        feature_sample_ratio=_number(record, "feature_sample_ratio", where),
        data_sample_ratio=_number(record, "data_sample_ratio", where),
        min_leaf_size=_int(record, "min_leaf_size", where),
        loss=_loss(record, where),
        debug=_flag(record, "debug", where),
        initial_guess_enabled=_flag(record, "initial_guess_enabled", where),
        training_optimization_level=_int(record, "training_optimization_level", where, high=255),
    )


def _tree(record: Any, number: int) -> DecisionTree:
    where = f"trees[{number}]"
    nodes = _field(_field(record, "tree", where), "tree", f"{where}.tree")
    if not isinstance(nodes, list) or not nodes:
        raise ModelError(f"invalid gbdt model: {where} has no nodes")
    count = len(nodes)
    columns: dict[str, list[Any]] = {
        key: [] for key in ("fi", "fv", "pred", "missing", "leaf", "left", "right")
    }
    for position, node in enumerate(nodes):
        at = f"{where}.tree.tree[{position}]"
        value = _field(node, "value", at)
        leaf = _flag(value, "is_leaf", f"{at}.value")
        left = _int(node, "left", at)
        right = _int(node, "right", at)
        _int(node, "index", at)
        if not leaf and not (0 < left < count and 0 < right < count):
            raise ModelError(f"invalid gbdt model: {at} is an inner node without both children")
        columns["fi"].append(_int(value, "feature_index", f"{at}.value"))
        columns["fv"].append(_number(value, "feature_value", f"{at}.value"))
        columns["pred"].append(_number(value, "pred", f"{at}.value"))
        columns["missing"].append(_int(value, "missing", f"{at}.value", low=-128, high=127))
        columns["leaf"].append(leaf)
        columns["left"].append(left)
        columns["right"].append(right)
    if max(columns["fi"]) >= 2**62:
        raise ModelError(f"invalid gbdt model: {where} has an out-of-range feature_index")
    with np.errstate(over="ignore"):
        return DecisionTree(
            feature_index=np.array(columns["fi"], dtype=np.intp),
            feature_value=np.array(columns["fv"], dtype=np.float32),
            pred=np.array(columns["pred"], dtype=np.float32),
            missing=np.array(columns["missing"], dtype=np.int8),
            is_leaf=np.array(columns["leaf"], dtype=np.bool_),
            left=np.array(columns["left"], dtype=np.intp),
            right=np.array(columns["right"], dtype=np.intp),
            feature_size=_int(record, "feature_size", where),
            max_depth=_int(record, "max_depth", where, high=2**32 - 1),
            min_leaf_size=_int(record, "min_leaf_size", where),
            loss=_loss(record, where),
            feature_sample_ratio=_number(record, "feature_sample_ratio", where),
        )


def model_from_json(document: Any) -> GbdtModel:
    """Build a ``GbdtModel`` from parsed JSON, refusing anything serde would not accept."""
    conf = _config(_field(document, "conf", "the model"))
    trees = _field(document, "trees", "the model")
    if not isinstance(trees, list):
        raise ModelError("invalid gbdt model: trees is not a list")
    bias = _f32(_number(document, "bias", "the model"))
    return GbdtModel(conf, [_tree(tree, number) for number, tree in enumerate(trees)], bias)


__all__ = [
    "LOSS_BY_NAME",
    "LOSS_VARIANTS",
    "UNKNOWN",
    "DecisionTree",
    "GbdtConfig",
    "GbdtModel",
    "ModelError",
    "model_from_json",
]
