"""The WebAssembly executor: argv, host API, summaries, failures, limits and the module cache."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import wasmtime
from wasm_payloads.harness import clang_missing, compile_c, probe, run, wat

from teaclave.config.runtime import ExecutorConfig
from teaclave.crypto.protected_fs import ProtectedFileReader, ProtectedFileWriter
from teaclave.executors import ExecutionError, load_executors
from teaclave.executors.wasm import (
    STACK_BYTES,
    WasmExecutor,
    engine_fingerprint,
    engine_settings,
    payload_argv,
)
from teaclave.executors.wasm_host import MAX_HANDLES, WRITE_FLAG, HandleTable, HostCallError
from teaclave.types.files import CryptoSchema, FileCrypto
from teaclave.types.function import Executor, ExecutorType
from teaclave.worker.protected_runtime import ProtectedRuntime
from teaclave.worker.runtime import RawIoRuntime
from teaclave.worker.staging import StagedFile

FIXTURES = Path(__file__).resolve().parents[3] / "../shared/fixtures/teaclave"
MILLIONAIRE_FIXTURES = FIXTURES / "functions/wamr_c_millionaire_problem"
SIMPLE_ADD = {"adder1": "3", "adder2": "4"}


@pytest.fixture(scope="module")
def executor() -> Iterator[WasmExecutor]:
    wasm = WasmExecutor(ExecutorConfig())
    yield wasm
    wasm.close()


def millionaire_inputs(tmp_path: Path) -> tuple[Path, Path]:
    """Teaclave's fixtures if present, else the same values (services.md §7, fixtures)."""
    if MILLIONAIRE_FIXTURES.exists():
        return MILLIONAIRE_FIXTURES / "input_a.txt", MILLIONAIRE_FIXTURES / "input_b.txt"
    a, b = tmp_path / "input_a.txt", tmp_path / "input_b.txt"
    a.write_text("4211037")
    b.write_text("1008611")
    return a, b


def millionaire_runtime(a: Path, b: Path, out: Path) -> RawIoRuntime:
    return RawIoRuntime({"pf_in_a": a, "pf_in_b": b}, {"pf_out": out})


MILLIONAIRE_ARGS = {
    "input_file_id1": "pf_in_a",
    "input_file_id2": "pf_in_b",
    "output_file_id": "pf_out",
}


# --------------------------------------------------------------------------- registration
def test_registered_as_the_wamr_pair() -> None:
    factory = load_executors()[(ExecutorType.WAMR, Executor.WAMR)]
    made = factory(ExecutorConfig())
    try:
        assert isinstance(made, WasmExecutor)
    finally:
        made.close()


# --------------------------------------------------------------------------- argv
def test_payload_argv_sorts_keys_and_keeps_strings_raw() -> None:
    argv = payload_argv({"b": 4, "a": "x y", "c": True, "d": 0.5, "e": None, "f": [1, "é"]})
    assert argv == ["a", "x y", "b", "4", "c", "true", "d", "0.5", "e", "null", "f", '[1,"é"]']


def test_simple_add(executor: WasmExecutor) -> None:
    assert run(executor, wat("simple_add"), SIMPLE_ADD) == "7"
    assert run(executor, wat("simple_add"), {"adder1": 3, "adder2": -40}) == "-37"


def test_argv_reaches_the_guest_in_order_and_null_terminated(
    executor: WasmExecutor, tmp_path: Path
) -> None:
    out = tmp_path / "argv.txt"
    arguments = {"zeta": "last", "alpha": "first", "n": 12, "unicode": "héllo"}
    summary = run(executor, wat("argv_dump"), arguments, RawIoRuntime({}, {"out": out}))
    assert summary == "8"
    assert out.read_text("utf-8").split("\n")[:-1] == payload_argv(arguments)


def test_no_arguments(executor: WasmExecutor) -> None:
    assert run(executor, wat("simple_add"), {}) == "0"
    no_memory = wasmtime.wat2wasm(
        '(module (func (export "entrypoint") (param i32 i32) (result i32) (local.get 0)))'
    )
    assert run(executor, no_memory, {}) == "0"
    with pytest.raises(ExecutionError, match="exports no memory"):
        run(executor, no_memory, {"k": "v"})


