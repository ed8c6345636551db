"""Attack corpus for the Python executor: every attack fails safely, and the next run works.

The payloads run inside CPython-on-WASI; each test also checks the host side (no host file
content leaks, no host file descriptors are consumed, no per-run files are left behind).
"""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mesapy_payloads import DEADLOOP

from teaclave.config.runtime import ExecutorConfig
from teaclave.executors import ExecutionContext, ExecutionError, execution_context
from teaclave.executors.python_wasi import PythonWasiExecutor
from teaclave.worker import NoFilesRuntime, RawIoRuntime, Runtime

GOOD = "def entrypoint(argv):\n    return 'still working: ' + argv[1]\n"


def make_executor(cache_dir: Path, **limits: Any) -> PythonWasiExecutor:
    extra = {k: limits.pop(k) for k in ("max_output_bytes", "max_console_bytes") if k in limits}
    config = ExecutorConfig(cache_dir=str(cache_dir), **limits)
    executor = PythonWasiExecutor(config, **extra)
    executor.prepare().result(timeout=300)
    return executor


@pytest.fixture(scope="module")
def executor(python_wasi_cache: Path) -> PythonWasiExecutor:
    executor = make_executor(
        python_wasi_cache,
        memory_mib=64,
        max_result_bytes=4096,
        max_output_bytes=1 << 20,
        max_console_bytes=1 << 20,
    )
    # The first run starts wasmtime's I/O threads (and their descriptors) for the process.
    assert run(executor, GOOD) == "still working: x"
    return executor


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Per-run directories go here; the test checks every run removed its own."""
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(runs))
    yield runs
    assert list(runs.iterdir()) == []


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def run(
    executor: PythonWasiExecutor,
    payload: str,
    runtime: Runtime | None = None,
    deadline: float = 20.0,
    cancel: threading.Event | None = None,
) -> str:
    context = ExecutionContext(
        cancel=cancel or threading.Event(),
        deadline=time.monotonic() + deadline,
        limit_secs=deadline,
    )
    with execution_context(context):
        return executor.execute(
            "attack", {"tag": "x"}, payload.encode(), runtime or NoFilesRuntime()
        )


def attack(
    executor: PythonWasiExecutor,
    payload: str,
    message: str,
    runtime: Runtime | None = None,
    deadline: float = 20.0,
) -> ExecutionError:
    """The attack fails with ``message``, without host side effects; a good run follows."""
    fds = open_fds()
    with pytest.raises(ExecutionError, match=message) as failure:
        run(executor, payload, runtime, deadline)
    assert open_fds() <= fds + 2  # wasmtime may keep a worker thread's epoll fd
    assert run(executor, GOOD, runtime) == "still working: x"
    return failure.value


@pytest.fixture
def secret_file(tmp_path: Path) -> tuple[Path, str]:
    """A host file standing for the worker's state (keys, database)."""
    token = secrets.token_hex(16)
    path = tmp_path / "state" / "secret.txt"
    path.parent.mkdir()
    path.write_text(token)
    return path, token


# --------------------------------------------------------------------------- host files
@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("return open('/etc/passwd').read()", r"FileNotFoundError: .*'/etc/passwd'"),
        ("return open('/proc/self/environ', 'rb').read()", r"FileNotFoundError: .*environ'"),
        ("import os\n    return repr(os.listdir('/'))", r"FileNotFoundError: .*'/'"),
        ("import os\n    return repr(os.listdir('.'))", r"FileNotFoundError: .*'\.'"),
        ("return open('/task/../etc/passwd').read()", r"OSError: \[Errno 8\] Bad file descriptor"),
        ("return open('/task/manifest', 'rb').read()", r"OSError: \[Errno 8\] Bad file descriptor"),
        ("return open('/out/evil', 'wb').write(b'x')", r"OSError: \[Errno 8\] Bad file descriptor"),
        (
            "return teaclave_open('../../etc/passwd', 'rb').read()",
            "fileio_init: teaclave_ffi_error",
        ),
        ("return teaclave_open('/etc/passwd', 'rb').read()", "fileio_init: teaclave_ffi_error"),
        ("return teaclave_open('../input-0', 'rb').read()", "fileio_init: teaclave_ffi_error"),
    ],
)
def test_host_files_are_unreachable(
    executor: PythonWasiExecutor, run_dir: Path, payload: str, message: str
) -> None:
    attack(executor, f"def entrypoint(argv):\n    {payload}\n", message)


def test_the_worker_state_is_unreachable(
    executor: PythonWasiExecutor, run_dir: Path, secret_file: tuple[Path, str]
) -> None:
    path, token = secret_file
    for source in (
        f"open({str(path)!r}).read()",
        f"__import__('os').open({str(path)!r}, 0)",
        f"open({str(path.parent)!r} + '/../state/secret.txt').read()",
    ):
        error = attack(executor, f"def entrypoint(argv):\n    return {source}\n", "Error")
        assert token not in str(error)


