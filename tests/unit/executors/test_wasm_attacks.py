"""Attack corpus for the WebAssembly executor.

Every case asserts a safe failure (an ``ExecutionError`` with a clear reason, or ``-1`` from the
host API), and the autouse ``still_works`` fixture then runs a good payload on the same
executor: no attack may leave it broken.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from wasm_payloads.harness import probe, run, wat

from teaclave.config.runtime import ExecutorConfig
from teaclave.crypto.protected_fs import ProtectedFileWriter
from teaclave.executors import ExecutionContext, ExecutionError
from teaclave.executors.wasm import WasmExecutor
from teaclave.executors.wasm_host import MAX_HANDLES
from teaclave.types.files import CryptoSchema, FileCrypto
from teaclave.worker.protected_runtime import ProtectedRuntime
from teaclave.worker.runtime import RawIoRuntime
from teaclave.worker.staging import StagedFile

OUTPUT_CAP = 1 << 20
SIMPLE_ADD = {"adder1": "3", "adder2": "4"}
OUT = '(data (i32.const 0) "out\\00")'


@pytest.fixture(scope="module")
def executor() -> Iterator[WasmExecutor]:
    wasm = WasmExecutor(ExecutorConfig(), max_output_bytes=OUTPUT_CAP)
    yield wasm
    wasm.close()


@pytest.fixture(autouse=True)
def still_works(executor: WasmExecutor) -> Iterator[None]:
    yield
    assert run(executor, wat("simple_add"), SIMPLE_ADD) == "7"


def deadline(seconds: float) -> ExecutionContext:
    return ExecutionContext(deadline=time.monotonic() + seconds)


def files(tmp_path: Path) -> RawIoRuntime:
    """A runtime with one declared input ``in`` and one declared output ``out``."""
    (tmp_path / "in").write_bytes(b"declared input")
    (tmp_path / "secret").write_bytes(b"not declared")
    return RawIoRuntime({"in": tmp_path / "in"}, {"out": tmp_path / "out"})


def descriptors_on(path: Path) -> int:
    """How many file descriptors of this process refer to ``path``."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{fd}") == str(path)
    return count


# --------------------------------------------------------------------------- CPU
def test_infinite_loop_hits_the_deadline(executor: WasmExecutor) -> None:
    started = time.monotonic()
    with pytest.raises(ExecutionError, match=r"^deadline of 0\.[23]\d? s exceeded$"):
        run(executor, wat("spin"), context=deadline(0.3))
    assert time.monotonic() - started < 1.5


def test_infinite_loop_in_the_start_function_hits_the_deadline(executor: WasmExecutor) -> None:
    with pytest.raises(ExecutionError, match=r"deadline of 0\.[12]\d? s exceeded"):
        run(executor, wat("spin_in_start"), context=deadline(0.2))


def test_infinite_loop_runs_out_of_fuel() -> None:
    fueled = WasmExecutor(ExecutorConfig(fuel=2_000_000))
    try:
        started = time.monotonic()
        with pytest.raises(ExecutionError, match="out of fuel"):
            run(fueled, wat("spin"))  # no deadline at all: fuel alone stops it
        assert time.monotonic() - started < 2
        assert run(fueled, wat("simple_add"), SIMPLE_ADD) == "7"
    finally:
        fueled.close()


def test_an_expired_context_never_starts(executor: WasmExecutor) -> None:
    with pytest.raises(ExecutionError, match="deadline of 0 s exceeded"):
        run(executor, wat("simple_add"), SIMPLE_ADD, context=deadline(0))
    canceled = ExecutionContext()
    canceled.cancel.set()
    with pytest.raises(ExecutionError, match="canceled"):
        run(executor, wat("simple_add"), SIMPLE_ADD, context=canceled)


def test_cancel_from_another_thread_mid_run(executor: WasmExecutor) -> None:
    context = ExecutionContext()  # no deadline
    timer = threading.Timer(0.2, context.cancel.set)
    timer.start()
    started = time.monotonic()
    with pytest.raises(ExecutionError, match=r"^the run was canceled$"):
        run(executor, wat("spin"), context=context)
    assert 0.15 < time.monotonic() - started < 1.5


