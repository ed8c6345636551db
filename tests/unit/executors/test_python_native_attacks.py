"""Attack corpus for the native Python sandbox (executor ``cpython``).

Each case runs a hostile payload, asserts that it failed safely (the exact refusal, and no
effect on the host), then checks that the same executor still runs a healthy payload. The
whole module is skipped, with the factory's reason, where the sandbox is unavailable.
"""

from __future__ import annotations

import os
import socket
import stat
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from teaclave.config.runtime import ExecutorConfig
from teaclave.executors.base import ExecutionContext, ExecutionError, execution_context
from teaclave.executors.python_native import NativePythonExecutor, SandboxUnavailable
from teaclave.worker.runtime import RawIoRuntime

MAX_FILE_BYTES = 1 << 20
CONFIG = ExecutorConfig(deadline_secs=10.0, memory_mib=256, max_result_bytes=1 << 16)
HEALTHY = b"import numpy\ndef entrypoint(argv):\n    return 'alive %d' % numpy.arange(4).sum()\n"


@pytest.fixture(scope="module")
def executor(tmp_path_factory: pytest.TempPathFactory) -> NativePythonExecutor:
    try:
        return NativePythonExecutor(
            CONFIG,
            max_file_bytes=MAX_FILE_BYTES,
            work_root=str(tmp_path_factory.mktemp("cpython-attack-runs")),
        )
    except SandboxUnavailable as exc:
        pytest.skip(f"native Python sandbox unavailable on this machine: {exc}")


@pytest.fixture
def host(tmp_path: Path) -> Iterator[dict[str, Path]]:
    """A worker-like state directory with a secret, and a task's input and output files."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "secret.db").write_text("worker secret")
    (state / "secret.db").chmod(0o600)
    (tmp_path / "input.txt").write_text("task input")
    yield {"state": state, "input": tmp_path / "input.txt", "output": tmp_path / "output.txt"}


def attack(
    executor: NativePythonExecutor,
    host: dict[str, Path],
    body: str,
    arguments: dict[str, Any] | None = None,
    deadline: float | None = None,
) -> str:
    """Run ``body`` as the payload's entrypoint; then prove the executor still works."""
    source = "def entrypoint(argv):\n" + textwrap.indent(textwrap.dedent(body), "    ")
    runtime = RawIoRuntime({"input": host["input"]}, {"output": host["output"]})
    context = ExecutionContext(deadline=time.monotonic() + (deadline or 10.0))
    try:
        with execution_context(context):
            return executor.execute("attack", arguments or {}, source.encode(), runtime)
    finally:
        healthy = executor.execute("healthy", {}, HEALTHY, RawIoRuntime({}, {}))
        assert healthy == "alive 6"


def refused(executor: NativePythonExecutor, host: dict[str, Path], body: str, **kw: Any) -> str:
    """The run's failure reason (the run must fail)."""
    with pytest.raises(ExecutionError) as caught:
        attack(executor, host, body, **kw)
    return str(caught.value)


# -- host files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "/etc/shadow", "/proc/1/environ", "/proc/self/environ", "/root"]
)
def test_host_files_are_unreadable(
    executor: NativePythonExecutor, host: dict[str, Path], path: str
) -> None:
    if not os.path.exists(path):
        pytest.skip(f"{path} does not exist on this machine")
    reason = refused(executor, host, f"return open({path!r}, 'rb').read()")
    assert reason.startswith(("PermissionError: [Errno 13]", "IsADirectoryError"))


def test_worker_state_dir_is_unreachable(
    executor: NativePythonExecutor, host: dict[str, Path]
) -> None:
    body = """
        import os
        results = []
        for path in (argv[1], argv[1] + "/secret.db"):
            for probe in (os.listdir, lambda p: open(p, "rb").read()):
                try:
                    probe(path)
                    results.append("read " + path)
                except OSError as error:
                    results.append(type(error).__name__)
        return ",".join(results)
    """
    summary = attack(executor, host, body, {"state": str(host["state"])})
    # listdir(state), open(state), listdir(secret) (lookups are not Landlock's), open(secret)
    assert summary == "PermissionError,PermissionError,NotADirectoryError,PermissionError"
    assert "worker secret" not in summary