def test_large_arguments_span_several_pages(executor: WasmExecutor) -> None:
    big = "9" * 200_000
    add = wat("simple_add")
    # atoi overflows silently in the guest; what matters is that every byte arrived.
    summary = run(executor, add, {"adder1": big, "adder2": "0"})
    expected = 0
    for _ in range(200_000):
        expected = (expected * 10 + 9) & 0xFFFFFFFF
    assert int(summary) & 0xFFFFFFFF == expected


# --------------------------------------------------------------------------- files
def test_echo_file_round_trip(executor: WasmExecutor, tmp_path: Path) -> None:
    data = os.urandom(100_003)
    src, dst = tmp_path / "in.bin", tmp_path / "out.bin"
    src.write_bytes(data)
    runtime = RawIoRuntime({"in_data": src}, {"out_data": dst})
    summary = run(executor, wat("echo_file"), {"input": "in_data", "output": "out_data"}, runtime)
    assert summary == str(len(data))
    assert dst.read_bytes() == data


def test_echo_file_through_protected_files(executor: WasmExecutor, tmp_path: Path) -> None:
    key_in, key_out = bytes(range(16)), bytes(16)
    with ProtectedFileWriter(tmp_path / "in.enc", key_in) as writer:
        writer.write(b"Hello\nWorld")
    tag = writer.close()
    runtime = ProtectedRuntime(
        {
            "in": StagedFile(
                tmp_path / "in.enc", FileCrypto(CryptoSchema.TEACLAVE_FILE_128, key_in), tag
            )
        },
        {
            "out": StagedFile(
                tmp_path / "out.enc", FileCrypto(CryptoSchema.TEACLAVE_FILE_128, key_out)
            )
        },
    )
    assert run(executor, wat("echo_file"), {"input": "in", "output": "out"}, runtime) == "11"
    with ProtectedFileReader(tmp_path / "out.enc", key_out) as reader:
        assert reader.read() == b"Hello\nWorld"


def test_millionaire(executor: WasmExecutor, tmp_path: Path) -> None:
    a, b = millionaire_inputs(tmp_path)
    out = tmp_path / "pf_out"
    assert (
        run(executor, wat("millionaire"), MILLIONAIRE_ARGS, millionaire_runtime(a, b, out)) == "7"
    )
    assert out.read_text() == "pf_in_a"
    # Swap the fortunes: now B is richer.
    out.unlink()
    assert (
        run(executor, wat("millionaire"), MILLIONAIRE_ARGS, millionaire_runtime(b, a, out)) == "7"
    )
    assert out.read_text() == "pf_in_b"


def test_files_left_open_are_closed_and_outputs_complete(
    executor: WasmExecutor, tmp_path: Path
) -> None:
    out = tmp_path / "out.enc"
    key = bytes(16)
    runtime = ProtectedRuntime(
        {}, {"out": StagedFile(out, FileCrypto(CryptoSchema.TEACLAVE_FILE_128, key))}
    )
    wasm = probe(
        """(local.set $a (call $create_output (i32.const 0)))
           (drop (call $write_file (local.get $a) (i32.const 8) (i32.const 5)))
           (local.get $a)""",
        data='(data (i32.const 0) "out\\00") (data (i32.const 8) "never")',
    )
    assert run(executor, wasm, {}, runtime) == str(WRITE_FLAG | 1)
    with ProtectedFileReader(out, key) as reader:  # finalized although never closed
        assert reader.read() == b"never"


# --------------------------------------------------------------------------- handle table
def test_handle_encoding_and_executor_context(tmp_path: Path) -> None:
    (tmp_path / "in").write_text("Hello\nWorld")
    table = HandleTable(RawIoRuntime({"in": tmp_path / "in"}, {"out": tmp_path / "out"}))
    for _ in range(4):
        table.close(table.open_input("in"))
    assert table.open_input("in") == 5
    write = table.create_output("out")
    assert write == 0x4000_0006 and write & WRITE_FLAG and not 5 & WRITE_FLAG
    assert table.read(5, 100) == b"Hello\nWorld"
    table.close(5)
    with pytest.raises(HostCallError, match="unknown or closed"):
        table.close(5)
    assert table.write(write, b"abc") == 3
    with pytest.raises(HostCallError, match="is an output"):
        table.read(write, 1)
    table.close(write)
    with pytest.raises(HostCallError, match="unknown or closed"):
        table.close(write)
    assert (tmp_path / "out").read_bytes() == b"abc"


