"""The Python executor (python, mesapy): Teaclave's payload API on CPython-on-WASI.

One compiled interpreter serves the whole module (compiled once into a persistent pytest
cache directory, so only the first run on a machine pays the ~5 s compile).
"""

from __future__ import annotations

import shutil
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from mesapy_payloads import DATA_FUSION, MESAPY_ECHO

from teaclave.config.runtime import ExecutorConfig
from teaclave.crypto.protected_fs import ProtectedFileReader, ProtectedFileWriter
from teaclave.executors import (
    ExecutionContext,
    ExecutionError,
    execution_context,
    load_executors,
    python_wasi,
)
from teaclave.executors.python_wasi import PythonWasiExecutor, flatten_arguments
from teaclave.types.files import FileCrypto
from teaclave.types.function import Executor, ExecutorType
from teaclave.worker import NoFilesRuntime, RawIoRuntime, Runtime, StagedFile, StagedFunction
from teaclave.worker.protected_runtime import ProtectedRuntime
from teaclave.worker.worker import Worker

# Teaclave's executor unit test script (executor/src/mesapy.rs, test_mesapy), ported to
# Python 3: a "rb" read returns bytes, so the expected line is b"Hello\n". Everything else,
# including the Python 2 ``e.message``, is unchanged.
TEACLAVE_TEST_MESAPY = """
def entrypoint(argv):
    in_file_id = "in_f1"
    out_file_id = "out_f1"

    # open input via built-in teaclave_open
    with teaclave_open(in_file_id, "rb") as f:
        line = f.readline()
        assert line == b"Hello\\n"

    # open input via teaclave module
    from teaclave import open
    with open(in_file_id, "rb") as f:
        line = f.readline()
        assert line == b"Hello\\n"

    # open invalid input
    try:
        teaclave_open("invalid_key", "rb")
    except RuntimeError as e:
        assert e.message == "fileio_init: teaclave_ffi_error"

    # open invalid option
    try:
        teaclave_open(in_file_id, "r")
    except RuntimeError as e:
        assert e.message == "Teaclave Not Supported"

    # write valid output
    with teaclave_open(out_file_id, "wb") as f:
        f.write("This message is from Mesapy!")

    # open invalid output
    try:
        teaclave_open("invalid_key", "wb")
    except RuntimeError as e:
        assert e.message == "fileio_init: teaclave_ffi_error"

    # open invalid option
    try:
        teaclave_open(out_file_id, "w")
    except RuntimeError as e:
        assert e.message == "Teaclave Not Supported"

    return
"""

# Teaclave's examples/python/mesapy_optional_files_payload.py (verbatim).
OPTIONAL_FILES = """
def entrypoint(argv):
    try:
        f = teaclave_open("input_data1", "rb")
        data = f.readlines()
        return data[0]
    except:
        return "input_data1 does not exist"
"""


@pytest.fixture(scope="module")
def executor(python_wasi_cache: Path) -> PythonWasiExecutor:
    executor = PythonWasiExecutor(ExecutorConfig(cache_dir=str(python_wasi_cache), memory_mib=256))
    executor.prepare().result(timeout=300)
    return executor


def run(
    executor: PythonWasiExecutor,
    payload: str,
    runtime: Runtime | None = None,
    arguments: dict[str, Any] | None = None,
    deadline: float = 30.0,
    cancel: threading.Event | None = None,
) -> str:
    context = ExecutionContext(
        cancel=cancel or threading.Event(), deadline=time.monotonic() + deadline
    )
    with execution_context(context):
        return executor.execute(
            "python-test", arguments or {}, payload.encode(), runtime or NoFilesRuntime()
        )


def hello_world(tmp_path: Path) -> Path:
    path = tmp_path / "input.txt"
    path.write_bytes(b"Hello\nWorld")
    return path


# --------------------------------------------------------------------------- registration
def test_registered_for_python_mesapy_and_in_the_default_worker() -> None:
    factory = load_executors()[(ExecutorType.PYTHON, Executor.MESAPY)]
    assert isinstance(factory(ExecutorConfig()), PythonWasiExecutor)
    worker = Worker.default()
    assert isinstance(worker.executors[(ExecutorType.PYTHON, Executor.MESAPY)], PythonWasiExecutor)
    assert (ExecutorType.PYTHON, Executor.MESAPY) not in worker.unavailable


def test_a_tampered_interpreter_is_refused(tmp_path: Path) -> None:
    wasm = tmp_path / "python.wasm"
    shutil.copyfile(python_wasi.interpreter_wasm(), wasm)
    with wasm.open("r+b") as file:
        file.seek(1000)
        byte = file.read(1)
        file.seek(1000)
        file.write(bytes([byte[0] ^ 1]))
    with pytest.raises(ExecutionError, match=r"has SHA-256 [0-9a-f]{64}, expected e5dc5a39"):
        PythonWasiExecutor(ExecutorConfig(), wasm=wasm)
    with pytest.raises(ExecutionError, match="missing"):
        PythonWasiExecutor(ExecutorConfig(), wasm=tmp_path / "absent.wasm")


