"""``NativePythonExecutor``: real CPython (with numpy) in an OS sandbox — executor ``cpython``.

Same payload API as Teaclave's MesaPy (spec §6.7): the payload defines ``entrypoint(argv)``
(argv = the arguments flattened with keys sorted, §2.9) and reads/writes the task's files with
``teaclave_open(name, mode)`` / ``from teaclave import open``. Each run is a fresh child
process (``sandbox/child.py``) confined by five layers:

* rlimits: CPU seconds ≈ the run's deadline, address space = ``executor.memory_mib``, file
  size = ``max_file_bytes`` (1 GiB by default: the largest output, or stdout, a payload can
  write), 64 open files, no core dumps (``RLIMIT_NPROC`` means nothing to uid 0: seccomp is
  what stops fork);
* new network, IPC and UTS namespaces (no usable interface, no host SysV IPC); a worker
  without ``CAP_SYS_ADMIN`` creates them inside a new user namespace;
* no capabilities, locked securebits and ``no_new_privs`` (the child keeps uid 0 but loses
  every privilege);
* Landlock (ABI >= 3): read-only below the stdlib, numpy's directories (reached through the
  run's ``lib`` directory of symlinks, the only site-packages entry on ``sys.path``), the run's
  input directory and system libraries; read-write below the run's work directory only; no
  TCP; signals and abstract sockets scoped (ABI >= 6). Landlock does not cover metadata: a
  payload can ``stat`` host paths (not list directories or read files);
* seccomp (``sandbox/seccomp_filter.py``): no sockets but AF_UNIX (and no connect/send), no
  exec, fork or signals, no metadata changes, no namespaces/mounts/privileges/limits.

The payload's stdout and stderr (their first 64 KiB) become function log lines, so a task
with ``save_log`` gets what its payload printed.

Run directory (``0700``, removed afterwards): ``config`` and ``payload.py`` (read by the
child before it confines itself), ``lib/`` (symlinks to allowed packages), ``in/`` (decrypted
inputs, read-only to the child, written on demand when the payload opens them), ``work/`` (the
child's cwd, the only writable place; declared outputs the payload opened for writing are
copied from here into ``runtime.create_output`` after a successful run), ``stdout``/``stderr``.

The worker watches the run: it answers the child's open requests, and kills the child's
process group when the deadline passes or the task is canceled. A payload exception, a crash,
a limit, a missing or oversized result all fail the run with a clear reason.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import marshal
import math
import os
import py_compile
import select
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from teaclave.executors.base import (
    ExecutionContext,
    ExecutionError,
    current_context,
    payload_argv,
    register_executor,
)
from teaclave.executors.sandbox import child, landlock, protocol, seccomp_filter
from teaclave.functions import function_logger
from teaclave.types.function import Executor, ExecutorType

if TYPE_CHECKING:
    from teaclave.config.runtime import ExecutorConfig
    from teaclave.worker.runtime import Runtime

#: Largest file the payload may write (RLIMIT_FSIZE), so the largest output it can produce.
DEFAULT_MAX_FILE_BYTES = 1 << 30
#: Open file descriptors the payload may hold (RLIMIT_NOFILE).
OPEN_FILES = 64
#: Landlock ABI needed: ABI 3 is the first that stops truncating read-only files.
MIN_LANDLOCK_ABI = 3
#: Packages (from the worker's site-packages) a payload may import.
ALLOWED_PACKAGES = ("numpy",)
#: System paths the child may read (the dynamic loader's cache and libraries, randomness).
SYSTEM_READ_ONLY = (
    "/usr/lib",
    "/usr/lib64",
    "/lib",
    "/lib64",
    "/etc/ld.so.cache",
    "/dev/urandom",
)
#: System paths the child may read and write.
SYSTEM_READ_WRITE = ("/dev/null",)
#: Environment of the child (nothing of the worker's).
CHILD_ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
PROBE_PAYLOAD = b"def entrypoint(argv):\n    return 'ok:' + ','.join(argv)\n"
PROBE_DEADLINE_SECS = 30.0
_STDERR_TAIL_BYTES = 2048
_LOG_HEAD_BYTES = 64 * 1024
_POLL_SECS = 0.1
_CAP_SYS_ADMIN = 21

log = function_logger("cpython")


class SandboxUnavailable(ExecutionError):
    """The machine cannot provide the native Python sandbox (the message says what is missing)."""


#: Teaclave's argv flattening (shared: ``teaclave.executors.base.payload_argv``).
flatten_arguments = payload_argv


_CACHE_LOCK = threading.Lock()
#: The compiled seccomp filter (the policy is fixed: one compile per process).
_BPF_CACHE: list[bytes] = []
#: (memory_mib, work_root) settings whose probe run succeeded in this process.
_PROBED: set[tuple[int, str | None]] = set()


def compiled_filter() -> bytes:
    """The sandbox's seccomp BPF program (compiled on first use); ``SandboxUnavailable``."""
    with _CACHE_LOCK:
        if not _BPF_CACHE:
            try:
                _BPF_CACHE.append(seccomp_filter.build_bpf())
            except (RuntimeError, OSError) as exc:
                raise SandboxUnavailable(f"seccomp is unavailable: {exc}") from exc
        return _BPF_CACHE[0]


