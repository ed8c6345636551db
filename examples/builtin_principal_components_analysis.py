"""builtin_principal_components_analysis: reduce encrypted data to its main components.

One data owner, ``pca_user``, encrypts 60 rows of 4 correlated features (plus a label
column, which the function drops) and asks for the first 2 principal components of every
row. The transformed rows come back encrypted with the owner's key. Note the function's
name uses underscores.

Usage: python examples/builtin_principal_components_analysis.py
"""

from __future__ import annotations

import numpy as np
from common import (
    DataServer,
    check,
    login,
    new_key,
    output_tags,
    register_users,
    run,
    step,
    task_result,
)

from teaclave.sdk import DataMap, FunctionArgument, FunctionInput, FunctionOutput, OwnerList

USER = "pca_user"
ROWS, FEATURES, COMPONENTS = 60, 4, 2


def main() -> None:
    """Run PCA on encrypted data and check the result's shape and variance."""
    rng = np.random.default_rng(5)
    latent = rng.normal(size=(ROWS, 2))
    mixing = np.array([[1.0, 0.5, 0.2, 0.0], [0.0, 0.3, 1.0, 0.8]])
    x = (latent @ mixing + 0.05 * rng.normal(size=(ROWS, FEATURES))).round(4)
    labels = (latent[:, 0] > 0).astype(int)
    plain = "".join(
        ",".join(str(v) for v in row) + f",{label}\n" for row, label in zip(x, labels, strict=True)
    )
    register_users([USER])
    with login(USER) as client, DataServer() as data:
        function_id = client.register_function(
            "builtin_principal_components_analysis",
            "Native Principal Components Analysis Function",
            "builtin",
            arguments=[FunctionArgument(k) for k in ("n", "center", "feature_size")],
            inputs=[FunctionInput("input_data", "Input data file.")],
            outputs=[FunctionOutput("output_data", "Output data file.")],
        )
        step(f"registered builtin_principal_components_analysis as {function_id}")
        task_id = client.create_task(
            function_id,
            {"n": COMPONENTS, "center": True, "feature_size": FEATURES},
            "builtin",
            inputs_ownership=[OwnerList("input_data", [USER])],
            outputs_ownership=[OwnerList("output_data", [USER])],
        )
        key = new_key()
        url, cmac = data.publish_protected("pca_input.enc", plain.encode(), key)
        input_id = client.register_input_file(url, "teaclave-file-128", key, b"", cmac)
        output_id = client.register_output_file(
            data.url("pca_output.enc"), "teaclave-file-128", key, b""
        )
        client.assign_data_to_task(
            task_id, [DataMap("input_data", input_id)], [DataMap("output_data", output_id)]
        )
        client.invoke_task(task_id)
        step(f"task {task_id}: {ROWS} rows x {FEATURES} features assigned and invoked")
        result = task_result(client, task_id)
        print(f"result: {result!r}")
        expected = f"transform {ROWS} rows * {COMPONENTS} cols lines of data."
        check(result == expected, f"unexpected summary {result!r}")
        tag = output_tags(client, task_id)["output_data"]
        text = data.fetch_protected("pca_output.enc", key, tag).decode()
    projected = np.array([[float(v) for v in line.split(",")] for line in text.splitlines()])
    check(projected.shape == (ROWS, COMPONENTS), f"unexpected shape {projected.shape}")
    kept = projected.var(axis=0, ddof=1).sum() / x.var(axis=0, ddof=1).sum()
    print(f"{USER} decrypted {projected.shape[0]} rows x {projected.shape[1]} components")
    print(f"first rows: {projected[:3].round(4).tolist()}")
    print(f"the 2 components keep {kept:.1%} of the variance")
    check(kept > 0.95, "two components should explain this two-factor data")


if __name__ == "__main__":
    run(main)
