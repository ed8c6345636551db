"""The native Python executor (``cpython``): payload API, numpy, results, limits, refusals.

Every test that runs a payload needs the real sandbox (root or user namespaces, Landlock
ABI >= 3, libseccomp); without it the module is skipped with the factory's reason.
"""

from __future__ import annotations

import os
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from teaclave.config.runtime import ExecutorConfig
from teaclave.crypto.protected_fs import ProtectedFileReader, ProtectedFileWriter
from teaclave.executors import load_executors
from teaclave.executors import python_native as native
from teaclave.executors.base import ExecutionContext, ExecutionError, execution_context
from teaclave.executors.python_native import (
    NativePythonExecutor,
    SandboxUnavailable,
    flatten_arguments,
)
from teaclave.executors.sandbox import landlock, seccomp_filter
from teaclave.types.files import CryptoSchema, FileCrypto
from teaclave.types.function import Executor, ExecutorType
from teaclave.worker import NoFilesRuntime, StagedFile, StagedFunction, Worker
from teaclave.worker.protected_runtime import ProtectedRuntime
from teaclave.worker.runtime import RawIoRuntime

CONFIG = ExecutorConfig(deadline_secs=10.0, memory_mib=384, max_result_bytes=4096)


@pytest.fixture(scope="module")
def work_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cpython-runs")


@pytest.fixture(scope="module")
def executor(work_root: Path) -> NativePythonExecutor:
    try:
        return NativePythonExecutor(CONFIG, work_root=str(work_root))
    except SandboxUnavailable as exc:
        pytest.skip(f"native Python sandbox unavailable on this machine: {exc}")


def payload(source: str) -> bytes:
    return textwrap.dedent(source).encode()


def run(
    executor: NativePythonExecutor,
    source: str,
    arguments: dict[str, Any] | None = None,
    runtime: Any = None,
) -> str:
    return executor.execute(
        "f", arguments or {}, payload(source), runtime if runtime is not None else NoFilesRuntime()
    )


@pytest.fixture
def files(tmp_path: Path) -> Iterator[tuple[RawIoRuntime, Path]]:
    (tmp_path / "in1.txt").write_bytes(b"first line\nsecond line\nthird\n")
    (tmp_path / "in2.txt").write_bytes(b"1,2\n3,4\n")
    runtime = RawIoRuntime(
        {"input_data1": tmp_path / "in1.txt", "input_data2": tmp_path / "in2.txt"},
        {"output_data": tmp_path / "out.txt", "unused_output": tmp_path / "unused.txt"},
    )
    yield runtime, tmp_path


def test_flatten_arguments_sorts_keys_and_keeps_strings_raw() -> None:
    arguments = {"b": "two", "a": 1, "c": 0.1, "d": True, "e": [1, "x"], "f": None}
    assert flatten_arguments(arguments) == [
        "a", "1", "b", "two", "c", "0.1", "d", "true", "e", '[1,"x"]', "f", "null",
    ]  # fmt: skip


def test_teaclave_echo_payload(executor: NativePythonExecutor) -> None:
    # Teaclave's examples/python/mesapy_echo_payload.py
    source = """
        def entrypoint(argv):
            assert argv[0] == 'message'
            assert argv[1] is not None
            return argv[1]
    """
    assert run(executor, source, {"message": "Hello, Teaclave!"}) == "Hello, Teaclave!"


def test_argv_order_and_types(executor: NativePythonExecutor) -> None:
    source = """
        def entrypoint(argv):
            return repr(argv)
    """
    summary = run(executor, source, {"zeta": "z", "alpha": 3, "mid": {"k": [1, 2]}})
    assert summary == repr(["alpha", "3", "mid", '{"k":[1,2]}', "zeta", "z"])


def test_file_api_reads_inputs_and_writes_declared_outputs(
    executor: NativePythonExecutor, files: tuple[RawIoRuntime, Path]
) -> None:
    runtime, root = files
    source = """
        from teaclave import open as topen

        def entrypoint(argv):
            with teaclave_open("input_data1", "rb") as f:
                first = f.readline()
                rest = f.readlines()
            again = topen("input_data1", "rb").read()
            lines = [line for line in topen("input_data2", "rb")]
            with topen("output_data", "wb") as out:
                out.write(b"bytes;")
                out.write("text")
            left_open = teaclave_open("output_data", "wb")
            left_open.write(first + b"".join(rest) + again[:5] + b"".join(lines))
            return "ok"
    """
    assert run(executor, source, runtime=runtime) == "ok"
    expected = b"first line\nsecond line\nthird\n" + b"first" + b"1,2\n3,4\n"
    # The second "wb" open truncated the first; the open writer was flushed at return.
    assert (root / "out.txt").read_bytes() == expected
    assert not (root / "unused.txt").exists()