def test_sandbox_sees_no_other_directory(
    executor: NativePythonExecutor, host: dict[str, Path]
) -> None:
    body = """
        import os
        seen = {}
        for path in ("/", "/tmp", "..", "../in", "/usr/bin"):
            try:
                seen[path] = sorted(os.listdir(path))
            except OSError as error:
                seen[path] = type(error).__name__
        return repr(seen)
    """
    seen = eval(attack(executor, host, body))
    assert seen["/"] == seen["/tmp"] == seen[".."] == seen["/usr/bin"] == "PermissionError"
    assert seen["../in"] == []  # its own (empty) input directory, read-only


@pytest.mark.parametrize(
    "name", ["../x", "../../etc/passwd", "/etc/passwd", "input/../input", "./input", "input\x00"]
)
def test_path_traversal_through_teaclave_open(
    executor: NativePythonExecutor, host: dict[str, Path], name: str
) -> None:
    reason = refused(executor, host, f"return teaclave_open({name!r}, 'rb').read()")
    assert reason.startswith("RuntimeError: fileio_init: teaclave_ffi_error")


def test_input_directory_is_read_only(
    executor: NativePythonExecutor, host: dict[str, Path]
) -> None:
    body = """
        import os
        path = teaclave_open("input", "rb").name
        open(path, "ab").write(b"tampered")
    """
    assert refused(executor, host, body).startswith("PermissionError: [Errno 13]")
    assert host["input"].read_text() == "task input"


# -- network ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "family", ["socket.AF_INET", "socket.AF_INET6", "socket.AF_NETLINK", "socket.AF_PACKET"]
)
def test_sockets_are_refused(
    executor: NativePythonExecutor, host: dict[str, Path], family: str
) -> None:
    reason = refused(executor, host, f"import socket\nsocket.socket({family})")
    assert reason.startswith("PermissionError: [Errno 1] Operation not permitted")


def test_loopback_connection_fails(executor: NativePythonExecutor, host: dict[str, Path]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.3)
        port = server.getsockname()[1]
        body = """
            import socket, ctypes
            errors = []
            try:
                socket.create_connection(("127.0.0.1", int(argv[1])), timeout=1)
            except OSError as error:
                errors.append(type(error).__name__)
            libc = ctypes.CDLL(None, use_errno=True)
            errors.append(str(libc.socket(2, 1, 0)) + "/" + str(ctypes.get_errno()))
            unix = socket.socket(socket.AF_UNIX)
            try:
                unix.connect("/run/anything.sock")
            except OSError as error:
                errors.append(type(error).__name__)
            return ",".join(errors)
        """
        summary = attack(executor, host, body, {"port": str(port)})
        assert summary == "PermissionError,-1/1,PermissionError"
        with pytest.raises(TimeoutError):
            server.accept()


# -- processes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "import subprocess\nsubprocess.run(['/bin/true'])",
        "import os\nos.fork()",
        "import os\nos.posix_spawn('/bin/true', ['true'], {})",
        "import os\nos.execv('/bin/true', ['true'])",
        "import multiprocessing\nmultiprocessing.Process(target=print).start()",
    ],
)
def test_process_creation_is_refused(
    executor: NativePythonExecutor, host: dict[str, Path], body: str
) -> None:
    assert "PermissionError: [Errno 1] Operation not permitted" in refused(executor, host, body)


def test_os_system_runs_nothing(
    executor: NativePythonExecutor, host: dict[str, Path], tmp_path: Path
) -> None:
    marker = tmp_path / f"pwned-{uuid.uuid4().hex}"
    status = attack(executor, host, f"import os\nreturn str(os.system('touch {marker}'))")
    assert status != "0"
    assert not marker.exists()


def test_ctypes_cannot_bypass_seccomp(
    executor: NativePythonExecutor, host: dict[str, Path]
) -> None:
    body = """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        results = [libc.fork(), libc.socket(2, 1, 0),
                   libc.kill(os.getppid(), 9), libc.ptrace(16, os.getppid(), 0, 0),
                   libc.syscall(435, 0, 0), libc.unshare(0x40000000),
                   libc.setuid(1000), libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)]
        return ",".join(str(r) for r in results)
    """
    assert attack(executor, host, body) == ",".join(["-1"] * 8)


