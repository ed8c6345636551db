"""A WebAssembly function (executor ``wamr``): add two numbers.

The payload is a WebAssembly module exporting ``entrypoint(argc, argv)`` — C's
``int entrypoint(int argc, char **argv)`` — and a ``memory``. ``argv`` holds the task's
arguments flattened with the keys sorted: ``["adder1", "3", "adder2", "4"]``; the returned
int, as decimal text, is the result. The module here is written in the WebAssembly text
format and compiled with ``wasmtime.wat2wasm``; a C payload compiled with
``clang --target=wasm32 -nostdlib -Wl,--no-entry -Wl,--export-all`` works the same way.

Usage: python examples/wasm_simple_add.py [A B]
"""

from __future__ import annotations

import sys

import wasmtime
from common import SETTINGS, check, login, run, step, task_result

from teaclave.sdk import FunctionArgument

SIMPLE_ADD_WAT = """
(module
  (memory (export "memory") 1)

  ;; The unsigned decimal number at address $p (up to the first non-digit).
  (func $parse (param $p i32) (result i32)
    (local $value i32) (local $digit i32)
    (block $end
      (loop $next
        (local.set $digit (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)))
        (br_if $end (i32.gt_u (local.get $digit) (i32.const 9)))
        (local.set $value
          (i32.add (i32.mul (local.get $value) (i32.const 10)) (local.get $digit)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (local.get $value))

  ;; argv = ["adder1", A, "adder2", B]: return A + B (-1 for a wrong argument count).
  (func (export "entrypoint") (param $argc i32) (param $argv i32) (result i32)
    (if (i32.ne (local.get $argc) (i32.const 4)) (then (return (i32.const -1))))
    (i32.add
      (call $parse (i32.load offset=4 (local.get $argv)))
      (call $parse (i32.load offset=12 (local.get $argv))))))
"""


def main() -> None:
    """Add two numbers in WebAssembly on the platform."""
    a, b = (sys.argv[1], sys.argv[2]) if len(sys.argv) > 2 else ("3", "4")
    payload = wasmtime.wat2wasm(SIMPLE_ADD_WAT)
    step(f"compiled the payload: {len(payload)} bytes of WebAssembly")
    with login(SETTINGS.admin, SETTINGS.admin_password) as client:
        function_id = client.register_function(
            "entrypoint",
            "A WebAssembly function adding its two arguments",
            "wamr",
            payload=bytes(payload),
            arguments=[FunctionArgument("adder1"), FunctionArgument("adder2")],
        )
        step(f"registered the wasm function as {function_id}")
        task_id = client.create_task(function_id, {"adder1": a, "adder2": b}, "wamr")
        client.invoke_task(task_id)
        step(f"created and invoked task {task_id} with adder1={a}, adder2={b} (executor wamr)")
        result = task_result(client, task_id)
    print(f"result: {result!r}")
    check(result == str(int(a) + int(b)), f"expected {int(a) + int(b)}")


if __name__ == "__main__":
    run(main)