def test_handle_sequence_is_never_reused(tmp_path: Path) -> None:
    (tmp_path / "in").write_text("x")
    table = HandleTable(RawIoRuntime({"in": tmp_path / "in"}, {}))
    for expected in range(1, MAX_HANDLES + 1):
        handle = table.open_input("in")
        assert handle == expected
        table.close(handle)
    with pytest.raises(HostCallError, match="exhausted"):
        table.open_input("in")


# --------------------------------------------------------------------------- failures
@pytest.mark.parametrize(
    ("module", "reason"),
    [
        (
            '(func (export "entrypoint") (param i32 i32) (result i32) unreachable)',
            "trap: unreachable",
        ),
        (
            '(func (export "entrypoint") (param i32 i32) (result i32)'
            " (i32.div_s (i32.const 1) (i32.const 0)))",
            "trap: integer divide by zero",
        ),
        (
            '(func (export "entrypoint") (param i32 i32) (result i32) (i32.load (i32.const -4)))',
            "trap: out of bounds memory access",
        ),
        ('(func (export "main") (param i32 i32) (result i32) (i32.const 0))', "does not export"),
        ('(global (export "entrypoint") i32 (i32.const 1))', "is not a function"),
        ('(func (export "entrypoint") (result i32) (i32.const 7))', "expected (i32, i32) -> i32"),
        ('(func (export "entrypoint") (param i32 i32) (result f64) (f64.const 7))', "-> f64"),
        ('(func (export "entrypoint") (param i32 i32))', "-> ()"),
        (
            '(import "env" "teaclave_open_input" (func (param i64) (result i32)))'
            '(func (export "entrypoint") (param i32 i32) (result i32) (i32.const 0))',
            "import env.teaclave_open_input has type (i64) -> i32, expected (i32) -> i32",
        ),
        (
            '(import "env" "system" (func (param i32) (result i32)))'
            '(func (export "entrypoint") (param i32 i32) (result i32) (i32.const 0))',
            "import not allowed: env.system",
        ),
        (
            '(module (import "env" "memory" (memory 1))'
            '(func (export "entrypoint") (param i32 i32) (result i32) (i32.const 0)))',
            "import not allowed: env.memory",
        ),
        (
            '(module (memory (export "memory") 400)'
            '(func (export "entrypoint") (param i32 i32) (result i32) (i32.const 0)))',
            "memory limit of 20 MiB exceeded",
        ),
        (
            "(table 200000 funcref)"
            '(func (export "entrypoint") (param i32 i32) (result i32) (i32.const 0))',
            "cannot instantiate the module: table minimum size of 200000 elements exceeds",
        ),
        (
            "(func $s unreachable) (start $s)"
            '(func (export "entrypoint") (param i32 i32) (result i32) (i32.const 0))',
            "trap: unreachable",
        ),
    ],
)
def test_failures_are_execution_errors(executor: WasmExecutor, module: str, reason: str) -> None:
    text = (
        module
        if module.startswith("(module")
        else f'(module {module} (memory (export "memory") 1))'
    )
    wasm = wasmtime.wat2wasm(text)
    with pytest.raises(ExecutionError) as failure:
        run(executor, wasm, SIMPLE_ADD)
    assert reason in str(failure.value)
    assert "\n" not in str(failure.value)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "not a WebAssembly binary"),
        (b"def entrypoint(argv): return 7", "not a WebAssembly binary"),
        (
            b'(module (func (export "entrypoint") (param i32 i32) (result i32) i32.const 7))',
            "not a WebAssembly binary",
        ),
        (b"\0asm\x01\0\0\0garbage", "invalid wasm module: "),
        (b"\0asm\x0d\0\x01\0", "invalid wasm module: "),  # a component, not a core module
    ],
)
def test_invalid_binaries(executor: WasmExecutor, payload: bytes, reason: str) -> None:
    with pytest.raises(ExecutionError, match="invalid wasm module") as failure:
        run(executor, payload, SIMPLE_ADD)
    assert reason in str(failure.value)