def test_file_api_errors_are_teaclaves(
    executor: NativePythonExecutor, files: tuple[RawIoRuntime, Path]
) -> None:
    runtime, _root = files
    source = """
        def attempt(name, mode):
            try:
                teaclave_open(name, mode)
            except RuntimeError as error:
                return error.message
            return "opened"

        def entrypoint(argv):
            return "|".join([
                attempt("input_data1", "r"),
                attempt("input_data1", "w+"),
                attempt("no_such_input", "rb"),
                attempt("output_data", "rb"),
                attempt("input_data1", "wb"),
                attempt("", "rb"),
                attempt(b"input_data1", "rb"),
            ])
    """
    assert run(executor, source, runtime=runtime).split("|") == [
        "Teaclave Not Supported",
        "Teaclave Not Supported",
        "fileio_init: teaclave_ffi_error",
        "fileio_init: teaclave_ffi_error",
        "fileio_init: teaclave_ffi_error",
        "fileio_init: teaclave_ffi_error",
        "opened",
    ]


def test_numpy_computes_on_an_input_file(executor: NativePythonExecutor, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    matrix = rng.normal(size=(200, 5))
    np.savetxt(tmp_path / "matrix.csv", matrix, delimiter=",")
    runtime = RawIoRuntime({"matrix": tmp_path / "matrix.csv"}, {"stats": tmp_path / "stats.npy"})
    source = """
        import io
        import numpy as np

        def entrypoint(argv):
            data = np.loadtxt(teaclave_open("matrix", "rb"), delimiter=",")
            gram = data.T @ data
            eigenvalues = np.linalg.eigvalsh(gram)
            buffer = io.BytesIO()
            np.save(buffer, np.vstack([data.mean(axis=0), eigenvalues]))
            with teaclave_open("stats", "wb") as out:
                out.write(buffer.getvalue())
            return "%s %d" % (np.__version__, data.shape[0])
    """
    assert run(executor, source, runtime=runtime) == f"{np.__version__} 200"
    stats = np.load(tmp_path / "stats.npy")
    assert np.allclose(stats[0], matrix.mean(axis=0))
    assert np.allclose(stats[1], np.linalg.eigvalsh(matrix.T @ matrix))


def test_protected_runtime_inputs_and_outputs(
    executor: NativePythonExecutor, tmp_path: Path
) -> None:
    in_key, out_key = bytes(range(16)), bytes(range(16, 32))
    with ProtectedFileWriter(tmp_path / "in.enc", in_key) as writer:
        writer.write(b"secret numbers 1 2 3")
    tag = writer.close()
    runtime = ProtectedRuntime(
        {
            "in": StagedFile(
                tmp_path / "in.enc", FileCrypto(CryptoSchema.TEACLAVE_FILE_128, in_key), tag
            )
        },
        {
            "out": StagedFile(
                tmp_path / "out.enc", FileCrypto(CryptoSchema.TEACLAVE_FILE_128, out_key)
            )
        },
    )
    source = """
        def entrypoint(argv):
            text = teaclave_open("in", "rb").read().decode()
            total = sum(int(word) for word in text.split() if word.isdigit())
            teaclave_open("out", "wb").write(str(total).encode())
            return "sum=%d" % total
    """
    assert run(executor, source, runtime=runtime) == "sum=6"
    with ProtectedFileReader(tmp_path / "out.enc", out_key) as reader:
        assert reader.read() == b"6"


def test_tampered_protected_input_looks_missing_to_the_payload(
    executor: NativePythonExecutor, tmp_path: Path
) -> None:
    key = bytes(16)
    with ProtectedFileWriter(tmp_path / "in.enc", key) as writer:
        writer.write(b"data")
    runtime = ProtectedRuntime(
        {
            "in": StagedFile(
                tmp_path / "in.enc", FileCrypto(CryptoSchema.TEACLAVE_FILE_128, key), bytes(16)
            )
        },
        {},
    )
    source = """
        def entrypoint(argv):
            try:
                teaclave_open("in", "rb")
            except RuntimeError as error:
                return str(error)
            return "read a tampered file"
    """
    assert run(executor, source, runtime=runtime) == "fileio_init: teaclave_ffi_error"


@pytest.mark.parametrize(
    ("body", "summary"),
    [("return None", ""), ("return b'caf\\xc3\\xa9'", "café"), ("return '✓'", "✓")],
)
def test_result_types(executor: NativePythonExecutor, body: str, summary: str) -> None:
    assert run(executor, f"def entrypoint(argv):\n    {body}\n") == summary


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("def entrypoint(argv):\n    return 1 / 0\n", "ZeroDivisionError: division by zero"),
        ("def entrypoint(argv):\n    return 42\n", "entrypoint must return a str, not int"),
        ("x = 1\n", "NameError: the payload does not define entrypoint(argv)"),
        ("def entrypoint(argv) return 1\n", "SyntaxError"),
        ("import sys\ndef entrypoint(argv):\n    sys.exit(3)\n", "the payload called exit(3)"),
        ("raise ValueError('at import')\n", "ValueError: at import (payload.py, line 1"),
        ("def entrypoint(argv):\n    return b'\\xff'\n", "UnicodeDecodeError"),
        (
            "import os\ndef entrypoint(argv):\n    os._exit(0)\n",
            "the payload exited with status 0 without a result",
        ),
    ],
)
def test_failures_fail_the_run(executor: NativePythonExecutor, source: str, reason: str) -> None:
    with pytest.raises(ExecutionError) as caught:
        run(executor, source)
    assert reason in str(caught.value)