def has_cap_sys_admin() -> bool:
    """Whether this process holds CAP_SYS_ADMIN (needed for ``unshare(CLONE_NEWNET)``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> _CAP_SYS_ADMIN & 1)
    except OSError:
        pass
    return False


def user_namespaces_enabled() -> bool:
    """Whether an unprivileged process may create a user namespace."""
    try:
        with open("/proc/sys/user/max_user_namespaces", encoding="ascii") as file:
            if int(file.read()) <= 0:
                return False
    except (OSError, ValueError):
        return False
    try:
        with open("/proc/sys/kernel/unprivileged_userns_clone", encoding="ascii") as file:
            return file.read().strip() != "0"
    except OSError:
        return True


def package_paths(names: Sequence[str]) -> list[tuple[str, str]]:
    """``(entry name, real path)`` of each package and its sibling ``.libs``/``.dist-info``."""
    entries: list[tuple[str, str]] = []
    for name in names:
        spec = importlib.util.find_spec(name)
        locations = list(spec.submodule_search_locations or []) if spec else []
        if not locations:
            raise SandboxUnavailable(f"package {name!r} is not installed for this interpreter")
        package = Path(locations[0]).resolve()
        entries.append((name, str(package)))
        site = package.parent
        for sibling in sorted(site.glob(f"{name}.libs")) + sorted(site.glob(f"{name}-*.dist-info")):
            entries.append((sibling.name, str(sibling.resolve())))
    return entries


def precompile_sandbox() -> None:
    """Write the bytecode of the child's modules next to them (``__pycache__``).

    The child imports them at every run with ``-B``; without cached bytecode (e.g. under
    ``PYTHONDONTWRITEBYTECODE``) it would compile them each time (~10 ms). Best effort: a
    read-only installation just runs slower.
    """
    directory = Path(child.__file__).parent
    for source in sorted(directory.glob("*.py")):
        cache = Path(importlib.util.cache_from_source(str(source)))
        with contextlib.suppress(OSError, py_compile.PyCompileError):
            if not cache.exists() or cache.stat().st_mtime < source.stat().st_mtime:
                py_compile.compile(str(source), cfile=str(cache), doraise=True)


def _stdlib_paths() -> list[str]:
    paths = {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]}
    paths.update(p for p in sys.path if p.endswith("lib-dynload"))
    return sorted(str(Path(p).resolve()) for p in paths if os.path.isdir(p))


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


@dataclass
class _Run:
    """The state of one run: its directories, its files and what the child reported."""

    root: Path
    runtime: Runtime
    budget: float
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, tuple[BinaryIO, str]] = field(default_factory=dict)
    result: str | None = None
    error: str | None = None

    @property
    def input_dir(self) -> Path:
        return self.root / "in"

    @property
    def work_dir(self) -> Path:
        return self.root / "work"

    def open_file(self, name: str, mode: str) -> str | None:
        """Answer an open request: the path the child may open, or None (refused)."""
        if mode == "rb":
            return self._open_input(name)
        if mode == "wb":
            return self._open_output(name)
        return None

    def _open_input(self, name: str) -> str | None:
        if name in self.inputs:
            return self.inputs[name]
        try:
            reader = self.runtime.open_input(name)
        except Exception:
            return None
        path = self.input_dir / str(len(self.inputs))
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            with reader, os.fdopen(os.open(path, flags, 0o600), "wb") as copy:
                shutil.copyfileobj(reader, copy, 1 << 20)
        except Exception:
            # A tampered or unreadable input looks like an unknown one to the payload.
            path.unlink(missing_ok=True)
            return None
        self.inputs[name] = str(path)
        return str(path)

    def _open_output(self, name: str) -> str | None:
        if name in self.outputs:
            return self.outputs[name][1]
        path = str(self.work_dir / f"output-{len(self.outputs)}")
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            os.close(os.open(path, flags, 0o600))  # what a granted but unwritten output holds
            writer = self.runtime.create_output(name)
        except Exception:
            return None
        self.outputs[name] = (writer, path)
        return path

    def copy_outputs(self) -> None:
        """Copy each output the payload opened for writing into the runtime's output."""
        for name, (writer, path) in self.outputs.items():
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            try:
                fd = os.open(path, flags)
            except OSError as exc:
                raise ExecutionError(f"output {name!r}: the payload removed it ({exc})") from None
            with os.fdopen(fd, "rb") as source:
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
                    raise ExecutionError(f"output {name!r}: not a regular file the payload wrote")
                shutil.copyfileobj(source, writer, 1 << 20)
            writer.close()

    def discard_outputs(self) -> None:
        """Abandon every output writer (a failed run uploads nothing)."""
        for writer, _path in self.outputs.values():
            abort = getattr(writer, "abort", None)
            with contextlib.suppress(Exception):
                if callable(abort):
                    abort()
                else:
                    writer.close()


