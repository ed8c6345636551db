"""``builtin-logistic-regression-train``: rusty-machine's gradient-descent ``LogisticRegressor``.

Input ``training_data``: CSV lines of ``feature_size + 1`` floats, the last one the target.
Output ``model_file``: ``{"alpha":A,"iters":I,"parameters":[bias, w1, ..., wn]}`` (serde_json
numbers). Summary: "Trained N lines of data."

Algorithm (rusty-machine 0.5): prepend a column of ones; start from every parameter at 0.5;
``iters`` times: ``h = sigmoid(X b)``, ``cost = -mean(y ln h + (1 - y) ln(1 - h))``, stop
early when the cost moved by less than 1e-20 since the previous iteration (the first
comparison is against 0), else ``b -= alpha * X^T (h - y) / m``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from teaclave.functions import FunctionError, register
from teaclave.functions._csv_numbers import read_f64_csv
from teaclave.functions._float_text import serde_f64
from teaclave.functions._run_control import stop_if_interrupted
from teaclave.functions._typed_args import float_argument, uint_argument

if TYPE_CHECKING:
    from teaclave.worker.runtime import Runtime

NAME = "builtin-logistic-regression-train"
INPUT = "training_data"
OUTPUT = "model_file"

LEARNING_EPS = 1e-20
INITIAL_PARAMETER = 0.5

F64Array = npt.NDArray[np.float64]


def with_bias_column(features: F64Array) -> F64Array:
    """``[1 | features]``: the design matrix with the intercept column first."""
    return np.hstack((np.ones((features.shape[0], 1)), features))


def sigmoid(values: F64Array) -> F64Array:
    """``1 / (1 + exp(-x))`` elementwise."""
    with np.errstate(over="ignore"):
        result: F64Array = 1.0 / (1.0 + np.exp(-values))
    return result


def gradient_descent(
    design: F64Array, targets: F64Array, alpha: float, iterations: int
) -> F64Array:
    """rusty-machine's batch ``GradientDesc::optimize`` for the logistic cost."""
    rows = design.shape[0]
    parameters = np.full(design.shape[1], INITIAL_PARAMETER)
    previous_cost = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(iterations):
            stop_if_interrupted()
            outputs = sigmoid(design @ parameters)
            cost = (
                -float(np.sum(targets * np.log(outputs) + (1.0 - targets) * np.log(1.0 - outputs)))
                / rows
            )
            if abs(previous_cost - cost) < LEARNING_EPS:
                break
            gradient = (design.T @ (outputs - targets)) / rows
            parameters = parameters - gradient * alpha
            previous_cost = cost
    return parameters


def model_json(alpha: float, iterations: int, parameters: F64Array) -> str:
    """The model as the Teaclave Rust builtin serializes it."""
    values = ",".join(serde_f64(value) for value in parameters.tolist())
    return f'{{"alpha":{serde_f64(alpha)},"iters":{iterations},"parameters":[{values}]}}'


@register(NAME)
def logistic_regression_train(arguments: dict[str, Any], runtime: Runtime) -> str:
    """Train on ``training_data``; write ``model_file``; "Trained N lines of data."."""
    alpha = float_argument(arguments, "alg_alpha")
    iterations = uint_argument(arguments, "alg_iters")
    feature_size = uint_argument(arguments, "feature_size")
    if not alpha > 0.0:
        raise FunctionError("Invalid alg_alpha: the step size must be greater than 0")
    data = read_f64_csv(runtime, INPUT, feature_size + 1)
    features, targets = data[:, :feature_size], data[:, feature_size]
    parameters = gradient_descent(with_bias_column(features), targets, alpha, iterations)
    with runtime.create_output(OUTPUT) as stream:
        stream.write(model_json(alpha, iterations, parameters).encode())
    return f"Trained {len(targets)} lines of data."


__all__ = [
    "INPUT",
    "NAME",
    "OUTPUT",
    "gradient_descent",
    "logistic_regression_train",
    "model_json",
    "sigmoid",
    "with_bias_column",
]