def test_exception_reason_has_the_stderr_tail(executor: NativePythonExecutor) -> None:
    source = """
        import sys

        def helper():
            raise KeyError("missing-key")

        def entrypoint(argv):
            print("about to fail", file=sys.stderr)
            helper()
    """
    with pytest.raises(ExecutionError) as caught:
        run(executor, source)
    text = str(caught.value)
    first, _, tail = text.partition("\n")
    assert first == "KeyError: 'missing-key' (payload.py, line 5, in helper)"
    assert "about to fail" in tail
    assert "Traceback (most recent call last)" in tail


def test_result_limit(executor: NativePythonExecutor) -> None:
    assert len(run(executor, "def entrypoint(argv):\n    return 'x' * 4096\n")) == 4096
    with pytest.raises(ExecutionError, match=r"4097 bytes, over the limit of 4096"):
        run(executor, "def entrypoint(argv):\n    return 'x' * 4097\n")


def test_deadline_kills_the_run(executor: NativePythonExecutor) -> None:
    context = ExecutionContext(deadline=time.monotonic() + 1.0)
    started = time.monotonic()
    with execution_context(context), pytest.raises(ExecutionError, match="deadline of 1 s"):
        run(executor, "import time\ndef entrypoint(argv):\n    time.sleep(60)\n")
    assert time.monotonic() - started < 3.0


def test_cancel_kills_the_run(executor: NativePythonExecutor) -> None:
    context = ExecutionContext(deadline=time.monotonic() + 30)
    threading.Timer(0.5, context.cancel.set).start()
    started = time.monotonic()
    with execution_context(context), pytest.raises(ExecutionError, match=r"^canceled$"):
        run(executor, "def entrypoint(argv):\n    while True:\n        pass\n")
    assert time.monotonic() - started < 2.5


def test_runs_leave_nothing_behind(executor: NativePythonExecutor, work_root: Path) -> None:
    run(executor, "def entrypoint(argv):\n    open('scratch', 'wb').write(b'x')\n")
    with pytest.raises(ExecutionError):
        run(executor, "def entrypoint(argv):\n    open('scratch', 'wb').write(b'x'); 1/0\n")
    assert list(work_root.iterdir()) == []


def test_threads_work_inside(executor: NativePythonExecutor) -> None:
    source = """
        import threading
        import numpy as np

        def entrypoint(argv):
            results = []
            workers = [
                threading.Thread(target=lambda n=n: results.append(int(np.arange(n).sum())))
                for n in range(1, 5)
            ]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            return str(sorted(results))
    """
    assert run(executor, source) == "[0, 1, 3, 6]"


