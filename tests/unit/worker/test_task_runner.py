"""``TaskRunner``: file staging seam, results, failures."""

from __future__ import annotations

import uuid
from typing import Any

from teaclave.functions import BUILTIN_FUNCTIONS
from teaclave.types.files import CryptoSchema, FileCrypto
from teaclave.types.function import Executor, ExecutorType
from teaclave.types.task import StagedInput, StagedOutput, StagedTask
from teaclave.worker import (
    RawIoRuntime,
    Runtime,
    StagedFile,
    StagedFiles,
    TaskRunner,
    Worker,
)
from teaclave.worker.staging import FILE_STAGING_UNAVAILABLE


def staged_task(name: str = "builtin-echo", **arguments: Any) -> StagedTask:
    return StagedTask(
        task_id=uuid.uuid4(),
        function_id=uuid.uuid4(),
        user_id="u",
        executor=Executor.BUILTIN,
        executor_type=ExecutorType.BUILTIN,
        function_name=name,
        function_arguments=arguments or {"message": "Hello, Teaclave!"},
        function_payload=b"",
    )


def test_echo_task_succeeds() -> None:
    result = TaskRunner().run(staged_task(message="hi", save_log="true"))
    assert result.ok is not None
    assert result.ok.return_value == b"hi"
    assert result.ok.log == ["[INFO teaclave_function::echo] hi"]


def test_failures_become_err_results() -> None:
    def broken(arguments: dict[str, Any], runtime: Runtime) -> str:
        raise RuntimeError("")

    BUILTIN_FUNCTIONS["test-runner-broken"] = broken
    try:
        result = TaskRunner().run(staged_task("test-runner-broken"))
    finally:
        del BUILTIN_FUNCTIONS["test-runner-broken"]
    assert result.err == "RuntimeError"  # never an empty reason


def test_tasks_with_files_are_refused_by_the_default_stager() -> None:
    with_input = staged_task()
    with_input.input_data = {
        "in": StagedInput("file:///x", bytes(16), FileCrypto(CryptoSchema.RAW))
    }
    with_output = staged_task()
    with_output.output_data = {"out": StagedOutput("file:///y", FileCrypto(CryptoSchema.RAW))}
    for task in (with_input, with_output):
        assert TaskRunner().run(task).err == FILE_STAGING_UNAVAILABLE


class FakeStager:
    """A stager staging plain files in a directory (what the file agent will plug in)."""

    def __init__(self, directory: Any) -> None:
        self.directory = directory
        self.cleaned: list[uuid.UUID] = []

    def stage(self, task: StagedTask) -> StagedFiles:
        raw = FileCrypto(CryptoSchema.RAW)
        inputs = {}
        for name in task.input_data:
            path = self.directory / f"{name}.in"
            path.write_bytes(b"staged input")
            inputs[name] = StagedFile(path, raw)
        outputs = {n: StagedFile(self.directory / f"{n}.out", raw) for n in task.output_data}
        return StagedFiles(inputs, outputs)

    def finalize(self, task: StagedTask, files: StagedFiles) -> dict[str, bytes]:
        return {n: f.path.read_bytes()[:16].ljust(16, b"\0") for n, f in files.outputs.items()}

    def cleanup(self, task: StagedTask, files: StagedFiles) -> None:
        self.cleaned.append(task.task_id)


def test_a_stager_plugs_in_without_touching_the_runner(tmp_path: Any) -> None:
    def copy(arguments: dict[str, Any], runtime: Runtime) -> str:
        with runtime.open_input("in") as src, runtime.create_output("out") as dst:
            dst.write(src.read())
        return "copied"

    worker = Worker.default()
    worker.register_runtime(
        "default",
        lambda i, o: RawIoRuntime(
            {n: f.path for n, f in i.items()}, {n: f.path for n, f in o.items()}
        ),
    )
    BUILTIN_FUNCTIONS["test-runner-copy"] = copy
    stager = FakeStager(tmp_path)
    task = staged_task("test-runner-copy")
    task.input_data = {"in": StagedInput("file:///x", bytes(16), FileCrypto(CryptoSchema.RAW))}
    task.output_data = {"out": StagedOutput("file:///y", FileCrypto(CryptoSchema.RAW))}
    try:
        result = TaskRunner(worker, stager).run(task)
    finally:
        del BUILTIN_FUNCTIONS["test-runner-copy"]
    assert result.ok is not None
    assert result.ok.return_value == b"copied"
    assert result.ok.tags_map == {"out": b"staged input\0\0\0\0"}
    assert stager.cleaned == [task.task_id]