class NativePythonExecutor:
    """Runs Python payloads in a confined child CPython; see the module docstring.

    The constructor checks the kernel (Landlock ABI, seccomp, namespaces), compiles the
    seccomp filter and runs a probe payload through the full sandbox; it raises
    ``SandboxUnavailable`` naming what is missing when any of that fails.
    """

    def __init__(
        self,
        config: ExecutorConfig,
        *,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        packages: Sequence[str] = ALLOWED_PACKAGES,
        work_root: str | None = None,
    ) -> None:
        self.config = config
        self.python = sys.executable
        self.max_file_bytes = max_file_bytes
        self.work_root = work_root
        if not sys.platform.startswith("linux"):
            raise SandboxUnavailable(f"the native Python sandbox needs Linux, not {sys.platform}")
        self.landlock_abi = landlock.abi_version()
        if self.landlock_abi < 1:
            raise SandboxUnavailable(
                "Landlock is unavailable (landlock_create_ruleset with "
                "LANDLOCK_CREATE_RULESET_VERSION failed; needs Linux >= 6.2 with "
                "CONFIG_SECURITY_LANDLOCK=y and landlock in the lsm= boot list)"
            )
        if self.landlock_abi < MIN_LANDLOCK_ABI:
            raise SandboxUnavailable(
                f"Landlock ABI {self.landlock_abi} is too old: ABI {MIN_LANDLOCK_ABI} "
                "(Linux 6.2) is needed to stop payloads truncating read-only files"
            )
        self.seccomp_bpf = compiled_filter()
        if has_cap_sys_admin():
            self.user_namespace = False
        elif user_namespaces_enabled():
            self.user_namespace = True
        else:
            raise SandboxUnavailable(
                "cannot create a network namespace: the worker lacks CAP_SYS_ADMIN (run it "
                "as root) and unprivileged user namespaces are disabled"
            )
        precompile_sandbox()
        self._command = [
            self.python, "-I", "-S", "-B", "-X", "utf8", "-c", child.BOOTSTRAP,
            str(Path(child.__file__).parent),
        ]  # fmt: skip
        self.packages = package_paths(packages)
        self.read_only = [
            *_stdlib_paths(),
            *(path for _name, path in self.packages),
            *SYSTEM_READ_ONLY,
        ]
        key = (self.config.memory_mib, self.work_root)
        with _CACHE_LOCK:
            probed = key in _PROBED
        if not probed:
            self._probe()
            with _CACHE_LOCK:
                _PROBED.add(key)

    def _probe(self) -> None:
        """Run a tiny payload through the whole sandbox (once per process and settings)."""
        from teaclave.worker.runtime import NoFilesRuntime

        context = ExecutionContext(deadline=time.monotonic() + PROBE_DEADLINE_SECS)
        try:
            summary = self._run(PROBE_PAYLOAD, ["probe"], NoFilesRuntime(), context)
        except ExecutionError as exc:
            raise SandboxUnavailable(f"the sandbox probe failed: {exc}") from exc
        if summary != "ok:probe":
            raise SandboxUnavailable(f"the sandbox probe returned {summary!r}, expected 'ok:probe'")

    def execute(
        self, name: str, arguments: dict[str, Any], payload: bytes, runtime: Runtime
    ) -> str:
        """Run ``payload``'s ``entrypoint(argv)`` in the sandbox; return its summary."""
        summary = self._run(payload, flatten_arguments(arguments), runtime, current_context())
        if len(summary.encode()) > self.config.max_result_bytes:
            raise ExecutionError(
                f"the function's result is {len(summary.encode())} bytes, over the limit of "
                f"{self.config.max_result_bytes} (executor.max_result_bytes)"
            )
        return summary

    def _run(
        self, payload: bytes, argv: list[str], runtime: Runtime, context: ExecutionContext
    ) -> str:
        started = time.monotonic()
        # Outside a worker's run the context has no deadline: the configured one still holds.
        deadline = min(context.deadline, started + self.config.deadline_secs)
        budget = deadline - started
        if context.cancel.is_set():
            raise ExecutionError("canceled")
        if budget <= 0:
            raise ExecutionError("deadline exceeded before the run started")
        root = Path(tempfile.mkdtemp(prefix="teaclave-cpython-", dir=self.work_root))
        run = _Run(root=root, runtime=runtime, budget=budget)
        try:
            summary = self._supervise(run, payload, argv, context, deadline)
            run.copy_outputs()
            _forward_logs(root)
        except BaseException:
            run.discard_outputs()
            raise
        finally:
            shutil.rmtree(root, ignore_errors=True)
        return summary

    def _prepare(
        self, run: _Run, payload: bytes, argv: list[str], budget: float, fds: tuple[int, int]
    ) -> Path:
        """Lay out the run directory; return the child's config file."""
        lib = run.root / "lib"
        for directory in (lib, run.input_dir, run.work_dir):
            directory.mkdir(mode=0o700)
        for entry, path in self.packages:
            (lib / entry).symlink_to(path)
        (run.root / "payload.py").write_bytes(payload)
        config = {
            "payload": str(run.root / "payload.py"),
            "argv": argv,
            "sys_path": [str(lib)],
            "limits": {
                "cpu_secs": max(1, math.ceil(budget)) + 1,
                "address_space": self.config.memory_mib << 20,
                "file_size": self.max_file_bytes,
                "open_files": OPEN_FILES,
            },
            "user_namespace": self.user_namespace,
            "read_only": [*self.read_only, str(lib), str(run.input_dir)],
            "read_write": [str(run.work_dir), *SYSTEM_READ_WRITE],
            "seccomp_bpf": self.seccomp_bpf.hex(),
            "request_fd": fds[0],
            "reply_fd": fds[1],
        }
        config_path = run.root / "config"
        config_path.write_bytes(marshal.dumps(config))
        return config_path

    def _supervise(
        self,
        run: _Run,
        payload: bytes,
        argv: list[str],
        context: ExecutionContext,
        deadline: float,
    ) -> str:
        budget = deadline - time.monotonic()
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        try:
            config_path = self._prepare(run, payload, argv, budget, (request_write, reply_read))
        except BaseException:
            for fd in (request_read, request_write, reply_read, reply_write):
                os.close(fd)
            raise
        stdout = open(run.root / "stdout", "wb")  # noqa: SIM115
        stderr = open(run.root / "stderr", "wb")  # noqa: SIM115
        try:
            process = subprocess.Popen(
                [*self._command, str(config_path)],
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                cwd=run.work_dir,
                env={**CHILD_ENVIRONMENT, "HOME": str(run.work_dir), "TMPDIR": str(run.work_dir)},
                pass_fds=(request_write, reply_read),
                start_new_session=True,
            )
        except OSError as exc:
            for fd in (request_read, request_write, reply_read, reply_write):
                os.close(fd)
            raise ExecutionError(f"cannot start the sandboxed interpreter: {exc}") from exc
        finally:
            stdout.close()
            stderr.close()
        os.close(request_write)
        os.close(reply_read)
        os.set_blocking(reply_write, False)
        try:
            self._watch(run, process, request_read, reply_write, context, deadline)
        finally:
            _kill(process)
            os.close(request_read)
            os.close(reply_write)
        return self._outcome(run, process)

    def _watch(
        self,
        run: _Run,
        process: subprocess.Popen[bytes],
        request_fd: int,
        reply_fd: int,
        context: ExecutionContext,
        deadline: float,
    ) -> None:
        """Serve the child's requests until it exits; kill it on deadline or cancel."""
        reader = protocol.FrameReader(self.config.max_result_bytes)
        with _pidfd(process.pid) as pidfd:
            poller = select.poll()  # not select(): the worker may hold fds above 1023
            poller.register(request_fd, select.POLLIN)
            if pidfd >= 0:
                poller.register(pidfd, select.POLLIN)
            channel_open = True
            while True:
                if context.cancel.is_set():
                    _kill(process)
                    raise ExecutionError("canceled")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    _kill(process)
                    raise ExecutionError(f"deadline of {run.budget:.3g} s exceeded")
                # Without a pidfd, an exited child with a closed channel is polled for quickly.
                wait = _POLL_SECS if pidfd >= 0 or channel_open else 0.005
                ready = {fd for fd, _events in poller.poll(math.ceil(min(remaining, wait) * 1000))}
                exited = pidfd in ready or process.poll() is not None
                if request_fd in ready or (exited and channel_open):
                    channel_open = self._serve(run, process, reader, request_fd, reply_fd)
                    if not channel_open:
                        poller.unregister(request_fd)
                if exited and not channel_open:
                    process.wait()
                    return

    def _serve(
        self,
        run: _Run,
        process: subprocess.Popen[bytes],
        reader: protocol.FrameReader,
        request_fd: int,
        reply_fd: int,
    ) -> bool:
        """Handle what the child wrote; False once its end of the channel is closed."""
        data = os.read(request_fd, 1 << 20)
        if not data:
            return False
        try:
            frames = reader.feed(data)
        except protocol.ProtocolError as exc:
            _kill(process)
            if exc.kind == protocol.RESULT:
                raise ExecutionError(
                    f"the function's result is {exc.length} bytes, over the limit of "
                    f"{self.config.max_result_bytes} (executor.max_result_bytes)"
                ) from None
            raise ExecutionError(f"the payload broke the sandbox protocol: {exc}") from None
        for kind, body in frames:
            if kind == protocol.OPEN:
                frame = protocol.encode(
                    protocol.REPLY, protocol.encode_reply(_open_request(run, body))
                )
                try:
                    written = os.write(reply_fd, frame)
                except BlockingIOError:
                    written = 0
                except OSError:
                    return False  # the child closed its reply pipe
                if written != len(frame):
                    _kill(process)
                    raise ExecutionError("the payload broke the sandbox protocol: unread replies")
            elif kind == protocol.RESULT and run.result is None and run.error is None:
                run.result = body.decode(errors="replace")
            elif kind == protocol.ERROR and run.result is None and run.error is None:
                run.error = body.decode(errors="replace")
        return True

    def _outcome(self, run: _Run, process: subprocess.Popen[bytes]) -> str:
        """The summary of a finished child, or the ExecutionError explaining its failure."""
        code = process.returncode
        tail = self._stderr_tail(run.root)
        if run.error is not None:
            if run.error.startswith(child.SETUP_PREFIX):
                raise ExecutionError(f"{run.error}{tail}")
            raise ExecutionError(f"{run.error}{self._hint(run.error)}{tail}")
        if code == 0 and run.result is not None:
            return run.result
        if code is not None and code < 0:
            raise ExecutionError(f"{self._signal_reason(-code)}{tail}")
        if run.result is not None:
            raise ExecutionError(f"the payload exited with status {code} after its result{tail}")
        raise ExecutionError(f"the payload exited with status {code} without a result{tail}")

    def _hint(self, message: str) -> str:
        if "MemoryError" in message:
            return f" (memory limit {self.config.memory_mib} MiB, executor.memory_mib)"
        if "[Errno 27]" in message:
            return f" (file size limit {self.max_file_bytes} bytes)"
        if "[Errno 24]" in message:
            return f" (open file limit {OPEN_FILES})"
        return ""

    def _signal_reason(self, number: int) -> str:
        name = _signal_name(number)
        if number in (signal.SIGXCPU, signal.SIGKILL):
            return f"the payload was killed by {name}: CPU time limit reached"
        if number == signal.SIGXFSZ:
            return f"the payload was killed by {name}: file size limit {self.max_file_bytes} bytes"
        if number == signal.SIGSYS:
            return f"the payload was killed by {name}: forbidden system call"
        return (
            f"the payload crashed with {name} (out of memory? its limit is "
            f"{self.config.memory_mib} MiB, executor.memory_mib)"
        )

    @staticmethod
    def _stderr_tail(root: Path) -> str:
        try:
            with open(root / "stderr", "rb") as file:
                size = file.seek(0, os.SEEK_END)
                file.seek(max(0, size - _STDERR_TAIL_BYTES))
                text = file.read().decode(errors="replace").strip()
        except OSError:
            return ""
        return f"\n--- stderr (last {_STDERR_TAIL_BYTES} bytes) ---\n{text}" if text else ""


