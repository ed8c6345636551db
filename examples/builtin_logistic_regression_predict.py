"""builtin-logistic-regression-predict: one party's model scores another party's data.

``lr_model_owner`` owns a trained logistic regression model; ``lr_data_owner`` owns rows it
wants scored. The data owner registers the function and creates the task; the model owner
registers and assigns its (encrypted) model; the data owner assigns its rows and the output;
both approve. The probabilities go to the data owner only, encrypted with its key: the
model owner never sees the rows, the data owner never sees the model.

Usage: python examples/builtin_logistic_regression_predict.py
"""

from __future__ import annotations

import json
import math

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

from teaclave.sdk import DataMap, FunctionInput, FunctionOutput, OwnerList

MODEL_OWNER, DATA_OWNER = "lr_model_owner", "lr_data_owner"
#: The model, in the format builtin-logistic-regression-train writes (bias first).
PARAMETERS = [-0.5, 1.8, -0.9, 0.4]
MODEL = {"alpha": 0.3, "iters": 100, "parameters": PARAMETERS}
ROWS = [[0.5, 1.2, -0.3], [2.1, -0.4, 0.9], [-1.5, 0.2, 1.1], [0.0, 0.0, 0.0], [1.0, 2.5, -2.0]]


def main() -> None:
    """Score the data owner's rows with the model owner's model."""
    register_users([MODEL_OWNER, DATA_OWNER])
    model_owner, data_owner = login(MODEL_OWNER), login(DATA_OWNER)
    function_id = data_owner.register_function(
        "builtin-logistic-regression-predict",
        "Native Logistic Regression Prediction Function",
        "builtin",
        inputs=[
            FunctionInput("model_file", "Model input file."),
            FunctionInput("data_file", "Data input file."),
        ],
        outputs=[FunctionOutput("result_file", "Output result file.")],
    )
    step(f"{DATA_OWNER} registered builtin-logistic-regression-predict as {function_id}")
    task_id = data_owner.create_task(
        function_id,
        {},
        "builtin",
        inputs_ownership=[
            OwnerList("model_file", [MODEL_OWNER]),
            OwnerList("data_file", [DATA_OWNER]),
        ],
        outputs_ownership=[OwnerList("result_file", [DATA_OWNER])],
    )
    step(f"{DATA_OWNER} created task {task_id}")
    model_key, data_key = new_key(), new_key()
    with DataServer() as data:
        url, cmac = data.publish_protected("model.enc", json.dumps(MODEL).encode(), model_key)
        model_id = model_owner.register_input_file(url, "teaclave-file-128", model_key, b"", cmac)
        model_owner.assign_data_to_task(task_id, [DataMap("model_file", model_id)], [])
        step(f"{MODEL_OWNER} registered and assigned its encrypted model")
        rows = "".join(",".join(str(v) for v in row) + "\n" for row in ROWS).encode()
        url, cmac = data.publish_protected("rows.enc", rows, data_key)
        rows_id = data_owner.register_input_file(url, "teaclave-file-128", data_key, b"", cmac)
        output_id = data_owner.register_output_file(
            data.url("scores.enc"), "teaclave-file-128", data_key, b""
        )
        data_owner.assign_data_to_task(
            task_id, [DataMap("data_file", rows_id)], [DataMap("result_file", output_id)]
        )
        step(f"{DATA_OWNER} registered and assigned {len(ROWS)} rows and the output file")
        model_owner.approve_task(task_id)
        data_owner.approve_task(task_id)
        data_owner.invoke_task(task_id)
        step("both approved; invoked")
        result = task_result(data_owner, task_id)
        print(f"result: {result!r}")
        check(result == f"Predicted {len(ROWS)} lines of data.", f"unexpected summary {result!r}")
        tag = output_tags(data_owner, task_id)["result_file"]
        scores = data.fetch_protected("scores.enc", data_key, tag).decode().split()
    bias, *weights = PARAMETERS
    for row, score in zip(ROWS, scores, strict=True):
        expected = 1 / (
            1 + math.exp(-(bias + sum(w * v for w, v in zip(weights, row, strict=True))))
        )
        print(f"  {row} -> {score}")
        check(abs(float(score) - expected) < 1e-4, f"expected {expected:.4f} for {row}")
    model_owner.close()
    data_owner.close()


if __name__ == "__main__":
    run(main)