# --------------------------------------------------------------------------- arguments
def test_flatten_arguments_sorts_keys_and_keeps_strings_raw() -> None:
    arguments = {"b": 4, "a": "text", "d": 0.1, "c": True, "e": ["x", 1], "f": None}
    assert flatten_arguments(arguments) == [
        *("a", "text", "b", "4", "c", "true", "d", "0.1"),
        *("e", '["x",1]', "f", "null"),
    ]


def test_mesapy_echo_returns_argv_1(executor: PythonWasiExecutor) -> None:
    summary = run(executor, MESAPY_ECHO, arguments={"message": "Hello, Teaclave!"})
    assert summary == "Hello, Teaclave!"


def test_argv_reaches_the_payload_as_sorted_strings(executor: PythonWasiExecutor) -> None:
    payload = (
        "def entrypoint(argv):\n"
        "    assert all(type(a) is str for a in argv)\n"
        "    return '|'.join(argv)\n"
    )
    arguments = {"z": "last", "alpha": 1, "mid": "é ünïcode", "flag": False}
    summary = run(executor, payload, arguments=arguments)
    assert summary == "alpha|1|flag|false|mid|é ünïcode|z|last"


# --------------------------------------------------------------------------- file API
def test_teaclave_executor_test_script(executor: PythonWasiExecutor, tmp_path: Path) -> None:
    output = tmp_path / "output.txt"
    runtime = RawIoRuntime({"in_f1": hello_world(tmp_path)}, {"out_f1": output})
    assert run(executor, TEACLAVE_TEST_MESAPY, runtime) == ""
    assert output.read_bytes() == b"This message is from Mesapy!"


def test_input_objects_behave_like_binary_files(
    executor: PythonWasiExecutor, tmp_path: Path
) -> None:
    payload = """
from teaclave import open as topen

def entrypoint(argv):
    seen = []
    f = teaclave_open("in", "rb")
    seen.append(f.read(3))
    seen.append(f.readline())
    seen.append(f.tell())
    seen.append(f.read())
    seen.append(f.read())
    f.seek(0)
    seen.append(f.readlines())
    f.close()
    seen.append(f.closed)
    with topen("in", "rb") as g, topen("in", "rb") as h:
        seen.append([line for line in g])
        seen.append(h.read(5))
    seen.append(g.closed)
    return repr(seen)
"""
    runtime = RawIoRuntime({"in": hello_world(tmp_path)}, {})
    assert run(executor, payload, runtime) == repr(
        [
            *(b"Hel", b"lo\n", 6, b"World", b"", [b"Hello\n", b"World"], True),
            *([b"Hello\n", b"World"], b"Hello", True),
        ]
    )


def test_data_fusion_payload(executor: PythonWasiExecutor, tmp_path: Path) -> None:
    party_a, party_b = tmp_path / "a.txt", tmp_path / "b.txt"
    party_a.write_bytes(b"u1_hello\nu1_teaclave")
    party_b.write_bytes(b"u2_welcome\nu2_to\nu2_teaclave")
    fusion = tmp_path / "fusion.txt"
    runtime = RawIoRuntime({"InPartyA": party_a, "InPartyB": party_b}, {"OutFusionData": fusion})
    assert run(executor, DATA_FUSION, runtime) == "Mixed 5 lines of data"
    assert fusion.read_bytes() == b"u1_hello\nu1_teaclaveu2_welcome\nu2_to\nu2_teaclave"


def test_invalid_mode_and_invalid_name_errors(executor: PythonWasiExecutor, tmp_path: Path) -> None:
    payload = """
import teaclave

def attempt(name, mode):
    try:
        teaclave.open(name, mode)
    except RuntimeError as e:
        assert type(e) is RuntimeError and e.message == str(e)
        return str(e)
    return "opened"

def entrypoint(argv):
    cases = [("in", "r"), ("in", "w"), ("out", "ab"), ("in", "rb+"), ("nope", "rb"),
             ("nope", "wb"), ("in", "wb"), ("out", "rb"), (None, "rb"), ("in", "rb")]
    return "\\n".join(attempt(name, mode) for name, mode in cases)
"""
    runtime = RawIoRuntime({"in": hello_world(tmp_path)}, {"out": tmp_path / "out"})
    assert run(executor, payload, runtime).splitlines() == [
        *["Teaclave Not Supported"] * 4,
        *["fileio_init: teaclave_ffi_error"] * 5,
        "opened",
    ]