@pytest.mark.parametrize("number", [57, 41, 62])  # fork, socket, kill in the x32 ABI
def test_x32_syscalls_are_killed(
    executor: NativePythonExecutor, host: dict[str, Path], number: int
) -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("the x32 ABI exists only on x86_64")
    body = f"import ctypes\nreturn str(ctypes.CDLL(None).syscall({0x40000000 | number}, 0, 0, 0))"
    assert refused(executor, host, body).startswith("the payload was killed by SIGSYS")


def test_signals_cannot_leave_the_sandbox(
    executor: NativePythonExecutor, host: dict[str, Path]
) -> None:
    body = """
        import ctypes, os, signal
        libc = ctypes.CDLL(None, use_errno=True)
        results = []
        for send in (lambda: os.kill(os.getppid(), signal.SIGKILL),
                     lambda: os.kill(-1, signal.SIGKILL),
                     lambda: os.killpg(0, signal.SIGKILL),
                     lambda: os.pidfd_open(os.getppid())):
            try:
                send()
                results.append("sent")
            except OSError as error:
                results.append(error.errno)
        results.append(libc.tgkill(os.getppid(), os.getppid(), 9))
        return repr(results)
    """
    assert attack(executor, host, body) == repr([1, 1, 1, 1, -1])


def test_ptrace_is_refused(executor: NativePythonExecutor, host: dict[str, Path]) -> None:
    body = """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        result = libc.ptrace(16, os.getppid(), 0, 0)  # PTRACE_ATTACH
        return "%d/%d" % (result, ctypes.get_errno())
    """
    assert attack(executor, host, body) == "-1/1"


# -- privileges and limits --------------------------------------------------------------------


def test_no_capabilities_and_no_limit_raising(
    executor: NativePythonExecutor, host: dict[str, Path]
) -> None:
    body = """
        import ctypes, resource
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)
        data = (ctypes.c_uint32 * 6)()
        ctypes.CDLL(None).capget(header, data)
        try:
            resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY,) * 2)
            raised = "raised"
        except (ValueError, OSError) as error:
            raised = type(error).__name__
        return "%s %s" % (list(data), raised)
    """
    assert attack(executor, host, body) == "[0, 0, 0, 0, 0, 0] ValueError"


def test_host_file_metadata_is_untouchable(
    executor: NativePythonExecutor, host: dict[str, Path]
) -> None:
    secret = host["state"] / "secret.db"
    body = """
        import os
        results = []
        for change in (lambda p: os.chmod(p, 0o777), lambda p: os.chown(p, 1000, 1000),
                       lambda p: os.utime(p, (0, 0)), lambda p: os.truncate(p, 0),
                       lambda p: os.setxattr(p, "user.x", b"1")):
            try:
                change(argv[1])
                results.append("changed")
            except OSError as error:
                results.append(error.errno)
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        # fchmodat2 (452, Linux 6.6; newer than libseccomp 2.5), then a read-only fd's fchmod
        results.append(libc.syscall(452, -100, argv[1].encode(), 0o777, 0))
        fd = os.open(os.__file__, os.O_RDONLY)  # the stdlib: readable, must stay unchanged
        results.append(libc.fchmod(fd, 0o777))
        return repr(results)
    """
    before = secret.stat()
    stdlib_file = os.stat(os.__file__)
    summary = attack(executor, host, body, {"path": str(secret)})
    assert summary == repr([1, 1, 1, 1, 1, -1, -1])
    assert os.stat(os.__file__).st_mode == stdlib_file.st_mode
    after = secret.stat()
    assert (after.st_mode, after.st_uid, after.st_mtime_ns, after.st_size) == (
        before.st_mode,
        before.st_uid,
        before.st_mtime_ns,
        before.st_size,
    )
    assert stat.S_IMODE(after.st_mode) == 0o600


