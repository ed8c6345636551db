"""Numeric builtins through the whole platform, on encrypted inputs served over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from platform_harness import (
    TEACLAVE_FIXTURES,
    Platform,
    fetch_protected,
    publish_encrypted,
    root_of,
    served_platform,
    skip_without,
)

from teaclave.cli.file_server import FileServer
from teaclave.sdk import (
    DataMap,
    FrontendService,
    FunctionArgument,
    FunctionInput,
    FunctionOutput,
    OwnerList,
    TaskStatus,
)

FIXTURES = TEACLAVE_FIXTURES / "functions"
pytestmark = skip_without(FIXTURES)
TRAIN_ENC_CMAC = "860030495909b84864b991865e9ad94f"
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
KEY = bytes(16)
OUTPUT_KEY = bytes(range(16))


@pytest.fixture(scope="module")
def numeric_platform(
    tmp_path_factory: pytest.TempPathFactory, served: FileServer
) -> Iterator[Platform]:
    with served_platform(tmp_path_factory.mktemp("state"), served) as platform:
        yield platform


def run_task(
    client: FrontendService,
    user: str,
    server: FileServer,
    function_id: str,
    arguments: dict[str, Any],
    inputs: dict[str, tuple[str, bytes]],
    output: str,
) -> tuple[str, str]:
    """Create, wire, invoke and wait; return (task id, output file name on the server)."""
    task_id = client.create_task(
        function_id,
        arguments,
        "builtin",
        inputs_ownership=[OwnerList(name, [user]) for name in inputs],
        outputs_ownership=[OwnerList(output, [user])],
    )
    input_maps = [
        DataMap(
            name,
            client.register_input_file(server.url(file), "teaclave-file-128", KEY, b"", cmac),
        )
        for name, (file, cmac) in inputs.items()
    ]
    out_name = f"{output}-{task_id}.enc"
    output_id = client.register_output_file(
        server.url(out_name), "teaclave-file-128", OUTPUT_KEY, b""
    )
    client.assign_data_to_task(task_id, input_maps, [DataMap(output, output_id)])
    client.invoke_task(task_id)
    return task_id, out_name


def register_gbdt_train(client: FrontendService, **defaults: str) -> str:
    arguments = [
        FunctionArgument(key, defaults[key], allow_overwrite=False)
        if key in defaults
        else FunctionArgument(key)
        for key in GBDT_ARGUMENTS
    ]
    return client.register_function(
        "builtin-gbdt-train",
        "gbdt training",
        "builtin",
        arguments=arguments,
        inputs=[FunctionInput("training_data", "")],
        outputs=[FunctionOutput("trained_model", "")],
    )


def test_gbdt_train_on_the_encrypted_fixture(
    numeric_platform: Platform, served: FileServer
) -> None:
    (root_of(served) / "train.enc").write_bytes((FIXTURES / "gbdt_training/train.enc").read_bytes())
    user = numeric_platform.new_user()
    with numeric_platform.frontend(user) as client:
        task_id, out_name = run_task(
            client,
            user,
            served,
            register_gbdt_train(client),
            GBDT_ARGUMENTS,
            {"training_data": ("train.enc", bytes.fromhex(TRAIN_ENC_CMAC))},
            "trained_model",
        )
        assert client.get_task_result(task_id, timeout=60) == b"Trained 120 lines of data."
        tags = dict(client.get_task_response(task_id).result.Ok.tags_map)
        model = fetch_protected(served, out_name, OUTPUT_KEY, tags["trained_model"])
    assert model == (FIXTURES / "gbdt_training/expected_model.txt").read_bytes()


def test_logistic_regression_predict(numeric_platform: Platform, served: FileServer) -> None:
    base = FIXTURES / "logistic_regression_prediction"
    model_cmac = publish_encrypted(served, "lr-model.enc", (base / "model.txt").read_bytes(), KEY)
    data_cmac = publish_encrypted(
        served, "lr-input.enc", (base / "predict_input.txt").read_bytes(), KEY
    )
    user = numeric_platform.new_user()
    with numeric_platform.frontend(user) as client:
        function_id = client.register_function(
            "builtin-logistic-regression-predict",
            "lr prediction",
            "builtin",
            inputs=[FunctionInput("model_file", ""), FunctionInput("data_file", "")],
            outputs=[FunctionOutput("result_file", "")],
        )
        task_id, out_name = run_task(
            client,
            user,
            served,
            function_id,
            {},
            {"model_file": ("lr-model.enc", model_cmac), "data_file": ("lr-input.enc", data_cmac)},
            "result_file",
        )
        assert client.get_task_result(task_id, timeout=60) == b"Predicted 5 lines of data."
        tags = dict(client.get_task_response(task_id).result.Ok.tags_map)
        result = fetch_protected(served, out_name, OUTPUT_KEY, tags["result_file"])
    assert result == (base / "expected_result.txt").read_bytes()


def test_string_default_for_a_numeric_argument_fails(
    numeric_platform: Platform, served: FileServer
) -> None:
    """Spec §2.9: a non-overwritable default arrives as "4" and does not deserialize."""
    (root_of(served) / "train.enc").write_bytes((FIXTURES / "gbdt_training/train.enc").read_bytes())
    user = numeric_platform.new_user()
    with numeric_platform.frontend(user) as client:
        function_id = register_gbdt_train(client, feature_size="4")
        arguments = {k: v for k, v in GBDT_ARGUMENTS.items() if k != "feature_size"}
        task_id, out_name = run_task(
            client,
            user,
            served,
            function_id,
            arguments,
            {"training_data": ("train.enc", bytes.fromhex(TRAIN_ENC_CMAC))},
            "trained_model",
        )
        task = client.wait_task(task_id, timeout=60)
    assert TaskStatus(task.status) is TaskStatus.Failed
    assert "Cannot deserialize arguments: feature_size" in task.result.Err.reason
    assert not (root_of(served) / out_name).exists()
