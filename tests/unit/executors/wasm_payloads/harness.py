"""Helpers shared by the WebAssembly executor tests: payloads, probes, running, clang."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import wasmtime

from teaclave.executors.base import ExecutionContext, execution_context
from teaclave.executors.wasm import WasmExecutor
from teaclave.worker.runtime import NoFilesRuntime, Runtime

PAYLOADS = Path(__file__).resolve().parent

#: The five host functions, as WAT imports named $open_input ... $close_file.
HOST_IMPORTS = """
  (import "env" "teaclave_open_input" (func $open_input (param i32) (result i32)))
  (import "env" "teaclave_create_output" (func $create_output (param i32) (result i32)))
  (import "env" "teaclave_read_file" (func $read_file (param i32 i32 i32) (result i32)))
  (import "env" "teaclave_write_file" (func $write_file (param i32 i32 i32) (result i32)))
  (import "env" "teaclave_close_file" (func $close_file (param i32) (result i32)))
"""


def wat(name: str) -> bytes:
    """The binary of payload ``wasm_payloads/<name>.wat``."""
    return wasmtime.wat2wasm((PAYLOADS / f"{name}.wat").read_text())


def probe(body: str, data: str = "", pages: int = 1, locals_: str = "") -> bytes:
    """A module importing the host API whose entrypoint is ``body`` (an i32 expression).

    ``data`` is WAT data segments; locals ``$a $b $i`` (i32) are always declared.
    """
    return wasmtime.wat2wasm(
        f"""(module {HOST_IMPORTS}
  (memory (export "memory") {pages})
  {data}
  (func (export "entrypoint") (param $argc i32) (param $argv i32) (result i32)
    (local $a i32) (local $b i32) (local $i i32) {locals_}
    {body}))"""
    )


def run(
    executor: WasmExecutor,
    wasm: bytes,
    arguments: dict[str, Any] | None = None,
    runtime: Runtime | None = None,
    context: ExecutionContext | None = None,
) -> str:
    """Execute ``wasm`` as a (wamr, wamr) function and return its summary."""
    with execution_context(context) if context is not None else contextlib.nullcontext():
        return executor.execute(
            "entrypoint", dict(arguments or {}), wasm, runtime or NoFilesRuntime()
        )


def clang_missing() -> str | None:
    """Why C payloads cannot be compiled here (``None`` when clang and wasm-ld work)."""
    if shutil.which("clang") is None:
        return "clang is not installed (apt-get install -y clang lld)"
    if shutil.which("wasm-ld") is None:
        return "wasm-ld is not installed (apt-get install -y lld)"
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "probe.c"
        source.write_text("int entrypoint(int argc, char **argv) { return argc; }\n")
        result = subprocess.run(
            _clang_command(str(source), str(Path(scratch) / "probe.wasm")),
            capture_output=True,
            check=False,
        )
    if result.returncode != 0:
        return f"clang cannot target wasm32: {result.stderr.decode(errors='replace')[:200]}"
    return None


def _clang_command(source: str, output: str) -> list[str]:
    return [
        "clang",
        "--target=wasm32",
        "-nostdlib",
        "-O2",
        "-Wl,--no-entry",
        "-Wl,--export=entrypoint",
        "-Wl,--allow-undefined",
        "-o",
        output,
        source,
    ]


def compile_c(name: str, out_dir: Path) -> bytes:
    """Compile ``wasm_payloads/<name>.c`` with clang to a self-contained wasm32 module."""
    output = out_dir / f"{name}.wasm"
    subprocess.run(
        _clang_command(str(PAYLOADS / f"{name}.c"), str(output)),
        check=True,
        capture_output=True,
    )
    return output.read_bytes()
