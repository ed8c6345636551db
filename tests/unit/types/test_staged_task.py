"""StagedTask: built from a task at invoke time, carried as JSON bytes (spec §2.7, §2.8)."""

from __future__ import annotations

import json
import uuid

import pytest

from teaclave.types.errors import DecodeError, InvalidArgument
from teaclave.types.files import CryptoSchema, FileCrypto, InputFile, OutputFile
from teaclave.types.function import (
    Executor,
    ExecutorType,
    Function,
    FunctionArgument,
    FunctionIo,
)
from teaclave.types.ids import ExternalId
from teaclave.types.task import StagedInput, StagedOutput, StagedTask, TaskState

KEY = bytes(range(16))
IV = bytes(range(12))
TAG = bytes(range(16, 32))


def _function() -> Function:
    return Function(
        name="builtin-echo",
        description="",
        executor_type=ExecutorType.BUILTIN,
        public=True,
        payload=b"payload-v1",
        arguments=[FunctionArgument("message"), FunctionArgument("save_log", "true", False)],
        inputs=[FunctionIo("in")],
        outputs=[FunctionIo("out")],
        owner="fowner",
        user_allowlist=[],
    )


def _staged_task(function: Function) -> TaskState:
    task = TaskState.create(
        creator="alice",
        function=function,
        arguments={"message": "Hello, Teaclave!"},
        executor=Executor.BUILTIN,
        inputs_ownership={"in": frozenset({"alice"})},
        outputs_ownership={"out": frozenset({"alice"})},
    )
    task.assign_data(
        "alice",
        {
            "in": InputFile(
                "http://localhost:6789/in.enc",
                TAG,
                FileCrypto(CryptoSchema.AES_GCM_128, KEY, IV),
                frozenset({"alice"}),
            )
        },
        {
            "out": OutputFile(
                "file:///tmp/out.enc",
                FileCrypto(CryptoSchema.TEACLAVE_FILE_128, KEY),
                frozenset({"alice"}),
            )
        },
    )
    task.stage("alice")
    return task


def test_from_task_takes_the_function_definition_current_at_invoke_time():
    function = _function()
    task = _staged_task(function)
    function.name = "builtin-echo-renamed"
    function.payload = b"payload-v2"
    function.executor_type = ExecutorType.PYTHON
    staged = StagedTask.from_task(task, function)
    assert staged.task_id == task.task_id
    assert staged.function_id == function.id
    assert staged.user_id == "alice"
    assert staged.executor is Executor.BUILTIN
    assert staged.executor_type is ExecutorType.PYTHON
    assert staged.function_name == "builtin-echo-renamed"
    assert staged.function_payload == b"payload-v2"
    assert staged.function_arguments == {"message": "Hello, Teaclave!", "save_log": "true"}
    assert staged.input_data == {
        "in": StagedInput(
            "http://localhost:6789/in.enc", TAG, FileCrypto(CryptoSchema.AES_GCM_128, KEY, IV)
        )
    }
    assert staged.output_data == {
        "out": StagedOutput("file:///tmp/out.enc", FileCrypto(CryptoSchema.TEACLAVE_FILE_128, KEY))
    }


def test_from_task_copies_the_arguments():
    function = _function()
    task = _staged_task(function)
    staged = StagedTask.from_task(task, function)
    staged.function_arguments["message"] = "changed"
    assert task.function_arguments["message"] == "Hello, Teaclave!"


def test_from_task_refuses_a_task_whose_function_id_is_not_a_function():
    function = _function()
    task = _staged_task(function)
    task.function_id = ExternalId("input", function.id)
    with pytest.raises(InvalidArgument, match=r"^invalid function id$"):
        StagedTask.from_task(task, function)


def test_bytes_round_trip():
    function = _function()
    staged = StagedTask.from_task(_staged_task(function), function)
    data = staged.to_bytes()
    assert isinstance(data, bytes)
    assert StagedTask.from_bytes(data) == staged


def test_json_shape_matches_teaclave():
    function = _function()
    task = _staged_task(function)
    value = json.loads(StagedTask.from_task(task, function).to_bytes())
    assert value == {
        "task_id": str(task.task_id),
        "function_id": str(function.id),
        "user_id": "alice",
        "executor": "Builtin",
        "executor_type": "Builtin",
        "function_name": "builtin-echo",
        "function_arguments": {"inner": {"message": "Hello, Teaclave!", "save_log": "true"}},
        "function_payload": list(b"payload-v1"),
        "input_data": {
            "inner": {
                "in": {
                    "url": "http://localhost:6789/in.enc",
                    "cmac": {"tag": list(TAG)},
                    "crypto_info": {"AesGcm128": {"key": list(KEY), "iv": list(IV)}},
                }
            }
        },
        "output_data": {
            "inner": {
                "out": {
                    "url": "file:///tmp/out.enc",
                    "crypto_info": {"TeaclaveFile128": {"key": list(KEY)}},
                }
            }
        },
    }


def test_mesapy_variant_name_and_empty_maps():
    staged = StagedTask(
        task_id=uuid.uuid4(),
        function_id=uuid.uuid4(),
        user_id="u",
        executor=Executor.MESAPY,
        executor_type=ExecutorType.PYTHON,
        function_name="f",
        function_arguments={"n": 4, "ratio": 0.5},
        function_payload=b"def entrypoint(argv):\n    return ''\n",
    )
    value = json.loads(staged.to_bytes())
    assert value["executor"] == "MesaPy"
    assert value["executor_type"] == "Python"
    assert value["input_data"] == {"inner": {}}
    assert value["output_data"] == {"inner": {}}
    assert value["function_arguments"] == {"inner": {"n": 4, "ratio": 0.5}}
    assert StagedTask.from_bytes(staged.to_bytes()) == staged


@pytest.mark.parametrize("data", [b"", b"not json", b"\xff\xfe", b"[1, 2]", b"{}"])
def test_from_bytes_refuses_garbage_with_a_decode_error(data: bytes):
    with pytest.raises(DecodeError):
        StagedTask.from_bytes(data)
