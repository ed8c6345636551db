"""``builtin_principal_components_analysis``: fit PCA on the input and project it.

Arguments: ``n`` (components kept, at most ``feature_size``), ``center`` (subtract the column
means first), ``feature_size``. Input ``input_data``: CSV lines of ``feature_size + 1`` floats;
the last column (a label) is dropped. Output ``output_data``: each row's ``n`` coordinates,
comma-separated, in Rust ``{:?}`` float text, one row per line. Summary:
"transform R rows * C cols lines of data."

As rusty-machine's ``PCA``: the components are the right singular vectors of the (centered)
data, by decreasing singular value, and the output is ``data @ components[:, :n]``. The
singular vectors come from LAPACK rather than rulinalg's Golub-Reinsch, so values agree to
rounding (about 1e-15) and a component may come out with the opposite sign. rusty-machine
cannot handle fewer rows than features (its transposed branch fails); here that case is a
plain PCA too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from teaclave.functions import FunctionError, register
from teaclave.functions._csv_numbers import read_f64_csv
from teaclave.functions._float_text import rust_debug_f64
from teaclave.functions._typed_args import bool_argument, uint_argument

if TYPE_CHECKING:
    from teaclave.worker.runtime import Runtime

NAME = "builtin_principal_components_analysis"
INPUT = "input_data"
OUTPUT = "output_data"

F64Array = npt.NDArray[np.float64]


def principal_components(data: F64Array, count: int, center: bool) -> F64Array:
    """Project ``data`` (rows x features) on its first ``count`` principal components."""
    rows, features = data.shape
    if count > features:
        raise FunctionError(
            "Input data must have equal or larger number of columns than n"
            f" (n = {count}, feature_size = {features})"
        )
    if features == 0:
        return np.zeros((rows, 0))
    if not np.isfinite(data).all():
        raise FunctionError(f"{INPUT}: PCA needs finite values (NaN or infinity found)")
    centered = data - data.mean(axis=0) if center else data
    try:
        _, _, rotation = np.linalg.svd(centered, full_matrices=rows < features)
    except np.linalg.LinAlgError:
        raise FunctionError("Could not compute SVD.") from None
    projected: F64Array = centered @ rotation[:count].T
    return projected


@register(NAME)
def principal_components_analysis(arguments: dict[str, Any], runtime: Runtime) -> str:
    """Fit and transform ``input_data``; write ``output_data``."""
    count = uint_argument(arguments, "n")
    center = bool_argument(arguments, "center")
    feature_size = uint_argument(arguments, "feature_size")
    data = read_f64_csv(runtime, INPUT, feature_size + 1)
    projected = principal_components(data[:, :feature_size], count, center)
    text = "".join(
        ",".join(rust_debug_f64(value) for value in row) + "\n" for row in projected.tolist()
    )
    with runtime.create_output(OUTPUT) as stream:
        stream.write(text.encode())
    rows, cols = projected.shape
    return f"transform {rows} rows * {cols} cols lines of data."


__all__ = ["INPUT", "NAME", "OUTPUT", "principal_components", "principal_components_analysis"]