def test_outputs_are_created_only_when_opened_for_writing(
    executor: PythonWasiExecutor, tmp_path: Path
) -> None:
    payload = """
def entrypoint(argv):
    teaclave_open("empty", "wb").close()
    return "done"
"""
    empty, untouched = tmp_path / "empty", tmp_path / "untouched"
    runtime = RawIoRuntime({}, {"empty": empty, "untouched": untouched})
    assert run(executor, payload, runtime) == "done"
    assert empty.read_bytes() == b""
    assert not untouched.exists()


def test_writes_take_str_unclosed_files_are_flushed_and_reopen_truncates(
    executor: PythonWasiExecutor, tmp_path: Path
) -> None:
    payload = """
def entrypoint(argv):
    first = teaclave_open("a", "wb")
    first.write("text, ")
    first.write(b"bytes, ")
    first.write(bytearray(b"more " * 20000))
    kept = teaclave_open("b", "wb")
    kept.write(b"dropped")
    kept.close()
    again = teaclave_open("b", "wb")
    again.write(b"final")
    return "ok"
"""
    a, b = tmp_path / "a", tmp_path / "b"
    assert run(executor, payload, RawIoRuntime({}, {"a": a, "b": b})) == "ok"
    assert a.read_bytes() == b"text, bytes, " + b"more " * 20000
    assert b.read_bytes() == b"final"


def test_a_stale_writer_cannot_touch_a_reopened_output(
    executor: PythonWasiExecutor, tmp_path: Path
) -> None:
    payload = """
def entrypoint(argv):
    old = teaclave_open("out", "wb")
    new = teaclave_open("out", "wb")
    new.write(b"new")
    new.flush()
    old.write(b"OLD DATA")
    old.flush()
    return "ok"
"""
    out = tmp_path / "out"
    assert run(executor, payload, RawIoRuntime({}, {"out": out})) == "ok"
    assert out.read_bytes() == b"new"


@pytest.mark.parametrize(
    ("body", "summary"),
    [("return None", ""), ("return 'é'.encode()", "é"), ("return bytearray(b'ba')", "ba")],
)
def test_return_values_become_the_summary(
    executor: PythonWasiExecutor, body: str, summary: str
) -> None:
    assert run(executor, f"def entrypoint(argv):\n    {body}\n") == summary


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            "def entrypoint(argv):\n    x = 1\n    return str(1 / 0)\n",
            r"^ZeroDivisionError: division by zero \(payload\.py, line 3, in entrypoint\)$",
        ),
        ("def entrypoint(argv):\n    return 5\n", r"^TypeError: entrypoint must return a str"),
        ("def entrypoint(argv):\n    return b'\\xff'\n", r"^UnicodeDecodeError: 'utf-8'"),
        ("x = 1\n", r"^NameError: the payload does not define entrypoint\(argv\)$"),
        ("def entrypoint(argv) return 1\n", r"^SyntaxError: expected ':'"),
        (
            "import json\njson.loads('{')\n",
            r"^json\.decoder\.JSONDecodeError: .*\(payload\.py, line 2",
        ),
        ("def entrypoint(argv):\n    raise SystemExit(3)\n", r"^the payload called exit\(3\)$"),
    ],
)
def test_payload_errors_fail_the_run(
    executor: PythonWasiExecutor, payload: str, message: str
) -> None:
    with pytest.raises(ExecutionError, match=message):
        run(executor, payload)


def test_outputs_of_a_failed_run_are_not_copied(
    executor: PythonWasiExecutor, tmp_path: Path
) -> None:
    payload = """
def entrypoint(argv):
    with teaclave_open("out", "wb") as f:
        f.write(b"partial")
    raise ValueError("late failure")
"""
    out = tmp_path / "out"
    with pytest.raises(ExecutionError, match="ValueError: late failure"):
        run(executor, payload, RawIoRuntime({}, {"out": out}))
    assert not out.exists()


# --------------------------------------------------------------------------- protected runtime
def test_protected_runtime_verifies_inputs_and_protects_outputs(
    executor: PythonWasiExecutor, tmp_path: Path
) -> None:
    crypto = FileCrypto.random_protected()
    source = tmp_path / "input.enc"
    with ProtectedFileWriter(source, crypto.key) as writer:
        writer.write(b"first line\nsecond line\n")
    tag = writer.close()
    assert tag is not None
    output = StagedFile(tmp_path / "output.enc", crypto)

    good = ProtectedRuntime({"input_data1": StagedFile(source, crypto, tag)}, {})
    assert run(executor, OPTIONAL_FILES, good) == "first line\n"

    # Teaclave's mesapy_optional_files quirk: a wrong cmac makes the open fail in the payload.
    wrong = ProtectedRuntime({"input_data1": StagedFile(source, crypto, bytes(16))}, {})
    assert run(executor, OPTIONAL_FILES, wrong) == "input_data1 does not exist"
    assert run(executor, OPTIONAL_FILES, ProtectedRuntime({}, {})) == "input_data1 does not exist"

    copy = """
def entrypoint(argv):
    with teaclave_open("in", "rb") as src, teaclave_open("out", "wb") as dst:
        dst.write(src.read().upper())
    return "copied"
"""
    runtime = ProtectedRuntime({"in": StagedFile(source, crypto, tag)}, {"out": output})
    assert run(executor, copy, runtime) == "copied"
    with ProtectedFileReader(output.path, crypto.key) as reader:
        assert reader.read() == b"FIRST LINE\nSECOND LINE\n"