def test_cancel_a_guest_that_hammers_the_host_api(executor: WasmExecutor, tmp_path: Path) -> None:
    wasm = probe(
        """(loop $again
             (drop (call $close_file (call $open_input (i32.const 0))))
             (br $again))
           (i32.const 0)""",
        data='(data (i32.const 0) "in\\00")',
    )
    context = ExecutionContext()
    threading.Timer(0.2, context.cancel.set).start()
    started = time.monotonic()
    with pytest.raises(ExecutionError, match="canceled"):
        run(executor, wasm, runtime=files(tmp_path), context=context)
    assert time.monotonic() - started < 1.5


def test_a_spinning_run_does_not_stall_another(executor: WasmExecutor) -> None:
    context = ExecutionContext()
    failure: list[BaseException] = []

    def spin() -> None:
        try:
            run(executor, wat("spin"), context=context)
        except BaseException as exc:
            failure.append(exc)

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        time.sleep(0.1)
        for _ in range(20):  # other runs start, tick and finish while the spinner spins
            assert run(executor, wat("simple_add"), SIMPLE_ADD) == "7"
        assert spinner.is_alive()
    finally:
        context.cancel.set()
        spinner.join(5)
    assert not spinner.is_alive()
    assert isinstance(failure[0], ExecutionError) and "canceled" in str(failure[0])


def test_deep_recursion_is_a_stack_overflow_trap(executor: WasmExecutor) -> None:
    with pytest.raises(ExecutionError, match="trap: stack overflow"):
        run(executor, wat("recursion"))


# --------------------------------------------------------------------------- memory
def test_memory_bomb(executor: WasmExecutor) -> None:
    with pytest.raises(ExecutionError) as failure:
        run(executor, wat("memory_bomb"))
    message = str(failure.value)
    assert message.startswith("trap: unreachable") and "memory limit of 20 MiB reached" in message


def test_memory_never_grows_past_the_heap_limit(executor: WasmExecutor) -> None:
    assert run(executor, wat("memory_probe")) == str(20 * 16)  # 20 MiB in 64 KiB pages
    small = WasmExecutor(ExecutorConfig(wasm_heap_mib=2))
    try:
        assert run(small, wat("memory_probe")) == "32"  # 2 MiB
    finally:
        small.close()


def test_memory_bomb_that_ignores_refusals_hits_the_deadline(executor: WasmExecutor) -> None:
    with pytest.raises(ExecutionError, match="deadline"):
        run(executor, wat("grow_forever"), context=deadline(0.3))


def test_arguments_cannot_bypass_the_memory_limit() -> None:
    small = WasmExecutor(ExecutorConfig(wasm_heap_mib=1))
    try:
        with pytest.raises(ExecutionError, match="memory limit of 1 MiB"):
            run(small, wat("simple_add"), {"adder1": "1" * (2 << 20), "adder2": "0"})
        assert run(small, wat("simple_add"), SIMPLE_ADD) == "7"
    finally:
        small.close()


