"""builtin-gbdt-predict: train a model, then reuse the encrypted model as a new task's input.

Two chained tasks of one data owner (``gbdt_user``), like Teaclave's model-reuse flow: the
training task (see ``builtin_gbdt_train.py``) uploads an encrypted model; the owner registers
that same file — its URL, its key and the tag the first task reported — as an input of a
``builtin-gbdt-predict`` task together with new, unlabelled rows, and gets the encrypted
predictions back. The model is never decrypted outside the platform.

Usage: python examples/builtin_gbdt_predict.py
"""

from __future__ import annotations

from builtin_gbdt_train import USER, sample_data, to_csv, train
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


def main() -> None:
    """Train, then predict with the trained (still encrypted) model."""
    register_users([USER])
    with login(USER) as client, DataServer() as data:
        key = new_key()
        summary, model_tag = train(client, data, key, rows=120)
        step(f"training task: {summary!r}; model tag {model_tag.hex()}")
        function_id = client.register_function(
            "builtin-gbdt-predict",
            "Native Gradient Boosting Decision Tree Prediction Function",
            "builtin",
            inputs=[
                FunctionInput("model_file", "Model from the training task."),
                FunctionInput("data_file", "Rows to predict."),
            ],
            outputs=[FunctionOutput("result_file", "One prediction per row.")],
        )
        step(f"registered builtin-gbdt-predict as {function_id}")
        task_id = client.create_task(
            function_id,
            {},
            "builtin",
            inputs_ownership=[
                OwnerList("model_file", [USER]),
                OwnerList("data_file", [USER]),
            ],
            outputs_ownership=[OwnerList("result_file", [USER])],
        )
        model_id = client.register_input_file(
            data.url("model.enc"), "teaclave-file-128", key, b"", model_tag
        )
        step(f"registered the training output as input {model_id} (same URL, key and tag)")
        features, labels = sample_data(10, seed=99)
        url, cmac = data.publish_protected("predict.enc", to_csv(features), key)
        rows_id = client.register_input_file(url, "teaclave-file-128", key, b"", cmac)
        output_id = client.register_output_file(
            data.url("predictions.enc"), "teaclave-file-128", key, b""
        )
        client.assign_data_to_task(
            task_id,
            [DataMap("model_file", model_id), DataMap("data_file", rows_id)],
            [DataMap("result_file", output_id)],
        )
        client.invoke_task(task_id)
        step(f"task {task_id}: assigned {len(features)} new rows and invoked")
        result = task_result(client, task_id)
        print(f"result: {result!r}")
        check(result == f"Predict result has {len(features)} lines of data.", "unexpected summary")
        tag = output_tags(client, task_id)["result_file"]
        predictions = [
            float(line) for line in data.fetch_protected("predictions.enc", key, tag).split()
        ]
        for value, label in zip(predictions, labels, strict=True):
            print(f"  predicted {value:7.4f}   true label {label}")
        hits = sum(round(v) == label for v, label in zip(predictions, labels, strict=True))
        print(f"{hits} of {len(labels)} predictions round to the true label")
        check(len(predictions) == len(features), "one prediction per row")


if __name__ == "__main__":
    run(main)