def test_worker_invocation_with_save_log_captures_prints(python_wasi_cache: Path) -> None:
    worker = Worker.default(ExecutorConfig(cache_dir=str(python_wasi_cache)))
    function = StagedFunction(
        name="mesapy-print",
        arguments={"message": "Hello, Teaclave Tests!", "save_log": "true"},
        payload=b"def entrypoint(argv):\n    print(argv[1])\n    return argv[1]\n",
        executor_type=ExecutorType.PYTHON,
        executor=Executor.MESAPY,
    )
    outputs = worker.invoke(function)
    assert outputs.return_value == b"Hello, Teaclave Tests!"
    assert outputs.log == ["[INFO teaclave_function::mesapy] Hello, Teaclave Tests!"]


# --------------------------------------------------------------------------- runs and cache
def test_concurrent_runs_are_independent(executor: PythonWasiExecutor) -> None:
    cancel = threading.Event()
    errors: list[Exception] = []

    def spin() -> None:
        try:
            run(executor, "def entrypoint(argv):\n    while True: pass\n", cancel=cancel)
        except ExecutionError as exc:
            errors.append(exc)

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        for _ in range(3):
            assert run(executor, MESAPY_ECHO, arguments={"message": "alive"}) == "alive"
    finally:
        cancel.set()
        spinner.join(10)
    assert not spinner.is_alive()
    assert [str(e) for e in errors] == ["the run was canceled"]


def test_compiled_interpreter_is_cached_on_disk_and_repaired(
    executor: PythonWasiExecutor, tmp_path: Path
) -> None:
    name = python_wasi._artifact_name(fuel=False)
    # A fresh cache directory gets a copy of the process's verified artifact (no compile).
    fresh = PythonWasiExecutor(ExecutorConfig(cache_dir=str(tmp_path / "fresh")))
    started = time.monotonic()
    artifact = fresh.prepare().result(timeout=60)
    assert time.monotonic() - started < 3
    assert artifact == tmp_path / "fresh" / python_wasi.CACHE_SUBDIR / name
    sidecar = artifact.with_name(artifact.name + ".sha256")
    assert sidecar.read_text() == python_wasi._sha256_file(artifact)
    assert run(fresh, MESAPY_ECHO, arguments={"message": "cached"}) == "cached"

    # A corrupt artifact is detected by its hash and replaced before use.
    broken_dir = tmp_path / "broken" / python_wasi.CACHE_SUBDIR
    shutil.copytree(artifact.parent, broken_dir)
    broken = broken_dir / name
    with broken.open("r+b") as file:
        file.seek(len(broken.read_bytes()) // 2)
        file.write(b"\xcc" * 64)
    assert not python_wasi._load_cached(broken, fuel=False)
    repaired = PythonWasiExecutor(ExecutorConfig(cache_dir=str(tmp_path / "broken")))
    assert repaired.prepare().result(timeout=60) == broken
    assert python_wasi._load_cached(broken, fuel=False)
    assert run(repaired, MESAPY_ECHO, arguments={"message": "repaired"}) == "repaired"


def test_an_unwritable_cache_directory_falls_back(
    executor: PythonWasiExecutor, tmp_path: Path
) -> None:
    not_a_directory = tmp_path / "cache"
    not_a_directory.write_text("a file where the cache directory should be")
    fallback = PythonWasiExecutor(ExecutorConfig(cache_dir=str(not_a_directory)))
    artifact = fallback.prepare().result(timeout=60)
    assert artifact.exists() and not artifact.is_relative_to(not_a_directory)
    assert run(fallback, MESAPY_ECHO, arguments={"message": "fallback"}) == "fallback"


def test_warm_run_overhead(executor: PythonWasiExecutor) -> None:
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        run(executor, "def entrypoint(argv):\n    return ''\n")
        timings.append(time.perf_counter() - started)
    median = statistics.median(timings)
    print(f"python-wasi warm run: median {median * 1000:.0f} ms")
    assert median < 2.0