def _forward_logs(root: Path) -> None:
    """Log the payload's output (stdout at INFO, stderr at WARN; the first 64 KiB of each).

    Function logs reach only the run's ``save_log`` capture, never the platform's logs.
    """
    for stream, level in (("stdout", logging.INFO), ("stderr", logging.WARNING)):
        try:
            with open(root / stream, "rb") as file:
                head = file.read(_LOG_HEAD_BYTES + 1)
        except OSError:
            continue
        text = head[:_LOG_HEAD_BYTES].decode(errors="replace")
        for line in text.splitlines():
            log.log(level, "%s", line)
        if len(head) > _LOG_HEAD_BYTES:
            log.log(level, "[%s truncated after %d bytes]", stream, _LOG_HEAD_BYTES)


def _open_request(run: _Run, body: bytes) -> str | None:
    request = protocol.decode_open(body)
    if request is None or not request[0]:
        return None
    return run.open_file(*request)


@contextlib.contextmanager
def _pidfd(pid: int) -> Iterator[int]:
    """A pidfd for ``pid`` (readable once it exits), or -1 where the kernel has none."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        yield -1
        return
    try:
        yield fd
    finally:
        os.close(fd)


def _kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's process group (it is a session leader) and reap it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    process.wait()


@register_executor(ExecutorType.PYTHON, Executor.CPYTHON)
def native_python_executor(config: ExecutorConfig) -> NativePythonExecutor:
    """Factory of the (python, cpython) executor.

    Raises ``SandboxUnavailable`` when the kernel lacks what the sandbox needs.
    """
    return NativePythonExecutor(config)
