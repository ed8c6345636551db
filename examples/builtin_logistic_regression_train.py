"""builtin-logistic-regression-train: fit a logistic regression on encrypted data.

One data owner, ``lr_user``, encrypts 100 labelled rows (3 features, label 0/1, generated
here), registers them and the model's destination, and runs the training task. The
encrypted model (``{"alpha", "iters", "parameters": [bias, w1, w2, w3]}``) comes back to the
owner, who decrypts it and checks its accuracy on the training rows locally.

Usage: python examples/builtin_logistic_regression_train.py
"""

from __future__ import annotations

import json
import math

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

USER = "lr_user"
FEATURES = 3
ROWS = 100


def main() -> None:
    """Train a logistic regression model and check it."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(ROWS, FEATURES)).round(4)
    y = (x @ np.array([2.0, -1.0, 0.5]) + 0.3 > 0).astype(int)
    plain = "".join(
        ",".join(f"{v}" for v in row) + f",{label}\n" for row, label in zip(x, y, strict=True)
    )
    register_users([USER])
    with login(USER) as client, DataServer() as data:
        function_id = client.register_function(
            "builtin-logistic-regression-train",
            "Native Logistic Regression Training Function",
            "builtin",
            arguments=[FunctionArgument(k) for k in ("alg_alpha", "alg_iters", "feature_size")],
            inputs=[FunctionInput("training_data", "Input traning data file.")],
            outputs=[FunctionOutput("model_file", "Output trained model.")],
        )
        step(f"registered builtin-logistic-regression-train as {function_id}")
        task_id = client.create_task(
            function_id,
            {"alg_alpha": 0.3, "alg_iters": 100, "feature_size": FEATURES},
            "builtin",
            inputs_ownership=[OwnerList("training_data", [USER])],
            outputs_ownership=[OwnerList("model_file", [USER])],
        )
        key = new_key()
        url, cmac = data.publish_protected("lr_train.enc", plain.encode(), key)
        input_id = client.register_input_file(url, "teaclave-file-128", key, b"", cmac)
        output_id = client.register_output_file(
            data.url("lr_model.enc"), "teaclave-file-128", key, b""
        )
        client.assign_data_to_task(
            task_id, [DataMap("training_data", input_id)], [DataMap("model_file", output_id)]
        )
        client.approve_task(task_id)
        client.invoke_task(task_id)
        step(f"task {task_id}: {ROWS} encrypted rows assigned, approved and invoked")
        result = task_result(client, task_id)
        print(f"result: {result!r}")
        check(result == f"Trained {ROWS} lines of data.", f"unexpected summary {result!r}")
        tag = output_tags(client, task_id)["model_file"]
        model = json.loads(data.fetch_protected("lr_model.enc", key, tag))
    parameters = model["parameters"]
    print(f"{USER} decrypted the model: parameters {[round(p, 4) for p in parameters]}")
    check(len(parameters) == FEATURES + 1, "bias plus one weight per feature")
    scores = [
        parameters[0] + sum(w * v for w, v in zip(parameters[1:], row, strict=True)) for row in x
    ]
    predicted = [1 if 1 / (1 + math.exp(-s)) >= 0.5 else 0 for s in scores]
    accuracy = sum(p == t for p, t in zip(predicted, y, strict=True)) / ROWS
    print(f"training accuracy: {accuracy:.2f}")
    check(accuracy >= 0.8, "the model should separate this data well")


if __name__ == "__main__":
    run(main)
