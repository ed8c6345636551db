"""``builtin-gbdt-predict``: score CSV feature rows with a ``gbdt`` crate model.

Inputs ``model_file`` (the JSON written by ``builtin-gbdt-train`` / the Rust crate) and
``data_file`` (CSV feature rows, no label; every row the same width, at least as wide as the
model's highest feature index). Output ``result_file``: one prediction per line with 10
decimals (Rust ``{:.10}`` of the ``f32`` value). Summary: "Predict result has N lines of data."
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from teaclave.functions import register
from teaclave.functions._csv_numbers import read_f32_csv, read_input
from teaclave.functions._float_text import rust_fixed
from teaclave.functions.gbdt_model import GbdtModel, ModelError, model_from_json

if TYPE_CHECKING:
    from teaclave.worker.runtime import Runtime

NAME = "builtin-gbdt-predict"
MODEL = "model_file"
DATA = "data_file"
RESULT = "result_file"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def read_model(runtime: Runtime, name: str = MODEL) -> GbdtModel:
    """Parse and validate the model of input ``name``."""
    raw = read_input(runtime, name)
    try:
        document = json.loads(raw, parse_constant=_refuse_constant)
    except ValueError as error:  # includes UnicodeDecodeError and JSONDecodeError
        raise ModelError(f"invalid gbdt model in {name}: {error}") from None
    return model_from_json(document)


@register(NAME)
def gbdt_predict(arguments: dict[str, Any], runtime: Runtime) -> str:
    """Predict every row of ``data_file``; write ``result_file``. Arguments are ignored."""
    model = read_model(runtime)
    features = read_f32_csv(runtime, DATA, None)
    predictions = model.predict(features)
    lines = rust_fixed(predictions.tolist(), 10)
    with runtime.create_output(RESULT) as stream:
        stream.write("".join(f"{line}\n" for line in lines).encode())
    return f"Predict result has {len(lines)} lines of data."


__all__ = ["DATA", "MODEL", "NAME", "RESULT", "gbdt_predict", "read_model"]
