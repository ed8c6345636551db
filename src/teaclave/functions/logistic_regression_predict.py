"""``builtin-logistic-regression-predict``: probabilities from a logistic regression model.

Inputs ``model_file`` (``{"alpha":..,"iters":..,"parameters":[bias, w1, ..., wn]}``, as written
by ``builtin-logistic-regression-train``) and ``data_file`` (CSV rows of exactly ``n`` =
``len(parameters) - 1`` floats). Output ``result_file``: ``sigmoid(bias + w . x)`` per row with
4 decimals. Summary: "Predicted N lines of data."
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from teaclave.functions import FunctionError, register
from teaclave.functions._csv_numbers import read_f64_csv, read_input
from teaclave.functions._float_text import rust_fixed
from teaclave.functions.logistic_regression_train import sigmoid, with_bias_column

if TYPE_CHECKING:
    from teaclave.worker.runtime import Runtime

NAME = "builtin-logistic-regression-predict"
MODEL = "model_file"
DATA = "data_file"
RESULT = "result_file"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def read_parameters(runtime: Runtime) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The model's parameter vector (bias first)."""
    try:
        model = json.loads(read_input(runtime, MODEL), parse_constant=_refuse_constant)
    except ValueError as error:  # includes UnicodeDecodeError and JSONDecodeError
        raise FunctionError(f"invalid logistic regression model in {MODEL}: {error}") from None
    if not isinstance(model, dict) or "parameters" not in model:
        raise FunctionError(f"invalid logistic regression model in {MODEL}: no parameters")
    parameters = model["parameters"]
    if parameters is None:
        raise FunctionError("Model parameter is None")
    if (
        not isinstance(parameters, list)
        or not parameters
        or any(isinstance(p, bool) or not isinstance(p, int | float) for p in parameters)
    ):
        raise FunctionError(
            f"invalid logistic regression model in {MODEL}: parameters is not a list of numbers"
        )
    return np.array(parameters, dtype=np.float64)


@register(NAME)
def logistic_regression_predict(arguments: dict[str, Any], runtime: Runtime) -> str:
    """Score every row of ``data_file``; write ``result_file``. Arguments are ignored."""
    parameters = read_parameters(runtime)
    features = read_f64_csv(runtime, DATA, len(parameters) - 1)
    probabilities = sigmoid(with_bias_column(features) @ parameters)
    lines = rust_fixed(probabilities.tolist(), 4)
    with runtime.create_output(RESULT) as stream:
        stream.write("".join(f"{line}\n" for line in lines).encode())
    return f"Predicted {len(lines)} lines of data."


__all__ = ["DATA", "MODEL", "NAME", "RESULT", "logistic_regression_predict", "read_parameters"]