# --------------------------------------------------------------------------- output volume
def test_huge_output_is_stopped_at_the_cap(executor: WasmExecutor, tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(ExecutionError, match=f"output limit exceeded.*{OUTPUT_CAP} bytes"):
        run(executor, wat("huge_output"), runtime=files(tmp_path), context=deadline(30))
    assert time.monotonic() - started < 5  # aborted at the next tick, not at the deadline
    assert (tmp_path / "out").stat().st_size <= OUTPUT_CAP


def test_huge_output_fails_even_if_the_guest_stops_politely(
    executor: WasmExecutor, tmp_path: Path
) -> None:
    with pytest.raises(ExecutionError, match="output limit exceeded"):
        run(executor, wat("polite_huge_output"), runtime=files(tmp_path))


# --------------------------------------------------------------------------- file access
@pytest.mark.parametrize(
    "name",
    ["secret", "../etc/passwd", "/etc/passwd", "in/../in", "./in", "in\\n", "", "IN"],
)
def test_undeclared_or_path_like_names_are_refused(
    executor: WasmExecutor, tmp_path: Path, name: str
) -> None:
    literal = "".join(f"\\{b:02x}" for b in name.encode())
    data = f'(data (i32.const 64) "{literal}\\00")'
    runtime = files(tmp_path)
    opened = probe("(call $open_input (i32.const 64))", data=data)
    created = probe("(call $create_output (i32.const 64))", data=data)
    assert run(executor, opened, runtime=runtime) == "-1"
    assert run(executor, created, runtime=runtime) == "-1"
    assert not (tmp_path / "out").exists()


def test_outputs_cannot_be_read_and_inputs_cannot_be_written(
    executor: WasmExecutor, tmp_path: Path
) -> None:
    runtime = files(tmp_path)
    data = '(data (i32.const 0) "out\\00") (data (i32.const 8) "in\\00")'
    read_output = probe(
        """(local.set $a (call $create_output (i32.const 0)))
           (call $read_file (local.get $a) (i32.const 100) (i32.const 10))""",
        data=data,
    )
    write_input = probe(
        """(local.set $a (call $open_input (i32.const 8)))
           (call $write_file (local.get $a) (i32.const 100) (i32.const 10))""",
        data=data,
    )
    open_as_output = probe("(call $create_output (i32.const 8))", data=data)
    assert run(executor, read_output, runtime=runtime) == "-1"
    assert run(executor, write_input, runtime=runtime) == "-1"
    assert run(executor, open_as_output, runtime=runtime) == "-1"
    assert (tmp_path / "in").read_bytes() == b"declared input"


def test_handle_exhaustion(executor: WasmExecutor, tmp_path: Path) -> None:
    # Open "in" 1100 times without closing: count the handles obtained.
    wasm = probe(
        """(block $done
             (loop $again
               (br_if $done (i32.ge_s (local.get $i) (i32.const 1100)))
               (if (i32.ge_s (call $open_input (i32.const 0)) (i32.const 0))
                 (then (local.set $a (i32.add (local.get $a) (i32.const 1)))))
               (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (br $again)))
           (local.get $a)""",
        data='(data (i32.const 0) "in\\00")',
    )
    assert run(executor, wasm, runtime=files(tmp_path)) == str(MAX_HANDLES)
    assert descriptors_on(tmp_path / "in") == 0  # every file the guest left open was closed


def test_closed_handles_are_not_reissued(executor: WasmExecutor, tmp_path: Path) -> None:
    # Opening and closing 1100 times still exhausts the sequence at 1023.
    wasm = probe(
        """(block $done
             (loop $again
               (br_if $done (i32.ge_s (local.get $i) (i32.const 1100)))
               (local.set $b (call $open_input (i32.const 0)))
               (if (i32.ge_s (local.get $b) (i32.const 0))
                 (then (drop (call $close_file (local.get $b)))
                       (local.set $a (i32.add (local.get $a) (i32.const 1)))))
               (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (br $again)))
           (local.get $a)""",
        data='(data (i32.const 0) "in\\00")',
    )
    assert run(executor, wasm, runtime=files(tmp_path)) == str(MAX_HANDLES)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # double close: 0 then -1, encoded as 10 * first + second
        (
            """(local.set $a (call $open_input (i32.const 0)))
               (i32.add (i32.mul (call $close_file (local.get $a)) (i32.const 10))
                        (call $close_file (local.get $a)))""",
            "-1",
        ),
        ("(call $close_file (i32.const 12345))", "-1"),
        ("(call $close_file (i32.const 0x40000001))", "-1"),
        ("(call $close_file (i32.const -1))", "-1"),
        ("(call $read_file (i32.const 1) (i32.const 100) (i32.const 10))", "-1"),
        ("(call $write_file (i32.const 0x40000001) (i32.const 100) (i32.const 10))", "-1"),
    ],
)
def test_bad_handles(executor: WasmExecutor, tmp_path: Path, body: str, expected: str) -> None:
    wasm = probe(body, data='(data (i32.const 0) "in\\00")')
    assert run(executor, wasm, runtime=files(tmp_path)) == expected