def test_subclasses_walk_reaches_only_the_guest(
    executor: PythonWasiExecutor, run_dir: Path, secret_file: tuple[Path, str]
) -> None:
    path, token = secret_file
    payload = f"""
def entrypoint(argv):
    found = []
    for cls in ().__class__.__base__.__subclasses__():
        init = getattr(cls, "__init__", None)
        g = getattr(init, "__globals__", None)
        if g and "sys" in g:
            found.append(g["sys"])
    sys = found[0]
    os = sys.modules["os"]
    blocked = []
    for target in ("/etc/passwd", {str(path)!r}, "/proc/self/mem"):
        try:
            os.open(target, os.O_RDONLY)
        except OSError as e:
            blocked.append(e.errno)
    return repr((len(blocked), hasattr(os, "system"), "ctypes" in sys.modules))
"""
    summary = run(executor, payload)
    assert summary == repr((3, False, False))
    assert token not in summary
    assert run(executor, GOOD) == "still working: x"


# --------------------------------------------------------------------------- system access
@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            "import socket\n    socket.socket().connect(('127.0.0.1', 22))",
            r"OSError: \[Errno 58\] Not supported",
        ),
        (
            "import socket\n    socket.create_connection(('127.0.0.1', 22), timeout=1)",
            r"Error",
        ),
        (
            "import subprocess\n    subprocess.run(['id'])",
            "wasi does not support processes",
        ),
        ("import os\n    os.system('id')", "module 'os' has no attribute 'system'"),
        ("import os\n    os.fork()", "module 'os' has no attribute 'fork'"),
        ("import os\n    os.kill(1, 9)", "module 'os' has no attribute 'kill'"),
        ("import ctypes", "No module named 'ctypes'"),
        ("import numpy", "No module named 'numpy'"),
        ("import teaclave.worker", r"No module named 'teaclave\.worker'"),
        ("import grpc", "No module named 'grpc'"),
        ("import cryptography", "No module named 'cryptography'"),
        ("import threading\n    threading.Thread(target=print).start()", "can't start new thread"),
    ],
)
def test_no_network_processes_or_host_modules(
    executor: PythonWasiExecutor, run_dir: Path, payload: str, message: str
) -> None:
    attack(executor, f"def entrypoint(argv):\n    {payload}\n", message)


def test_the_environment_and_argv_are_the_runs_own(
    executor: PythonWasiExecutor, run_dir: Path
) -> None:
    payload = (
        "import os, sys\ndef entrypoint(argv):\n    return repr((dict(os.environ), sys.argv))\n"
    )
    assert run(executor, payload) == repr(({}, ["-c"]))


# --------------------------------------------------------------------------- resources
def test_infinite_loop_hits_the_deadline(executor: PythonWasiExecutor, run_dir: Path) -> None:
    started = time.monotonic()
    attack(
        executor,
        DEADLOOP,
        r"^deadline of 0\.5 s exceeded \(executor\.deadline_secs\)$",
        deadline=0.5,
    )
    assert time.monotonic() - started < 5


def test_cancel_stops_a_running_payload_promptly(
    executor: PythonWasiExecutor, run_dir: Path
) -> None:
    cancel = threading.Event()
    timer = threading.Timer(0.3, cancel.set)
    timer.start()
    started = time.monotonic()
    with pytest.raises(ExecutionError, match=r"^the run was canceled$"):
        run(executor, DEADLOOP, cancel=cancel)
    assert time.monotonic() - started < 2
    assert run(executor, GOOD) == "still working: x"


@pytest.mark.parametrize(
    "payload",
    [
        "x = bytearray(1 << 30)",
        "x = []\n    while True:\n        x.append(bytearray(1 << 20))",
        "x = 'a' * (1 << 29)",
    ],
)
def test_memory_bombs_hit_the_memory_limit(
    executor: PythonWasiExecutor, run_dir: Path, payload: str
) -> None:
    attack(executor, f"def entrypoint(argv):\n    {payload}\n", r"^MemoryError")


def test_unbounded_recursion_fails(executor: PythonWasiExecutor, run_dir: Path) -> None:
    payload = (
        "import sys\nsys.setrecursionlimit(10 ** 8)\n"
        "def f(n):\n    return f(n + 1) + 1\n"
        "def entrypoint(argv):\n    return str(f(0))\n"
    )
    attack(executor, payload, r"MemoryError|RecursionError|deadline|trapped", deadline=1)