def test_worker_runs_cpython_functions_and_saves_logs(tmp_path: Path) -> None:
    worker = Worker.default(ExecutorConfig(deadline_secs=10.0))
    key = (ExecutorType.PYTHON, Executor.CPYTHON)
    if key not in worker.executors:
        pytest.skip(f"native Python sandbox unavailable: {worker.unavailable.get(key)}")
    source = payload("""
        def entrypoint(argv):
            print("hello from the sandbox")
            print("second line")
            return argv[1]
    """)
    function = StagedFunction(
        name="py",
        arguments={"save_log": "true", "message": "logged"},
        payload=source,
        executor_type=ExecutorType.PYTHON,
        executor=Executor.CPYTHON,
    )
    outputs = worker.invoke(function)
    assert outputs.return_value == b"logged"
    assert outputs.log == [
        "[INFO teaclave_function::cpython] hello from the sandbox",
        "[INFO teaclave_function::cpython] second line",
    ]


def test_user_namespace_mode(
    executor: NativePythonExecutor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The path a worker without CAP_SYS_ADMIN takes: namespaces inside a new user namespace.
    if not native.user_namespaces_enabled():
        pytest.skip("user namespaces are disabled on this kernel")
    monkeypatch.setattr(native, "has_cap_sys_admin", lambda: False)
    in_userns = NativePythonExecutor(CONFIG, work_root=str(tmp_path))
    assert in_userns.user_namespace
    source = """
        import os, socket

        def entrypoint(argv):
            outcomes = [str(os.getuid())]
            for attempt in (lambda: socket.socket(), lambda: open("/etc/passwd")):
                try:
                    attempt()
                    outcomes.append("allowed")
                except OSError as error:
                    outcomes.append(type(error).__name__)
            return ",".join(outcomes)
    """
    assert run(in_userns, source) == "65534,PermissionError,PermissionError"


def test_executor_is_registered() -> None:
    assert (ExecutorType.PYTHON, Executor.CPYTHON) in load_executors()


# -- refusals: the factory names what the kernel lacks ---------------------------------------
# Simulating an older kernel is the only way to reach these branches on this machine.


def test_refuses_without_landlock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(landlock, "abi_version", lambda: 0)
    with pytest.raises(SandboxUnavailable, match="Landlock is unavailable"):
        native.native_python_executor(CONFIG)


def test_refuses_old_landlock_abi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(landlock, "abi_version", lambda: 2)
    with pytest.raises(SandboxUnavailable, match="Landlock ABI 2 is too old"):
        native.native_python_executor(CONFIG)


def test_refuses_without_libseccomp(monkeypatch: pytest.MonkeyPatch) -> None:
    if landlock.abi_version() < native.MIN_LANDLOCK_ABI:
        pytest.skip("Landlock is refused first on this kernel")

    def missing() -> bytes:
        raise RuntimeError("libseccomp is unavailable (pyseccomp: Unable to find libseccomp)")

    monkeypatch.setattr(seccomp_filter, "build_bpf", missing)
    monkeypatch.setattr(native, "_BPF_CACHE", [])
    with pytest.raises(SandboxUnavailable, match="seccomp is unavailable: libseccomp"):
        native.native_python_executor(CONFIG)


def test_refuses_without_namespaces(monkeypatch: pytest.MonkeyPatch) -> None:
    if landlock.abi_version() < native.MIN_LANDLOCK_ABI:
        pytest.skip("Landlock is refused first on this kernel")
    monkeypatch.setattr(native, "has_cap_sys_admin", lambda: False)
    monkeypatch.setattr(native, "user_namespaces_enabled", lambda: False)
    with pytest.raises(SandboxUnavailable, match="lacks CAP_SYS_ADMIN"):
        native.native_python_executor(CONFIG)


def test_refuses_when_the_probe_fails(
    executor: NativePythonExecutor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real probe run through the full sandbox whose payload fails. (A tiny address-space
    # limit is not a reliable trigger: whether the started interpreter still needs to map
    # memory depends on the machine.)
    monkeypatch.setattr(
        native, "PROBE_PAYLOAD", b"def entrypoint(argv):\n    raise OSError('no sandbox')\n"
    )
    with pytest.raises(SandboxUnavailable, match="the sandbox probe failed"):
        NativePythonExecutor(CONFIG, work_root=str(tmp_path))
    assert os.listdir(tmp_path) == []
