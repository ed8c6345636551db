"""``Worker``: the executor/runtime registries and one invocation."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import pytest

from teaclave.crypto.errors import CryptoError
from teaclave.types.function import Executor, ExecutorType
from teaclave.types.task import StagedTask
from teaclave.worker import (
    NoFilesRuntime,
    Runtime,
    StagedFile,
    StagedFiles,
    StagedFunction,
    Worker,
    WorkerError,
)
from teaclave.worker.protected_runtime import ProtectedRuntime
from teaclave.worker.worker import parse_save_log


class RecordingExecutor:
    def __init__(self, summary: str = "summary") -> None:
        self.summary = summary
        self.calls: list[tuple[str, dict[str, Any], bytes, Runtime]] = []

    def execute(
        self, name: str, arguments: dict[str, Any], payload: bytes, runtime: Runtime
    ) -> str:
        self.calls.append((name, arguments, payload, runtime))
        return self.summary


def function(**changes: Any) -> StagedFunction:
    base: dict[str, Any] = {
        "name": "builtin-echo",
        "arguments": {"message": "Hello, Teaclave!"},
        "payload": b"",
        "executor_type": ExecutorType.BUILTIN,
        "executor": Executor.BUILTIN,
    }
    base.update(changes)
    return StagedFunction(**base)


def test_default_worker_runs_builtin_echo() -> None:
    outputs = Worker.default().invoke(function())
    assert outputs.return_value == b"Hello, Teaclave!"
    assert outputs.tags_map == {}
    assert outputs.log == []


def test_save_log_captures_the_function_log() -> None:
    outputs = Worker.default().invoke(
        function(arguments={"message": "Hello, Teaclave Tests!", "save_log": "true"})
    )
    assert outputs.log == ["[INFO teaclave_function::echo] Hello, Teaclave Tests!"]


def test_unregistered_pair_is_not_available() -> None:
    worker = Worker()  # nothing registered
    with pytest.raises(WorkerError, match=r"^function not available: \(Python, MesaPy\)$"):
        worker.invoke(function(executor_type=ExecutorType.PYTHON, executor=Executor.MESAPY))
    # A mismatched pair is refused by the default worker too, although both halves exist.
    with pytest.raises(WorkerError, match=r"function not available: \(Builtin, MesaPy\)"):
        Worker.default().invoke(function(executor=Executor.MESAPY))


def test_default_worker_registers_every_executor_pair() -> None:
    worker = Worker.default()
    pairs = set(worker.executors) | set(worker.unavailable)
    assert pairs >= {
        (ExecutorType.BUILTIN, Executor.BUILTIN),
        (ExecutorType.WAMR, Executor.WAMR),
        (ExecutorType.PYTHON, Executor.MESAPY),
    }


def test_executors_are_registered_by_pair() -> None:
    worker = Worker.default()
    wasm = RecordingExecutor("7")
    worker.register_executor(ExecutorType.WAMR, Executor.WAMR, wasm)
    outputs = worker.invoke(
        function(
            name="m", executor_type=ExecutorType.WAMR, executor=Executor.WAMR, payload=b"\0asm"
        )
    )
    assert outputs.return_value == b"7"
    ((name, arguments, payload, runtime),) = wasm.calls
    assert (name, arguments, payload) == ("m", {"message": "Hello, Teaclave!"}, b"\0asm")
    assert isinstance(runtime, ProtectedRuntime)


def test_runtimes_are_chosen_by_name() -> None:
    worker = Worker()
    executor = RecordingExecutor()
    worker.register_executor(ExecutorType.BUILTIN, Executor.BUILTIN, executor)
    seen: list[tuple[Mapping[str, StagedFile], Mapping[str, StagedFile]]] = []

    def factory(inputs: Mapping[str, StagedFile], outputs: Mapping[str, StagedFile]) -> Runtime:
        seen.append((inputs, outputs))
        return NoFilesRuntime()

    worker.register_runtime("raw-io", factory)
    with pytest.raises(WorkerError, match="runtime not available: 'default'"):
        worker.invoke(function())
    worker.invoke(function(runtime_name="raw-io"))
    assert seen == [({}, {})]


def test_default_runtime_reads_and_writes_protected_files(tmp_path: Any) -> None:
    from teaclave.crypto.protected_fs import ProtectedFileReader, ProtectedFileWriter
    from teaclave.types.files import FileCrypto

    source, target = tmp_path / "in.enc", tmp_path / "out.enc"
    crypto = FileCrypto.random_protected()
    with ProtectedFileWriter(source, crypto.key) as writer:
        writer.write(b"payload")
    tag = writer.close()
    inputs = {"in": StagedFile(source, crypto, tag)}
    outputs = {"out": StagedFile(target, crypto)}
    runtime = ProtectedRuntime(inputs, outputs)
    with runtime.open_input("in") as src, runtime.create_output("out") as dst:
        dst.write(src.read().upper())
    with ProtectedFileReader(target, crypto.key) as reader:
        assert reader.read() == b"PAYLOAD"
    wrong_tag = {"in": StagedFile(source, crypto, bytes(16))}
    with pytest.raises(CryptoError):
        ProtectedRuntime(wrong_tag, {}).open_input("in")


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({}, False),
        ({"save_log": "true"}, True),
        ({"save_log": "false"}, False),
        ({"save_log": True}, True),
    ],
)
def test_parse_save_log(arguments: dict[str, Any], expected: bool) -> None:
    assert parse_save_log(arguments) is expected


def test_invalid_save_log_fails_before_running() -> None:
    worker = Worker()
    executor = RecordingExecutor()
    worker.register_executor(ExecutorType.BUILTIN, Executor.BUILTIN, executor)
    worker.register_runtime("default", lambda i, o: NoFilesRuntime())
    with pytest.raises(WorkerError, match="save_log"):
        worker.invoke(function(arguments={"save_log": "yes"}))
    assert executor.calls == []


def test_staged_function_from_staged_task(tmp_path: Any) -> None:
    from teaclave.types.files import CryptoSchema, FileCrypto

    task = StagedTask(
        task_id=uuid.uuid4(),
        function_id=uuid.uuid4(),
        user_id="u",
        executor=Executor.MESAPY,
        executor_type=ExecutorType.PYTHON,
        function_name="f",
        function_arguments={"a": 1},
        function_payload=b"def entrypoint(argv): pass",
    )
    out = StagedFile(tmp_path / "o", FileCrypto(CryptoSchema.TEACLAVE_FILE_128, bytes(16)))
    staged = StagedFunction.from_staged_task(task, StagedFiles(outputs={"o": out}))
    assert staged.name == "f"
    assert staged.arguments == {"a": 1}
    assert staged.payload == b"def entrypoint(argv): pass"
    assert (staged.executor_type, staged.executor) == (ExecutorType.PYTHON, Executor.MESAPY)
    assert staged.output_files == {"o": out} and staged.input_files == {}
    assert staged.runtime_name == "default"
