"""``WasmExecutor``: Teaclave's WAMR executor (``wamr``/``wamr``) on wasmtime.

The payload is a WebAssembly binary exporting ``int entrypoint(int argc, char **argv)``; argv is
the flattened, key-sorted argument list (services.md §2.9) and the summary is the decimal text of
the returned int. The only imports a module may have are the five ``env.teaclave_*`` file calls
of ``wasm_host`` (no WASI, no syscalls): anything else is refused before instantiation.

Limits of every run (one ``Store`` per run, fresh):

* linear memory ``executor.wasm_heap_mib`` MiB (Teaclave's WAMR heap, 20 MiB): ``memory.grow``
  past it returns -1, a module declaring more fails to instantiate, and a trap while memory is
  at the limit names the limit; one memory, one instance, at most 4 tables of
  ``MAX_TABLE_ELEMENTS`` elements;
* wasm stack ``STACK_BYTES`` (160 KiB, WAMR's 163 840): deeper recursion traps;
* fuel ``executor.fuel`` instructions when > 0 (the engine is then compiled with fuel metering);
* deadline and cancellation through epoch interruption: a ticker thread advances the engine
  epoch every ``TICK_SECS`` while any run is active (it exits when idle), and at every tick
  each running store calls back into Python, which stops the guest once
  ``ExecutionContext.expired()`` or the run broke a host-side limit, and otherwise grants it
  one more tick (so concurrent runs on the shared engine never interrupt each other);
* at most ``max_output_bytes`` written to the run's outputs in total (default 1 GiB).

Every failure — a trap, a missing or ill-typed ``entrypoint``, a refused import, an invalid
binary, running out of fuel, the deadline, a cancel, a limit — is an ``ExecutionError`` with a
short reason (Teaclave reported traps as successful summaries; we do not).

Compiled modules are cached by the SHA-256 of the payload: in memory (LRU) and on disk under
``<cache_dir>/wasm/<engine fingerprint>/<sha256>.cwasm`` (``Module.serialize``, written
atomically, with a ``.sha256`` digest of the artifact beside it). The fingerprint hashes the
wasmtime version, the machine and every engine setting that changes generated code, so an
artifact of another engine is never even looked at; one that fails its digest or wasmtime's own
checks is deleted and the payload recompiled. The cache directory is trusted like the rest of
the worker's state directory: wasmtime artifacts are native code.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import wasmtime
from wasmtime import _ffi as ffi

from teaclave.executors.base import (
    ExecutionContext,
    ExecutionError,
    current_context,
    payload_argv,
    register_executor,
)
from teaclave.executors.wasm_host import (
    DEFAULT_MAX_OUTPUT_BYTES,
    FAILURE,
    GuestMemory,
    HandleTable,
    HostApi,
)
from teaclave.types.function import Executor, ExecutorType

if TYPE_CHECKING:
    from teaclave.config.runtime import ExecutorConfig
    from teaclave.worker.runtime import Runtime

log = logging.getLogger(__name__)

ENTRYPOINT = "entrypoint"
MEMORY_EXPORT = "memory"
HOST_MODULE = "env"
#: The host functions a payload may import from ``env``, by number of i32 parameters.
HOST_FUNCTIONS: Mapping[str, int] = {
    "teaclave_open_input": 1,
    "teaclave_create_output": 1,
    "teaclave_read_file": 3,
    "teaclave_write_file": 3,
    "teaclave_close_file": 1,
}
#: Wasm stack of a run (WAMR's 163 840 bytes in Teaclave).
STACK_BYTES = 160 * 1024
#: How often the epoch advances (and a running guest checks its deadline and cancellation).
TICK_SECS = 0.01
#: Table elements a run may have (per table).
MAX_TABLE_ELEMENTS = 100_000
#: Tables a module may define.
MAX_TABLES = 4
#: Modules kept compiled in memory.
DEFAULT_CACHE_ENTRIES = 32
#: Bump when the on-disk cache layout or engine settings change meaning.
CACHE_FORMAT = 1
WASM_MAGIC = b"\0asm"

_PAGE = 65536
_U32 = 0xFFFF_FFFF
_DEADLINE_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_size_t,
    ctypes.POINTER(ffi.wasmtime_context_t),
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_uint64),
    ctypes.POINTER(ffi.wasmtime_update_deadline_kind_t),
)
_NO_FINALIZER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)()  # a NULL function pointer
_CONTINUE = 0  # WASMTIME_UPDATE_DEADLINE_CONTINUE

_TRAP_TEXT: Mapping[wasmtime.TrapCode, str] = {
    wasmtime.TrapCode.UNREACHABLE: "unreachable",
    wasmtime.TrapCode.MEMORY_OUT_OF_BOUNDS: "out of bounds memory access",
    wasmtime.TrapCode.INTEGER_DIVISION_BY_ZERO: "integer divide by zero",
    wasmtime.TrapCode.INTEGER_OVERFLOW: "integer overflow",
    wasmtime.TrapCode.BAD_CONVERSION_TO_INTEGER: "invalid conversion to integer",
    wasmtime.TrapCode.INDIRECT_CALL_TO_NULL: "uninitialized table element",
    wasmtime.TrapCode.BAD_SIGNATURE: "indirect call type mismatch",
    wasmtime.TrapCode.TABLE_OUT_OF_BOUNDS: "undefined table element",
    wasmtime.TrapCode.STACK_OVERFLOW: (
        f"stack overflow (the wasm stack is limited to {STACK_BYTES // 1024} KiB)"
    ),
}


def engine_settings(config: ExecutorConfig) -> dict[str, Any]:
    """The wasmtime ``Config`` settings of the executor (also part of the cache fingerprint)."""
    return {
        "consume_fuel": config.fuel > 0,
        "epoch_interruption": True,
        "max_wasm_stack": STACK_BYTES,
        "cranelift_opt_level": "speed",
        # Features whose state or memory the store limits do not govern stay off.
        "wasm_threads": False,
        "shared_memory": False,
        "wasm_gc": False,
        "gc_support": False,
        "wasm_function_references": False,
        "wasm_exceptions": False,
        "wasm_stack_switching": False,
        "wasm_memory64": False,
        "wasm_multi_memory": False,
        "wasm_component_model": False,
        "wasm_relaxed_simd_deterministic": True,
    }


def engine_fingerprint(settings: Mapping[str, Any]) -> str:
    """Short hash naming the engine (wasmtime version, machine, settings, cache format)."""
    described = {
        "format": CACHE_FORMAT,
        "wasmtime": importlib.metadata.version("wasmtime"),
        "machine": platform.machine(),
        "system": platform.system(),
        "settings": dict(settings),
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]


def _cause(error: Exception) -> str:
    """The innermost line of a wasmtime error (its "Caused by" part), without backtraces."""
    text = str(error)
    if "Caused by:" in text:
        text = text.split("Caused by:", 1)[1]
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    reason = lines[-1] if lines else type(error).__name__
    for prefix in ("0: ", "1: ", "wasm trap: "):
        reason = reason.removeprefix(prefix)
    return reason


def _signature(ty: wasmtime.FuncType) -> str:
    params = ", ".join(str(p) for p in ty.params)
    results = ", ".join(str(r) for r in ty.results)
    return f"({params}) -> ({results})" if len(ty.results) != 1 else f"({params}) -> {results}"


def check_module(module: wasmtime.Module) -> None:
    """Refuse a module importing anything but the host API or lacking a proper entrypoint."""
    for item in module.imports:
        where = f"{item.module}.{item.name}"
        arity = HOST_FUNCTIONS.get(item.name or "") if item.module == HOST_MODULE else None
        if arity is None:
            raise ExecutionError(f"import not allowed: {where}")
        ty = item.type
        expected = "(" + ", ".join(["i32"] * arity) + ") -> i32"
        if not isinstance(ty, wasmtime.FuncType) or _signature(ty) != expected:
            found = _signature(ty) if isinstance(ty, wasmtime.FuncType) else type(ty).__name__
            raise ExecutionError(f"import {where} has type {found}, expected {expected}")
    for export in module.exports:
        if export.name == ENTRYPOINT:
            ty = export.type
            if not isinstance(ty, wasmtime.FuncType):
                raise ExecutionError(f"export {ENTRYPOINT!r} is not a function")
            if _signature(ty) != "(i32, i32) -> i32":
                raise ExecutionError(
                    f"{ENTRYPOINT} has type {_signature(ty)}, expected (i32, i32) -> i32 "
                    "(int entrypoint(int argc, char **argv))"
                )
            return
    raise ExecutionError(f"the module does not export a function {ENTRYPOINT!r}")


class ModuleCache:
    """Compiled, checked modules by payload SHA-256: an in-memory LRU over an on-disk cache."""

    def __init__(
        self,
        engine: wasmtime.Engine,
        directory: Path | None,
        capacity: int = DEFAULT_CACHE_ENTRIES,
    ) -> None:
        self.engine = engine
        self.directory = directory
        self.capacity = capacity
        self.compiled = 0
        self.disk_hits = 0
        self.memory_hits = 0
        self._modules: OrderedDict[str, wasmtime.Module] = OrderedDict()
        self._lock = threading.Lock()

    def path_of(self, digest: str) -> Path | None:
        """Where the artifact of the payload with SHA-256 ``digest`` lives on disk."""
        return None if self.directory is None else self.directory / f"{digest}.cwasm"

    def get(self, payload: bytes) -> wasmtime.Module:
        """The compiled module of ``payload`` (``ExecutionError`` if it is not a valid one)."""
        digest = hashlib.sha256(payload).hexdigest()
        with self._lock:
            module = self._modules.get(digest)
            if module is not None:
                self._modules.move_to_end(digest)
                self.memory_hits += 1
                return module
        module = self._load(digest)
        if module is None:
            module = self._compile(payload)
            check_module(module)
            self._store(digest, module)
        with self._lock:
            self._modules[digest] = module
            self._modules.move_to_end(digest)
            while len(self._modules) > self.capacity:
                self._modules.popitem(last=False)
        return module

    def _compile(self, payload: bytes) -> wasmtime.Module:
        if not payload.startswith(WASM_MAGIC):
            raise ExecutionError("invalid wasm module: not a WebAssembly binary (no \\0asm magic)")
        try:
            module = wasmtime.Module(self.engine, payload)
        except wasmtime.WasmtimeError as exc:
            raise ExecutionError(f"invalid wasm module: {_cause(exc)}") from None
        with self._lock:
            self.compiled += 1
        return module

    def _discard(self, path: Path, why: str) -> None:
        log.warning("discarding cached module %s: %s", path.name, why)
        for stale in (path, path.with_suffix(".sha256")):
            with contextlib.suppress(OSError):
                stale.unlink()

    def _load(self, digest: str) -> wasmtime.Module | None:
        path = self.path_of(digest)
        if path is None or not path.exists():
            return None
        sidecar = path.with_suffix(".sha256")
        try:
            expected = sidecar.read_text().strip()
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            self._discard(path, f"unreadable ({exc})")
            return None
        if expected != actual:
            self._discard(path, "digest mismatch")
            return None
        try:
            module = wasmtime.Module.deserialize_file(self.engine, str(path))
            check_module(module)
        except (wasmtime.WasmtimeError, ExecutionError) as exc:
            self._discard(path, str(exc).splitlines()[0] if str(exc) else "unloadable")
            return None
        with self._lock:
            self.disk_hits += 1
        return module

    def _store(self, digest: str, module: wasmtime.Module) -> None:
        path = self.path_of(digest)
        if path is None:
            return
        try:
            artifact = bytes(module.serialize())
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            _write_atomically(path, artifact)
            _write_atomically(
                path.with_suffix(".sha256"), hashlib.sha256(artifact).hexdigest().encode()
            )
        except (OSError, wasmtime.WasmtimeError) as exc:
            log.warning("cannot cache compiled module %s: %s", path.name, exc)


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class EpochTicker:
    """Advances the engine epoch every ``interval`` seconds while at least one run is active.

    The thread starts with the first run and exits after ``idle_exit`` seconds without runs
    (the next run starts a new one), so an idle executor costs no thread.
    """

    def __init__(
        self, engine: wasmtime.Engine, interval: float = TICK_SECS, idle_exit: float = 5.0
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.idle_exit = idle_exit
        self._active = 0
        self._closing = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._active == 0:
                    if not self._closing:
                        self._cond.wait(self.idle_exit)
                    if self._active == 0:
                        self._thread = None
                        self._closing = False
                        return
            time.sleep(self.interval)
            self.engine.increment_epoch()

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Keep the epoch advancing for the duration of a run."""
        with self._cond:
            self._active += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="wasm-epoch-ticker", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1

    @property
    def alive(self) -> bool:
        """True while the ticker thread exists."""
        with self._cond:
            return self._thread is not None

    def close(self) -> None:
        """Let the ticker thread exit as soon as no run is active (a later run restarts it)."""
        with self._cond:
            self._closing = True
            thread = self._thread
            self._cond.notify_all()
        if thread is not None:
            thread.join(timeout=1.0)