def test_out_of_fuel() -> None:
    fueled = WasmExecutor(ExecutorConfig(fuel=100_000))
    try:
        with pytest.raises(ExecutionError, match=r"out of fuel: the run used all 100000 units"):
            run(fueled, wat("spin"))
        assert run(fueled, wat("simple_add"), SIMPLE_ADD) == "7"  # fuel is per run
        assert run(fueled, wat("simple_add"), SIMPLE_ADD) == "7"
    finally:
        fueled.close()


def test_stack_limit_is_wamr_sized() -> None:
    assert STACK_BYTES == 163_840


# --------------------------------------------------------------------------- cache
def test_memory_cache_compiles_once(tmp_path: Path) -> None:
    wasm = WasmExecutor(ExecutorConfig(), cache_entries=2)
    try:
        for _ in range(3):
            assert run(wasm, wat("simple_add"), SIMPLE_ADD) == "7"
        assert (wasm.cache.compiled, wasm.cache.memory_hits) == (1, 2)
        run(wasm, wat("argv_dump"), {}, RawIoRuntime({}, {"out": tmp_path / "o"}))
        run(wasm, wat("echo_file"), {"input": "x", "output": "y"})  # -2: no such input
        assert wasm.cache.compiled == 3
        run(wasm, wat("simple_add"), SIMPLE_ADD)  # evicted by the LRU (capacity 2)
        assert wasm.cache.compiled == 4
    finally:
        wasm.close()


def test_disk_cache_is_reused_by_a_new_executor(tmp_path: Path) -> None:
    config = ExecutorConfig(cache_dir=str(tmp_path / "cache"))
    first = WasmExecutor(config)
    try:
        assert run(first, wat("simple_add"), SIMPLE_ADD) == "7"
        assert first.cache.compiled == 1
    finally:
        first.close()
    digest = hashlib.sha256(wat("simple_add")).hexdigest()
    artifact = tmp_path / "cache" / "wasm" / first.fingerprint / f"{digest}.cwasm"
    assert artifact.is_file() and artifact.with_suffix(".sha256").is_file()
    assert not [p for p in artifact.parent.iterdir() if p.name.endswith(".tmp")]
    second = WasmExecutor(config)
    try:
        assert run(second, wat("simple_add"), SIMPLE_ADD) == "7"
        assert (second.cache.compiled, second.cache.disk_hits) == (0, 1)
    finally:
        second.close()


