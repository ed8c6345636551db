"""``builtin-gbdt-train``: gradient-boosted decision trees with the Rust ``gbdt`` crate's algorithm.

Input ``training_data``: CSV lines of ``feature_size + 1`` floats, the last one the label.
Output ``trained_model``: the model JSON of ``gbdt_model`` (byte-compatible with the crate).
Summary: "Trained N lines of data."

The training reproduces ``GBDT::fit`` step for step, in the same precisions (features, labels,
targets and predictions in ``f32``; impurity sums in ``f64``), so a deterministic setup
(``feature_sample_ratio`` and ``data_sample_ratio`` at 1.0) yields the crate's model:

* bias: weighted label median (LAD, with the crate's ``i - 1 > 0`` quirk), label average
  (SquaredError) or ``ln((1+v)/(1-v))/2`` of it (LogLikelyhood);
* per iteration, targets: ``sign(label - prediction)`` (LAD), the residual (SquaredError), or
  the log-likelihood gradient; then one regression tree;
* a node is a leaf at ``max_depth``, when all targets agree within 1e-5, or when it holds at
  most ``min_leaf_size`` samples; otherwise it splits on the feature and threshold (midpoint of
  two consecutive sorted values more than 1e-5 apart) minimising the summed squared deviation
  of the targets on both sides (first feature / first threshold wins ties);
* leaf value: weighted median of the residuals (LAD; upper-middle pair averaged), mean target
  (SquaredError) or ``sum(t) / sum(|t|(2-|t|))`` (LogLikelyhood);
* predictions advance by ``shrinkage * leaf``.

Each node works on whole numpy columns (prefix sums over the node's samples sorted by each
feature), so the cost is O(features x samples) per tree level, with no per-row Python loop.
Equal feature values are ordered by row (the crate's unstable sort may order them otherwise,
which can only change the last bits of SquaredError/LogLikelyhood sums).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from teaclave.functions import FunctionError, function_logger, register
from teaclave.functions._csv_numbers import read_f32_csv, refuse_nan
from teaclave.functions._run_control import stop_if_interrupted
from teaclave.functions._typed_args import (
    f32_argument,
    float_argument,
    str_argument,
    uint_argument,
)
from teaclave.functions.gbdt_model import (
    LOSS_BY_NAME,
    UNKNOWN,
    DecisionTree,
    GbdtConfig,
    GbdtModel,
)

if TYPE_CHECKING:
    from teaclave.worker.runtime import Runtime

NAME = "builtin-gbdt-train"
INPUT = "training_data"
OUTPUT = "trained_model"

F32 = np.float32
F32Array = npt.NDArray[np.float32]
F64Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

_ALMOST_EQUAL = 1.0e-5
_NO_IMPURITY = float(np.finfo(np.float64).max)

log = function_logger("gbdt_train")


def config_from_arguments(arguments: dict[str, Any]) -> GbdtConfig:
    """The typed training configuration (Teaclave's ``GbdtTrainArguments``)."""
    loss_name = str_argument(arguments, "loss")
    if loss_name not in LOSS_BY_NAME:
        raise FunctionError(
            f"Invalid loss: {loss_name!r} (expected one of {', '.join(LOSS_BY_NAME)})"
        )
    feature_size = uint_argument(arguments, "feature_size")
    max_depth = uint_argument(arguments, "max_depth", bits=32)
    iterations = uint_argument(arguments, "iterations")
    shrinkage = f32_argument(arguments, "shrinkage")
    feature_sample_ratio = float_argument(arguments, "feature_sample_ratio")
    data_sample_ratio = float_argument(arguments, "data_sample_ratio")
    min_leaf_size = uint_argument(arguments, "min_leaf_size")
    level = uint_argument(arguments, "training_optimization_level", bits=8)
    return GbdtConfig(
        feature_size=feature_size,
        max_depth=max_depth,
        iterations=iterations,
        shrinkage=shrinkage,
        feature_sample_ratio=feature_sample_ratio,
        data_sample_ratio=data_sample_ratio,
        min_leaf_size=min_leaf_size,
        loss=LOSS_BY_NAME[loss_name],
        training_optimization_level=min(level, 2),
    )


def _sequential_sum(values: F64Array) -> float:
    """Left-to-right sum (Rust's loop order; numpy's ``sum`` would pair elements up)."""
    return float(np.cumsum(values)[-1]) if values.size else 0.0


@dataclass
class _Node:
    """A node waiting to be built: its samples in the crate's order and per-feature orders."""

    parent: int
    is_left: bool
    depth: int
    samples: IntArray
    by_feature: list[IntArray]


@dataclass
class _Split:
    """A chosen split: feature, threshold, and the node's samples on each side.

    Samples whose feature is missing (``f32::MIN``) go to neither child, as in the crate;
    the split is ``degenerate`` (the node becomes a leaf) when two of the three groups
    (left, right, missing) are empty.
    """

    feature: int
    value: np.float32
    left: IntArray
    right: IntArray
    missing: int

    @property
    def degenerate(self) -> bool:
        """Two of left / right / missing are empty."""
        empty = (len(self.left) == 0) + (len(self.right) == 0) + (self.missing == 0)
        return empty >= 2


class _TreeBuilder:
    """Builds one regression tree on the current targets (``DecisionTree::fit_n``)."""

    def __init__(self, trainer: GbdtTrainer, target: F32Array, residual: F32Array) -> None:
        self.trainer = trainer
        self.conf = trainer.conf
        self.target = target
        self.residual = residual
        self.s = target.astype(np.float64)  # target * weight (weights are 1)
        self.ss = self.s * self.s
        self.logit_c = (np.abs(self.s) * (2.0 - np.abs(self.s))).astype(np.float32)
        self.feature_index: list[int] = []
        self.feature_value: list[np.float32] = []
        self.pred: list[np.float32] = []
        self.is_leaf: list[bool] = []
        self.left: list[int] = []
        self.right: list[int] = []

    def build(self, subset: IntArray) -> DecisionTree:
        """Grow the tree depth-first over ``subset``; leaves update the trainer's ``preds``."""
        trainer = self.trainer
        if len(subset) == trainer.rows:
            by_feature = list(trainer.sorted_by_feature)
        else:
            member = np.zeros(trainer.rows, dtype=np.bool_)
            member[subset] = True
            by_feature = [order[member[order]] for order in trainer.sorted_by_feature]
        stack = [_Node(0, False, 0, subset, by_feature)]
        while stack:
            stop_if_interrupted()
            node = stack.pop()
            index = self._add_node(node)
            split = self._grow(index, node)
            if split is not None:
                stack.append(self._child(index, False, node, split.right))
                stack.append(self._child(index, True, node, split.left))
        conf = self.conf
        return DecisionTree(
            feature_index=np.array(self.feature_index, dtype=np.intp),
            feature_value=np.array(self.feature_value, dtype=np.float32),
            pred=np.array(self.pred, dtype=np.float32),
            missing=np.zeros(len(self.pred), dtype=np.int8),
            is_leaf=np.array(self.is_leaf, dtype=np.bool_),
            left=np.array(self.left, dtype=np.intp),
            right=np.array(self.right, dtype=np.intp),
            feature_size=conf.feature_size,
            max_depth=conf.max_depth,
            min_leaf_size=conf.min_leaf_size,
            loss=conf.loss,
            feature_sample_ratio=conf.feature_sample_ratio,
        )

    def _add_node(self, node: _Node) -> int:
        index = len(self.pred)
        self.feature_index.append(0)
        self.feature_value.append(F32(0.0))
        self.pred.append(F32(0.0))
        self.is_leaf.append(False)
        self.left.append(0)
        self.right.append(0)
        if index:
            (self.left if node.is_left else self.right)[node.parent] = index
        return index

    def _child(self, parent: int, is_left: bool, node: _Node, samples: IntArray) -> _Node:
        member = np.zeros(self.trainer.rows, dtype=np.bool_)
        member[samples] = True
        by_feature = [order[member[order]] for order in node.by_feature]
        return _Node(parent, is_left, node.depth + 1, samples, by_feature)

    def _grow(self, index: int, node: _Node) -> _Split | None:
        """Set the node's prediction; return its split, or ``None`` after making it a leaf."""
        samples = node.samples
        pred = self._leaf_value(samples)
        self.pred[index] = pred
        if (
            node.depth >= self.conf.max_depth
            or self._same(samples)
            or len(samples) <= self.conf.min_leaf_size
        ):
            split = None
        else:
            split = self._split(samples, node.by_feature)
        if split is not None and split.degenerate:
            split = None
        if split is None:
            self.is_leaf[index] = True
            self.trainer.preds[samples] = pred
            return None
        self.feature_index[index] = split.feature
        self.feature_value[index] = split.value
        return split

    def _leaf_value(self, samples: IntArray) -> np.float32:
        """``calculate_pred``: the node's prediction for the configured loss."""
        loss = self.conf.loss
        if loss == "LAD":
            count = len(samples)
            if count == 0:
                return F32(0.0)
            ordered = np.sort(self.residual[samples])
            middle = count // 2  # first i with 2 * (i + 1) > count
            if middle >= 1:
                return F32((ordered[middle] + ordered[middle - 1]) / F32(2.0))
            return F32(ordered[middle])
        total = _sequential_sum(self.s[samples])
        if loss == "LogLikelyhood":
            weight = _sequential_sum(self.logit_c[samples].astype(np.float64))
        else:
            weight = float(len(samples))
        if abs(weight) < 1e-10:
            return F32(0.0)
        return F32(total / weight)

    def _same(self, samples: IntArray) -> bool:
        """All targets within 1e-5 of the first one (``same``)."""
        if len(samples) == 0:
            return False
        targets = self.target[samples]
        gaps = np.abs(targets[0] - targets).astype(np.float64)
        return bool((gaps < _ALMOST_EQUAL).all())

    def _split(self, samples: IntArray, by_feature: list[IntArray]) -> _Split | None:
        """``DecisionTree::split``: best (feature, threshold) over the candidate features."""
        conf = self.conf
        features: list[int] | IntArray = list(range(conf.feature_size))
        if conf.feature_sample_ratio < 1.0:
            count = max(0, int(conf.feature_sample_ratio * conf.feature_size))
            features = self.trainer.rng.permutation(conf.feature_size)[:count]
        totals = (
            _sequential_sum(self.s[samples]),
            _sequential_sum(self.ss[samples]),
            float(len(samples)),
        )
        best = _NO_IMPURITY
        found: tuple[int, np.float32] | None = None
        for feature in features:
            impurity, value = self._impurity(int(feature), by_feature[int(feature)], totals)
            if best > impurity:
                best = impurity
                found = (int(feature), value)
        if found is None:
            return None
        feature, value = found
        ordered = by_feature[feature]
        values = self.trainer.columns[feature][ordered]
        known = values != UNKNOWN
        below = values < value
        left, right = ordered[known & below], ordered[known & ~below]
        return _Split(feature, value, left, right, int(len(ordered) - known.sum()))

    def _impurity(
        self, feature: int, ordered: IntArray, totals: tuple[float, float, float]
    ) -> tuple[float, np.float32]:
        """``get_impurity``: the lowest impurity of ``feature`` and its threshold."""
        values = self.trainer.columns[feature][ordered]
        count = len(ordered)
        known = values != UNKNOWN
        unknown = int(np.argmax(known)) if known.any() else count
        if unknown == count:
            return _NO_IMPURITY, UNKNOWN
        s, ss = self.s[ordered], self.ss[ordered]
        unknown_s = _sequential_sum(s[:unknown])
        unknown_ss = _sequential_sum(ss[:unknown])
        unknown_c = float(unknown)
        fitness0 = unknown_ss - unknown_s * unknown_s / unknown_c if unknown_c > 1.0 else 0.0
        fitness0 = max(fitness0, 0.0)
        if count - 1 - unknown <= 0:
            return _NO_IMPURITY, UNKNOWN
        step_s, step_ss = s[unknown : count - 1], ss[unknown : count - 1]
        left_s, left_ss = np.cumsum(step_s), np.cumsum(step_ss)
        left_c = np.arange(1, len(step_s) + 1, dtype=np.float64)
        right_s = np.cumsum(np.concatenate(([totals[0] - unknown_s], -step_s)))[1:]
        right_ss = np.cumsum(np.concatenate(([totals[1] - unknown_ss], -step_ss)))[1:]
        right_c = (totals[2] - unknown_c) - left_c
        with np.errstate(divide="ignore", invalid="ignore"):
            fitness1 = np.where(left_c > 1.0, left_ss - left_s * left_s / left_c, 0.0)
            fitness2 = np.where(right_c > 1.0, right_ss - right_s * right_s / right_c, 0.0)
        fitness1 = np.where(fitness1 < 0.0, 0.0, fitness1)
        fitness2 = np.where(fitness2 < 0.0, 0.0, fitness2)
        fitness = fitness0 + fitness1 + fitness2
        here, after = values[unknown : count - 1], values[unknown + 1 : count]
        distinct = ~(np.abs(here - after).astype(np.float64) < _ALMOST_EQUAL)
        valid = distinct & (fitness < _NO_IMPURITY)
        if not valid.any():
            return _NO_IMPURITY, UNKNOWN
        position = int(np.argmin(np.where(valid, fitness, np.inf)))
        return float(fitness[position]), F32((here[position] + after[position]) / F32(2.0))


class GbdtTrainer:
    """``GBDT::fit`` over a feature matrix and labels (both ``f32``)."""

    def __init__(
        self, conf: GbdtConfig, features: F32Array, labels: F32Array, seed: int | None = None
    ) -> None:
        self.conf = conf
        self.rows = len(labels)
        self.labels = labels
        self.columns = [np.ascontiguousarray(features[:, f]) for f in range(conf.feature_size)]
        self.sorted_by_feature = [np.argsort(column, kind="stable") for column in self.columns]
        self.preds = np.full(self.rows, UNKNOWN, dtype=np.float32)
        #: Training predictions after ``fit`` (``bias + shrinkage * leaves``, in ``f32``).
        self.predicted = np.full(self.rows, UNKNOWN, dtype=np.float32)
        self.rng = np.random.default_rng(seed)

    def bias(self) -> np.float32:
        """The initial guess (``GBDT::init``)."""
        loss = self.conf.loss
        if loss == "LAD":
            return self._label_median()
        average = self._label_average()
        if loss == "LogLikelyhood":
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = (F32(1.0) + average) / (F32(1.0) - average)
                return F32(np.float32(np.log(np.float64(ratio))) / F32(2.0))
        return average

    def _label_average(self) -> np.float32:
        if self.rows == 0:
            return F32(np.nan)
        total = np.cumsum(self.labels, dtype=np.float32)[-1]
        weight = np.cumsum(np.ones(self.rows, dtype=np.float32))[-1]
        return F32(total / weight)

    def _label_median(self) -> np.float32:
        """``weighted_label_median`` with its quirk: no averaging when the index is 1."""
        if self.rows == 0:
            return F32(0.0)
        ordered = np.sort(self.labels, kind="stable")
        weight = np.cumsum(np.ones(self.rows, dtype=np.float32))
        index = int(np.argmax(weight * F32(2.0) > weight[-1]))
        if index >= 2:
            return F32((ordered[index] + ordered[index - 1]) / F32(2.0))
        return F32(ordered[index])

    def fit(self) -> GbdtModel:
        """Train ``iterations`` trees; return the model."""
        conf = self.conf
        rows = self.rows
        bias = self.bias()
        sampled = rows
        if conf.data_sample_ratio < 1.0:
            sampled = max(0, int(rows * conf.data_sample_ratio))
        predicted = np.full(rows, bias if conf.iterations else UNKNOWN, dtype=np.float32)
        trees: list[DecisionTree] = []
        everyone = np.arange(rows)
        for _ in range(conf.iterations):
            stop_if_interrupted()
            if sampled < rows:
                shuffled = self.rng.permutation(rows)
                subset, remaining = np.sort(shuffled[:sampled]), np.sort(shuffled[sampled:])
            else:
                subset, remaining = everyone, everyone[:0]
            target, residual = self._targets(predicted)
            tree = _TreeBuilder(self, target, residual).build(subset)
            trees.append(tree)
            predicted[subset] += self.preds[subset] * conf.shrinkage
            if remaining.size:
                columns = np.stack([column[remaining] for column in self.columns])
                predicted[remaining] += tree.predict_columns(columns) * conf.shrinkage
        self.predicted = predicted
        return GbdtModel(conf, trees, bias)

    def _targets(self, predicted: F32Array) -> tuple[F32Array, F32Array]:
        """Targets and residuals of the next tree for the loss (``*_loss_process``)."""
        labels = self.labels
        loss = self.conf.loss
        if loss == "LAD":
            residual = (labels - predicted).astype(np.float32)
            target = np.where(residual >= 0.0, F32(1.0), F32(-1.0)).astype(np.float32)
            return target, residual
        if loss == "LogLikelyhood":
            twice = F32(2.0) * labels
            with np.errstate(over="ignore"):
                power = np.exp((twice * predicted).astype(np.float64)).astype(np.float32)
            target = (twice / (F32(1.0) + power)).astype(np.float32)
            return target, labels.copy()
        return (labels - predicted).astype(np.float32), labels.copy()


@register(NAME)
def gbdt_train(arguments: dict[str, Any], runtime: Runtime) -> str:
    """Train on ``training_data``, write ``trained_model``; "Trained N lines of data."."""
    conf = config_from_arguments(arguments)
    log.debug("start training...")
    data = read_f32_csv(runtime, INPUT, conf.feature_size + 1)
    refuse_nan(data, INPUT)
    features = np.ascontiguousarray(data[:, : conf.feature_size], dtype=np.float32)
    labels = np.ascontiguousarray(data[:, conf.feature_size], dtype=np.float32)
    model = GbdtTrainer(conf, features, labels).fit()
    text = model.to_json()
    with runtime.create_output(OUTPUT) as stream:
        stream.write(text.encode())
    return f"Trained {len(labels)} lines of data."


__all__ = ["INPUT", "NAME", "OUTPUT", "GbdtTrainer", "config_from_arguments", "gbdt_train"]