class _CallerMemory:
    """``GuestMemory`` over the exported memory, seen through the current host call."""

    def __init__(self, memory: wasmtime.Memory, store: wasmtime.Caller | wasmtime.Store) -> None:
        self.memory = memory
        self.store = store

    def size(self) -> int:
        return self.memory.data_len(self.store)

    def read(self, address: int, length: int) -> bytes:
        return bytes(self.memory.read(self.store, address, address + length))

    def write(self, address: int, data: bytes) -> None:
        self.memory.write(self.store, data, address)


@dataclass
class _Run:
    """The state of one run, reachable from host calls and the epoch callback."""

    owner: WasmExecutor
    context: ExecutionContext
    budget: float
    table: HandleTable
    caller: wasmtime.Caller | None = None
    abort: str | None = None
    api: HostApi = field(init=False)

    def __post_init__(self) -> None:
        self.api = HostApi(self.table, self._memory)

    def _memory(self) -> GuestMemory | None:
        if self.caller is None:
            return None
        memory = self.caller.get(MEMORY_EXPORT)
        return _CallerMemory(memory, self.caller) if isinstance(memory, wasmtime.Memory) else None

    def stop_reason(self) -> str | None:
        """Why the guest must stop now, if it must."""
        if self.abort is None:
            if self.table.violation is not None:
                self.abort = self.table.violation
            elif self.context.cancel.is_set():
                self.abort = "the run was canceled"
            elif time.monotonic() >= self.context.deadline:
                self.abort = f"deadline of {self.owner.describe_budget(self.budget)} s exceeded"
        return self.abort


