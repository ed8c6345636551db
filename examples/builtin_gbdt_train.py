"""builtin-gbdt-train: train a gradient-boosted decision tree on encrypted data.

One data owner, ``gbdt_user``, encrypts a CSV training set (4 features and a label per row,
generated here), registers it as the task's input and registers where the trained model
should go, encrypted with a key of its own. The single participant approves and invokes; the
platform trains and uploads the encrypted model, which the owner downloads and decrypts.

Usage: python examples/builtin_gbdt_train.py
"""

from __future__ import annotations

import json
from typing import Any

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

from teaclave.sdk import (
    DataMap,
    FrontendService,
    FunctionArgument,
    FunctionInput,
    FunctionOutput,
    OwnerList,
)

USER = "gbdt_user"
#: Teaclave's example arguments (numbers: the builtin deserializes typed values).
GBDT_ARGUMENTS: dict[str, Any] = {
    "feature_size": 4,
    "max_depth": 4,
    "iterations": 100,
    "shrinkage": 0.1,
    "feature_sample_ratio": 1.0,
    "data_sample_ratio": 1.0,
    "min_leaf_size": 1,
    "loss": "LAD",
    "training_optimization_level": 2,
}


def sample_data(rows: int, seed: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Features in [0, 10) and a 0/1 label (1 when features 0 and 2 sum to over 10)."""
    rng = np.random.default_rng(seed)
    features = rng.uniform(0, 10, size=(rows, 4)).round(2)
    labels = (features[:, 0] + features[:, 2] > 10).astype(int)
    return features, labels


def to_csv(features: np.ndarray[Any, Any], labels: np.ndarray[Any, Any] | None = None) -> bytes:
    """Header-less CSV; the label, when given, is the last column."""
    lines = []
    for index, row in enumerate(features):
        cells = [f"{v:.2f}" for v in row]
        if labels is not None:
            cells.append(str(int(labels[index])))
        lines.append(",".join(cells) + "\n")
    return "".join(lines).encode()


def register_gbdt_train(client: FrontendService) -> str:
    """Register builtin-gbdt-train with every argument overwritable; its function id."""
    return client.register_function(
        "builtin-gbdt-train",
        "Native Gradient Boosting Decision Tree Training Function",
        "builtin",
        arguments=[FunctionArgument(key) for key in GBDT_ARGUMENTS],
        inputs=[FunctionInput("training_data", "Input traning data file.")],
        outputs=[FunctionOutput("trained_model", "Output trained model.")],
    )


def train(client: FrontendService, data: DataServer, key: bytes, rows: int) -> tuple[str, bytes]:
    """Run one training task; (result summary, tag of the uploaded model ``model.enc``)."""
    function_id = register_gbdt_train(client)
    step(f"{USER} registered builtin-gbdt-train as {function_id}")
    task_id = client.create_task(
        function_id,
        GBDT_ARGUMENTS,
        "builtin",
        inputs_ownership=[OwnerList("training_data", [USER])],
        outputs_ownership=[OwnerList("trained_model", [USER])],
    )
    step(f"created task {task_id}")
    features, labels = sample_data(rows, seed=7)
    url, cmac = data.publish_protected("train.enc", to_csv(features, labels), key)
    input_id = client.register_input_file(url, "teaclave-file-128", key, b"", cmac)
    output_id = client.register_output_file(data.url("model.enc"), "teaclave-file-128", key, b"")
    client.assign_data_to_task(
        task_id, [DataMap("training_data", input_id)], [DataMap("trained_model", output_id)]
    )
    step(f"encrypted {rows} training rows (cmac {cmac.hex()}), registered and assigned them")
    client.approve_task(task_id)
    client.invoke_task(task_id)
    step("approved and invoked")
    result = task_result(client, task_id)
    return result, output_tags(client, task_id)["trained_model"]


def main() -> None:
    """Train a GBDT model on encrypted data and fetch the encrypted model."""
    register_users([USER])
    rows = 120
    with login(USER) as client, DataServer() as data:
        key = new_key()
        result, tag = train(client, data, key, rows)
        print(f"result: {result!r}")
        check(result == f"Trained {rows} lines of data.", f"unexpected summary {result!r}")
        model = json.loads(data.fetch_protected("model.enc", key, tag))
        print(
            f"{USER} decrypted the model: {len(model['trees'])} trees, "
            f"loss {model['conf']['loss']}, max depth {model['conf']['max_depth']}"
        )
        check(len(model["trees"]) == GBDT_ARGUMENTS["iterations"], "one tree per iteration")


if __name__ == "__main__":
    run(main)