@pytest.mark.parametrize(
    "body",
    [
        "(call $open_input (i32.const -1))",
        "(call $open_input (i32.const 0x7fffffff))",
        "(call $create_output (i32.const 0x10000000))",
        # a name running into the end of memory without a NUL
        "(memory.fill (i32.const 0) (i32.const 97) (i32.shl (memory.size) (i32.const 16)))"
        " (call $open_input (i32.sub (i32.shl (memory.size) (i32.const 16)) (i32.const 3)))",
        # a name longer than 4096 bytes
        "(memory.fill (i32.const 0) (i32.const 97) (i32.const 5000))"
        " (call $create_output (i32.const 0))",
        # buffers outside memory, wrapping around, or of negative size
        """(local.set $a (call $open_input (i32.const 16)))
           (call $read_file (local.get $a) (i32.const -16) (i32.const 32))""",
        """(local.set $a (call $open_input (i32.const 16)))
           (call $read_file (local.get $a) (i32.const 0x7ffffff0) (i32.const 0x7ffffff0))""",
        """(local.set $a (call $open_input (i32.const 16)))
           (call $read_file (local.get $a) (i32.const 100) (i32.const -1))""",
        """(local.set $a (call $create_output (i32.const 20)))
           (call $write_file (local.get $a)
             (i32.sub (i32.shl (memory.size) (i32.const 16)) (i32.const 4)) (i32.const 5))""",
        """(local.set $a (call $create_output (i32.const 20)))
           (call $write_file (local.get $a) (i32.const 0) (i32.const -100))""",
    ],
)
def test_out_of_bounds_pointers(executor: WasmExecutor, tmp_path: Path, body: str) -> None:
    wasm = probe(body, data='(data (i32.const 16) "in\\00") (data (i32.const 20) "out\\00")')
    assert run(executor, wasm, runtime=files(tmp_path)) == "-1"


def test_a_tampered_input_reads_as_failure(executor: WasmExecutor, tmp_path: Path) -> None:
    key = bytes(16)
    path = tmp_path / "in.enc"
    with ProtectedFileWriter(path, key) as writer:
        writer.write(b"secret" * 1000)
    tag = writer.close()
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 1
    path.write_bytes(bytes(raw))
    crypto = FileCrypto(CryptoSchema.TEACLAVE_FILE_128, key)
    runtime = ProtectedRuntime({"in": StagedFile(path, crypto, tag)}, {})
    wasm = probe(
        """(local.set $a (call $open_input (i32.const 0)))
           (if (i32.lt_s (local.get $a) (i32.const 0)) (then (return (i32.const -100))))
           (call $read_file (local.get $a) (i32.const 1024) (i32.const 8192))""",
        data='(data (i32.const 0) "in\\00")',
    )
    assert run(executor, wasm, runtime=runtime) in ("-1", "-100")


# --------------------------------------------------------------------------- imports
@pytest.mark.parametrize(
    ("module", "reason"),
    [
        ("wasi", "import not allowed: wasi_snapshot_preview1.fd_write"),
        ('(import "env" "emscripten_memcpy_big" (func (param i32 i32 i32)))', "env.emscripten"),
        ('(import "teaclave" "teaclave_open_input" (func (param i32) (result i32)))', "teaclave."),
        ('(import "env" "__stack_pointer" (global (mut i32)))', "env.__stack_pointer"),
        ('(import "env" "table" (table 1 funcref))', "env.table"),
        (
            '(import "env" "teaclave_read_file" (func (param i32 i32 i32) (result i64)))',
            "has type (i32, i32, i32) -> i64",
        ),
    ],
)
def test_imports_beyond_the_host_api_are_refused(
    executor: WasmExecutor, module: str, reason: str
) -> None:
    import wasmtime

    wasm = (
        wat("wasi_hello")
        if module == "wasi"
        else wasmtime.wat2wasm(
            f'(module {module} (func (export "entrypoint") (param i32 i32) (result i32)'
            " (i32.const 0)))"
        )
    )
    with pytest.raises(ExecutionError, match="import") as failure:
        run(executor, wasm)
    assert reason in str(failure.value)