_ACTIVE = threading.local()


class WasmExecutor:
    """Runs WebAssembly payloads with Teaclave's host API under the executor limits."""

    def __init__(
        self,
        config: ExecutorConfig,
        max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
        cache_entries: int = DEFAULT_CACHE_ENTRIES,
    ) -> None:
        if not hasattr(ffi, "wasmtime_store_epoch_deadline_callback"):
            raise RuntimeError(
                f"wasmtime {importlib.metadata.version('wasmtime')} has no epoch deadline "
                "callbacks (needed to honour deadlines and cancellation)"
            )
        self.config = config
        self.max_output_bytes = max_output_bytes
        self.heap_bytes = config.wasm_heap_mib * 1024 * 1024
        settings = engine_settings(config)
        wasm_config = wasmtime.Config()
        for name, value in settings.items():
            setattr(wasm_config, name, value)
        self.engine = wasmtime.Engine(wasm_config)
        self.fingerprint = engine_fingerprint(settings)
        directory = Path(config.cache_dir) / "wasm" / self.fingerprint if config.cache_dir else None
        self.cache = ModuleCache(self.engine, directory, cache_entries)
        self.linker = wasmtime.Linker(self.engine)
        for name, arity in HOST_FUNCTIONS.items():
            ty = wasmtime.FuncType([wasmtime.ValType.i32()] * arity, [wasmtime.ValType.i32()])
            self.linker.define_func(HOST_MODULE, name, ty, self._host_call(name), True)
        self.ticker = EpochTicker(self.engine)

    def close(self) -> None:
        """Stop the epoch ticker thread now rather than after it idles (runs restart it)."""
        self.ticker.close()

    def describe_budget(self, budget: float) -> str:
        """The time limit of a run as shown in its deadline error.

        A worker's context gives a run ``executor.deadline_secs`` from its start, so a budget
        within a second of that is reported as the configured value; any other context (a
        direct caller's) is reported as measured, to 10 ms.
        """
        if abs(budget - self.config.deadline_secs) < 1.0:
            return f"{self.config.deadline_secs:g}"
        return f"{budget:.2f}".rstrip("0").rstrip(".")

    # ------------------------------------------------------------------ host calls
    def _host_call(self, name: str) -> Callable[..., int]:
        methods: dict[str, Callable[..., int]] = {
            "teaclave_open_input": HostApi.open_input,
            "teaclave_create_output": HostApi.create_output,
            "teaclave_read_file": HostApi.read_file,
            "teaclave_write_file": HostApi.write_file,
            "teaclave_close_file": HostApi.close_file,
        }
        method = methods[name]

        def call(caller: wasmtime.Caller, *args: int) -> int:
            run: _Run | None = getattr(_ACTIVE, "run", None)
            if run is None or run.owner is not self:
                return FAILURE
            run.caller = caller
            try:
                return method(run.api, *args)
            except BaseException:  # never let an exception unwind through wasmtime
                log.exception("%s: unexpected host error", name)
                return FAILURE
            finally:
                run.caller = None

        return call

    # ------------------------------------------------------------------ running
    def execute(
        self, name: str, arguments: dict[str, Any], payload: bytes, runtime: Runtime
    ) -> str:
        """Run ``payload``'s ``entrypoint`` with the task's arguments; the summary is its int."""
        context = current_context()
        started = time.monotonic()
        module = self.cache.get(payload)
        argv = payload_argv(arguments)
        run = _Run(
            owner=self,
            context=context,
            budget=max(0.0, context.deadline - started),
            table=HandleTable(runtime, self.max_output_bytes),
        )
        if run.stop_reason():
            raise ExecutionError(run.abort or "")
        store = wasmtime.Store(self.engine)
        callback = _DEADLINE_CALLBACK(self._deadline_callback(run))
        previous = getattr(_ACTIVE, "run", None)
        result: object = None
        try:
            store.set_limits(
                memory_size=self.heap_bytes,
                table_elements=MAX_TABLE_ELEMENTS,
                instances=1,
                tables=MAX_TABLES,
                memories=1,
            )
            if self.config.fuel > 0:
                store.set_fuel(self.config.fuel)
            ffi.wasmtime_store_epoch_deadline_callback(store.ptr(), callback, None, _NO_FINALIZER)
            store.set_epoch_deadline(1)
            _ACTIVE.run = run
            with self.ticker.running():
                result = self._run(store, module, argv, run)
        finally:
            _ACTIVE.run = previous
            errors = run.table.close_all()
            store.close()
            del callback
        if run.table.violation is not None:
            raise ExecutionError(run.table.violation)
        if errors:
            raise ExecutionError("; ".join(errors))
        if not isinstance(result, int) or isinstance(result, bool):
            raise ExecutionError(f"{ENTRYPOINT} returned {result!r}, expected an i32")
        return str(result)

    def _deadline_callback(self, run: _Run) -> Callable[[Any, Any, Any, Any], int]:
        def on_tick(context: Any, data: Any, delta: Any, kind: Any) -> int:
            try:
                reason = run.stop_reason()
            except BaseException as exc:  # never raise across the FFI boundary
                reason = run.abort = f"internal error while checking limits: {exc}"
            if reason is None:
                delta[0] = 1
                kind[0] = _CONTINUE
                return 0
            message = ctypes.create_string_buffer(reason.encode())
            error = ffi.wasmtime_error_new(message)
            return int(ctypes.cast(error, ctypes.c_void_p).value or 0)

        return on_tick

    def _run(
        self, store: wasmtime.Store, module: wasmtime.Module, argv: list[str], run: _Run
    ) -> object:
        memory: wasmtime.Memory | None = None
        try:
            instance = self.linker.instantiate(store, module)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            raise ExecutionError(self._explain(exc, run, store, None, instantiating=True)) from None
        exports = instance.exports(store)
        exported = exports.get(MEMORY_EXPORT)
        memory = exported if isinstance(exported, wasmtime.Memory) else None
        entry = exports[ENTRYPOINT]
        assert isinstance(entry, wasmtime.Func)
        argc, argv_address = self._pass_arguments(store, memory, argv)
        try:
            return entry(store, argc, argv_address)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            raise ExecutionError(self._explain(exc, run, store, memory)) from None

    def _pass_arguments(
        self, store: wasmtime.Store, memory: wasmtime.Memory | None, argv: list[str]
    ) -> tuple[int, int]:
        """Copy argv into fresh pages at the end of linear memory; ``(argc, argv pointer)``.

        The block is ``argc + 1`` little-endian pointers (the last one NULL) followed by the
        NUL-terminated strings. Payloads obtain further memory with ``memory.grow`` (as
        ``sbrk``-style allocators do), so they never hand these pages out.
        """
        if memory is None:
            if argv:
                raise ExecutionError(
                    f"the module exports no memory named {MEMORY_EXPORT!r} to pass arguments in"
                )
            return 0, 0
        encoded = [value.encode("utf-8") + b"\0" for value in argv]
        table_size = 4 * (len(argv) + 1)
        total = table_size + sum(len(item) for item in encoded)
        pages = -(-total // _PAGE)
        try:
            base = memory.grow(store, pages) * _PAGE
        except wasmtime.WasmtimeError:
            raise ExecutionError(
                f"memory limit of {self.config.wasm_heap_mib} MiB: cannot add {pages} page(s) "
                f"for the {total} bytes of arguments"
            ) from None
        block = bytearray(total)
        offset = table_size
        for index, item in enumerate(encoded):
            block[4 * index : 4 * index + 4] = (base + offset).to_bytes(4, "little")
            block[offset : offset + len(item)] = item
            offset += len(item)
        memory.write(store, block, base)
        return len(argv), base

    def _explain(
        self,
        error: Exception,
        run: _Run,
        store: wasmtime.Store,
        memory: wasmtime.Memory | None,
        instantiating: bool = False,
    ) -> str:
        """A short reason for a failed instantiation or call."""
        if run.abort is not None:
            return run.abort
        code = error.trap_code if isinstance(error, wasmtime.Trap) else None
        if code == wasmtime.TrapCode.OUT_OF_FUEL:
            return f"out of fuel: the run used all {self.config.fuel} units (executor.fuel)"
        if code == wasmtime.TrapCode.INTERRUPT:
            return run.stop_reason() or "interrupted"
        cause = _cause(error)
        if code is not None:
            reason = f"trap: {_TRAP_TEXT.get(code, cause)}"
            where = _trap_function(error)
            if where:
                reason += f" in {where}"
            if memory is not None and memory.data_len(store) + _PAGE > self.heap_bytes:
                reason += f" (memory limit of {self.config.wasm_heap_mib} MiB reached)"
            return reason
        if instantiating and "exceeds memory limits" in cause:
            return f"memory limit of {self.config.wasm_heap_mib} MiB exceeded: {cause}"
        if instantiating:
            return f"cannot instantiate the module: {cause}"
        return f"wasm error: {cause}"


def _trap_function(error: Exception) -> str | None:
    frames = error.frames if isinstance(error, wasmtime.Trap) else []
    if not frames:
        return None
    frame = frames[0]
    return frame.func_name or f"wasm function {frame.func_index}"


@register_executor(ExecutorType.WAMR, Executor.WAMR)
def wasm_executor(config: ExecutorConfig) -> WasmExecutor:
    """Factory of the (wamr, wamr) executor."""
    return WasmExecutor(config)