@pytest.mark.parametrize(
    "body",
    [
        "import os\nos.mknod('disk', 0o600 | 0o060000, os.makedev(8, 0))",
        "import os\nos.symlink('/etc/passwd', 'passwd')",
        "import os\nos.mkfifo('fifo')",
    ],
)
def test_special_files_cannot_be_made(
    executor: NativePythonExecutor, host: dict[str, Path], body: str
) -> None:
    assert refused(executor, host, body).startswith("PermissionError")


# -- interpreter escapes ----------------------------------------------------------------------


def test_subclasses_walk_finds_nothing_usable(
    executor: NativePythonExecutor, host: dict[str, Path]
) -> None:
    body = """
        found = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == "_wrap_close"]
        os_globals = found[0].__init__.__globals__
        results = []
        for escape in (lambda: os_globals["open"]("/etc/passwd", os_globals["O_RDONLY"]),
                       lambda: os_globals["popen"]("cat /etc/passwd").read(),
                       lambda: os_globals["system"]("cat /etc/passwd")):
            try:
                results.append(repr(escape()))
            except OSError as error:
                results.append(type(error).__name__)
        return ",".join(results)
    """
    summary = attack(executor, host, body)
    opened, popened, system = summary.split(",")
    assert (opened, popened) == ("PermissionError", "PermissionError")
    assert system != "0"
    assert "root:" not in summary


@pytest.mark.parametrize(
    "module", ["teaclave.crypto", "teaclave.executors", "grpc", "cryptography", "wasmtime"]
)
def test_host_modules_are_not_importable(
    executor: NativePythonExecutor, host: dict[str, Path], module: str
) -> None:
    assert refused(executor, host, f"import {module}").startswith("ModuleNotFoundError")


def test_only_the_stdlib_and_numpy_are_on_the_path(
    executor: NativePythonExecutor, host: dict[str, Path]
) -> None:
    body = """
        import sys, teaclave
        return repr((sys.flags.isolated, sys.flags.no_site, sys.path,
                     getattr(teaclave, "__file__", None)))
    """
    isolated, no_site, path, teaclave_file = eval(attack(executor, host, body))
    assert (isolated, no_site, teaclave_file) == (1, 1, None)
    assert not any("site-packages" in entry for entry in path)
    assert path[-1].endswith("/lib")


# -- resource exhaustion ----------------------------------------------------------------------


def test_infinite_loop_hits_the_deadline(
    executor: NativePythonExecutor, host: dict[str, Path]
) -> None:
    started = time.monotonic()
    reason = refused(executor, host, "while True:\n    pass", deadline=1.0)
    assert reason == "deadline of 1 s exceeded"
    assert time.monotonic() - started < 3.0


def test_closed_channel_and_sleep_still_hit_the_deadline(
    executor: NativePythonExecutor, host: dict[str, Path]
) -> None:
    body = """
        import os, time
        os.close(teaclave_open.__closure__[0].cell_contents.request_fd)
        time.sleep(60)
    """
    assert refused(executor, host, body, deadline=1.0) == "deadline of 1 s exceeded"


@pytest.mark.parametrize(
    "body", ["x = bytearray(1 << 30)", "x = [0] * (1 << 28)", "x = ' ' * (1 << 29) + 'x' * 9"]
)
def test_memory_bomb(executor: NativePythonExecutor, host: dict[str, Path], body: str) -> None:
    reason = refused(executor, host, body)
    assert reason.startswith("MemoryError")
    assert "(memory limit 256 MiB, executor.memory_mib)" in reason


def test_huge_output_is_stopped_and_not_uploaded(
    executor: NativePythonExecutor, host: dict[str, Path]
) -> None:
    body = """
        out = teaclave_open("output", "wb")
        for _ in range(64):
            out.write(b"x" * (64 * 1024))
        out.close()
        return "wrote everything"
    """
    reason = refused(executor, host, body)
    assert reason.startswith("OSError: [Errno 27] File too large")
    assert f"(file size limit {MAX_FILE_BYTES} bytes)" in reason
    assert host["output"].read_bytes() == b""  # nothing of the run was copied out


def test_huge_stdout_is_stopped(executor: NativePythonExecutor, host: dict[str, Path]) -> None:
    body = "import sys\nfor _ in range(64):\n    sys.stdout.write('y' * 65536)\nsys.stdout.flush()"
    assert "[Errno 27] File too large" in refused(executor, host, body)