@pytest.mark.slow
def test_fuel_bounds_the_instructions(python_wasi_cache: Path, run_dir: Path) -> None:
    # Start-up alone burns ~6e8 fuel; 3e9 leaves room for a short payload only.
    fueled = make_executor(python_wasi_cache, fuel=3_000_000_000)
    started = time.monotonic()
    with pytest.raises(
        ExecutionError, match=r"^the run ran out of fuel \(executor\.fuel = 3000000000\)$"
    ):
        run(fueled, DEADLOOP)
    assert time.monotonic() - started < 20
    assert run(fueled, GOOD) == "still working: x"


def test_huge_result_is_refused(executor: PythonWasiExecutor, run_dir: Path) -> None:
    attack(
        executor,
        "def entrypoint(argv):\n    return 'x' * 5000\n",
        r"result is 5000 bytes, over the limit of 4096 \(executor\.max_result_bytes\)",
    )
    assert run(executor, "def entrypoint(argv):\n    return 'x' * 4096\n") == "x" * 4096


def test_forged_result_is_refused(executor: PythonWasiExecutor, run_dir: Path) -> None:
    # The payload finds the result file's descriptor and forges a result before exiting.
    forge = """
import os
def entrypoint(argv):
    for fd in range(3, 64):
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, FORGED, 0)
        except OSError:
            pass
    os._exit(0)
"""
    big = "'x' * 9000"
    for forged, message in (
        ("b'ok 7\\nforged'", "malformed result"),
        ("b'ok 0\\nforged'", "malformed result"),
        (f"b'ok\\n' + ({big}).encode()", "over the limit of 4096"),
        ("b'garbage'", "without a result"),
    ):
        attack(executor, forge.replace("FORGED", forged), message)


def test_huge_output_is_stopped(
    executor: PythonWasiExecutor, run_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    runtime = RawIoRuntime({}, {"out": out})
    payload = """
def entrypoint(argv):
    with teaclave_open("out", "wb") as f:
        while True:
            f.write(b"x" * 65536)
"""
    attack(executor, payload, r"^output 'out' exceeded 1048576 bytes$", runtime)
    sparse = """
import os
def entrypoint(argv):
    with teaclave_open("out", "wb") as f:
        f.flush()
    for fd in range(3, 64):
        try:
            os.pwrite(fd, b"x", 1 << 32)
        except OSError:
            pass
    return "done"
"""
    attack(executor, sparse, r"exceeded", runtime)
    assert not out.exists()


def test_console_flood_is_stopped(executor: PythonWasiExecutor, run_dir: Path) -> None:
    for stream in ("sys.stderr", "sys.stdout", "sys.__stdout__"):
        loop = f"    while True:\n        {stream}.write('x' * 65536)\n"
        payload = f"import sys\ndef entrypoint(argv):\n{loop}"
        if stream == "sys.__stdout__":
            # Raw stdout goes to /dev/null: nothing to cap, the deadline ends it.
            attack(executor, payload, "deadline", deadline=0.5)
        else:
            attack(executor, payload, r"^stdout/stderr exceeded 1048576 bytes$")


def test_file_descriptor_exhaustion_is_impossible(
    executor: PythonWasiExecutor, run_dir: Path, tmp_path: Path
) -> None:
    source = tmp_path / "in.txt"
    source.write_bytes(b"data")
    runtime = RawIoRuntime({"in": source}, {})
    peak = [open_fds()]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.002):
            peak[0] = max(peak[0], open_fds())

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        baseline = peak[0]
        raw = "def entrypoint(argv):\n    f = [open('/task/input-0', 'rb') for _ in range(10000)]\n"
        attack(executor, raw, r"Bad file descriptor", runtime)
        api = "def entrypoint(argv):\n    f = [teaclave_open('in', 'rb') for _ in range(10000)]\n"
        attack(executor, api, "fileio_init: teaclave_ffi_error", runtime)
        assert peak[0] < baseline + 32
    finally:
        done.set()
        sampler.join()
    # Teaclave allows 1023 opens per run.
    count = """
def entrypoint(argv):
    opened = 0
    try:
        while True:
            teaclave_open('in', 'rb')
            opened += 1
    except RuntimeError:
        return str(opened)
"""
    assert run(executor, count, runtime) == "1023"


def test_undeclared_outputs_are_refused_and_not_uploaded(
    executor: PythonWasiExecutor, run_dir: Path, tmp_path: Path
) -> None:
    declared, other = tmp_path / "declared", tmp_path / "other"
    runtime = RawIoRuntime({}, {"declared": declared})
    payload = """
import os
def entrypoint(argv):
    errors = []
    for attempt in (lambda: teaclave_open("other", "wb"),
                    lambda: open("/out/output-1", "wb"),
                    lambda: os.open("/out/other", os.O_WRONLY | os.O_CREAT)):
        try:
            attempt()
        except (RuntimeError, OSError) as e:
            errors.append(type(e).__name__)
    return ",".join(errors)
"""
    assert run(executor, payload, runtime) == "RuntimeError,OSError,OSError"
    assert not declared.exists()
    assert not other.exists()