@pytest.mark.parametrize("damage", ["truncate", "flip", "digest", "garbage"])
def test_corrupt_cache_file_is_discarded_and_recompiled(tmp_path: Path, damage: str) -> None:
    config = ExecutorConfig(cache_dir=str(tmp_path))
    first = WasmExecutor(config)
    first.close()
    digest = hashlib.sha256(wat("simple_add")).hexdigest()
    artifact = tmp_path / "wasm" / first.fingerprint / f"{digest}.cwasm"
    run(first, wat("simple_add"), SIMPLE_ADD)
    good = artifact.read_bytes()
    if damage == "truncate":
        artifact.write_bytes(good[: len(good) // 2])
    elif damage == "flip":
        artifact.write_bytes(good[:100] + bytes([good[100] ^ 0xFF]) + good[101:])
    elif damage == "digest":
        artifact.with_suffix(".sha256").write_text("0" * 64)
    else:  # garbage with a matching digest: wasmtime's own checks must refuse it
        junk = b"\x7fELF" + os.urandom(4000)
        artifact.write_bytes(junk)
        artifact.with_suffix(".sha256").write_text(hashlib.sha256(junk).hexdigest())
    second = WasmExecutor(config)
    try:
        assert run(second, wat("simple_add"), SIMPLE_ADD) == "7"
        assert (second.cache.compiled, second.cache.disk_hits) == (1, 0)
        assert hashlib.sha256(artifact.read_bytes()).hexdigest() == (
            artifact.with_suffix(".sha256").read_text()
        )
    finally:
        second.close()


def test_cache_key_includes_the_engine_configuration(tmp_path: Path) -> None:
    plain = ExecutorConfig(cache_dir=str(tmp_path))
    fueled = replace(plain, fuel=1000)
    assert engine_fingerprint(engine_settings(plain)) != engine_fingerprint(engine_settings(fueled))
    # Same fingerprint for configurations that only change run-time limits.
    assert engine_fingerprint(engine_settings(plain)) == engine_fingerprint(
        engine_settings(replace(plain, wasm_heap_mib=64, deadline_secs=1))
    )
    a, b = WasmExecutor(plain), WasmExecutor(fueled)
    try:
        run(a, wat("simple_add"), SIMPLE_ADD)
        assert run(b, wat("simple_add"), SIMPLE_ADD) == "7"
        assert b.cache.compiled == 1 and b.cache.disk_hits == 0
        assert sorted(p.name for p in (tmp_path / "wasm").iterdir()) == sorted(
            [a.fingerprint, b.fingerprint]
        )
    finally:
        a.close()
        b.close()


def test_invalid_modules_are_not_cached_on_disk(tmp_path: Path) -> None:
    wasm = WasmExecutor(ExecutorConfig(cache_dir=str(tmp_path)))
    try:
        with pytest.raises(ExecutionError, match="import not allowed"):
            run(wasm, wat("wasi_hello"))
        assert not list(tmp_path.rglob("*.cwasm"))
    finally:
        wasm.close()


def test_unwritable_cache_dir_still_runs(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    wasm = WasmExecutor(ExecutorConfig(cache_dir=str(blocker)))
    try:
        assert run(wasm, wat("simple_add"), SIMPLE_ADD) == "7"
    finally:
        wasm.close()


# --------------------------------------------------------------------------- C payloads
CLANG_MISSING = clang_missing()
needs_clang = pytest.mark.skipif(CLANG_MISSING is not None, reason=CLANG_MISSING or "")


@needs_clang
def test_c_simple_add(executor: WasmExecutor, tmp_path: Path) -> None:
    wasm = compile_c("simple_add", tmp_path)
    assert run(executor, wasm, SIMPLE_ADD) == "7"
    assert run(executor, wasm, {"adder1": "-10", "adder2": 4}) == "-6"


@needs_clang
def test_c_millionaire(executor: WasmExecutor, tmp_path: Path) -> None:
    wasm = compile_c("millionaire", tmp_path)
    a, b = millionaire_inputs(tmp_path)
    out = tmp_path / "pf_out"
    assert run(executor, wasm, MILLIONAIRE_ARGS, millionaire_runtime(a, b, out)) == "7"
    assert out.read_text() == "pf_in_a"
    assert (
        run(
            executor,
            wasm,
            {**MILLIONAIRE_ARGS, "input_file_id1": "missing"},
            millionaire_runtime(a, b, out),
        )
        == "-2"
    )


@needs_clang
def test_c_echo_file(executor: WasmExecutor, tmp_path: Path) -> None:
    wasm = compile_c("echo_file", tmp_path)
    data = os.urandom(50_000)
    (tmp_path / "in").write_bytes(data)
    runtime = RawIoRuntime({"in": tmp_path / "in"}, {"out": tmp_path / "out"})
    assert run(executor, wasm, {"input": "in", "output": "out"}, runtime) == str(len(data))
    assert (tmp_path / "out").read_bytes() == data


# --------------------------------------------------------------------------- ticker
def test_epoch_ticker_runs_only_while_needed() -> None:
    wasm = WasmExecutor(ExecutorConfig())
    try:
        assert not wasm.ticker.alive  # an unused executor has no thread
        assert run(wasm, wat("simple_add"), SIMPLE_ADD) == "7"
        assert wasm.ticker.alive
        wasm.close()
        assert not wasm.ticker.alive
        assert run(wasm, wat("simple_add"), SIMPLE_ADD) == "7"  # restarted on demand
    finally:
        wasm.close()


def test_deadline_reason_names_the_configured_limit() -> None:
    wasm = WasmExecutor(ExecutorConfig(deadline_secs=600))
    assert wasm.describe_budget(599.996) == "600"  # a worker context, a few µs later
    assert wasm.describe_budget(0.2998) == "0.3"  # a direct caller's context, as measured
    assert wasm.describe_budget(0.0) == "0"
    assert wasm.describe_budget(12.5) == "12.5"