def test_file_descriptor_exhaustion(executor: NativePythonExecutor, host: dict[str, Path]) -> None:
    reason = refused(executor, host, "files = [open('/dev/null') for _ in range(10000)]")
    assert reason.startswith("OSError: [Errno 24] Too many open files")
    assert "(open file limit 64)" in reason


def test_threads_are_killed_with_the_run(
    executor: NativePythonExecutor, host: dict[str, Path]
) -> None:
    body = """
        import threading
        def spin():
            while True:
                pass
        for _ in range(4):
            threading.Thread(target=spin).start()
        return "returned"
    """
    started = time.monotonic()
    assert attack(executor, host, body) == "returned"
    assert time.monotonic() - started < 5.0


# -- outputs ----------------------------------------------------------------------------------


def test_undeclared_outputs_are_refused_and_not_uploaded(
    executor: NativePythonExecutor, host: dict[str, Path]
) -> None:
    body = """
        open("stray-file", "wb").write(b"not an output")
        try:
            teaclave_open("undeclared_output", "wb")
        except RuntimeError as error:
            return str(error)
        return "opened"
    """
    assert attack(executor, host, body) == "fileio_init: teaclave_ffi_error"
    assert not host["output"].exists()


def test_output_replaced_by_a_link_is_refused(
    executor: NativePythonExecutor, host: dict[str, Path]
) -> None:
    body = """
        import os
        out = teaclave_open("output", "wb")
        out.close()
        os.link(out.name, "second-name")
        return "linked"
    """
    assert refused(executor, host, body) == "output 'output': not a regular file the payload wrote"


def test_output_removed_by_the_payload(
    executor: NativePythonExecutor, host: dict[str, Path]
) -> None:
    body = "import os\nout = teaclave_open('output', 'wb')\nout.close()\nos.remove(out.name)"
    assert refused(executor, host, body + "\nreturn 'x'").startswith(
        "output 'output': the payload removed it"
    )


# -- the worker channel -----------------------------------------------------------------------


def channel_body(action: str) -> str:
    return (
        "import os, struct\n"
        "channel = teaclave_open.__closure__[0].cell_contents\n"
        f"{action}\n"
        "return 'survived'"
    )


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        (
            "os.write(channel.request_fd, struct.pack('>cI', b'R', 1 << 30))",
            "the function's result is 1073741824 bytes, over the limit of 65536",
        ),
        (
            "os.write(channel.request_fd, b'Zjunk')",
            "the payload broke the sandbox protocol: unknown frame kind",
        ),
        (
            "os.write(channel.request_fd, struct.pack('>cI', b'O', 1 << 20))",
            "the payload broke the sandbox protocol",
        ),
        (
            "frame = struct.pack('>cI', b'O', 7) + b'rbinput'\n"
            "for _ in range(20000):\n"
            "    os.write(channel.request_fd, frame)",
            "the payload broke the sandbox protocol: unread replies",
        ),
    ],
)
def test_forged_frames_are_refused(
    executor: NativePythonExecutor, host: dict[str, Path], action: str, reason: str
) -> None:
    assert refused(executor, host, channel_body(action)).startswith(reason)


def test_forged_open_requests_get_nothing_more(
    executor: NativePythonExecutor, host: dict[str, Path]
) -> None:
    body = """
        channel = teaclave_open.__closure__[0].cell_contents
        return repr([channel.open_path(name, mode) for name, mode in
                     (("../x", "rb"), ("input", "r+"), ("input", "ab"), ("output", "wb"))])
    """
    granted = eval(attack(executor, host, body))
    assert granted[:3] == [None, None, None]
    assert granted[3].endswith("/work/output-0")
    assert host["output"].read_bytes() == b""  # granted, never written: an empty output


def test_payload_cannot_see_the_worker_environment(
    executor: NativePythonExecutor, host: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEACLAVE_TEST_SECRET", "do-not-leak")
    summary = attack(executor, host, "import os\nreturn repr(sorted(os.environ))")
    assert "TEACLAVE_TEST_SECRET" not in summary
    assert "do-not-leak" not in summary
    assert os.environ["TEACLAVE_TEST_SECRET"] == "do-not-leak"
