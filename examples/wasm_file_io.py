"""A WebAssembly function reading and writing the task's files.

WebAssembly payloads reach their task's inputs and outputs through five host functions
imported from module ``env`` (Teaclave's ``teaclave_context.h``)::

    int teaclave_open_input(char *name);                 // handle, or -1
    int teaclave_create_output(char *name);              // handle, or -1
    int teaclave_read_file(int fd, char *buf, int size); // bytes read (0 at the end), or -1
    int teaclave_write_file(int fd, char *buf, int size);// bytes written, or -1
    int teaclave_close_file(int fd);                     // 0, or -1

The payload here copies input ``text`` to output ``shouted`` with ASCII letters upper-cased
and returns the number of bytes copied. The data names come in as the arguments ``input``
and ``output``. The input is the owner's encrypted file; the platform decrypts it for the
payload and encrypts the output with the owner's key — the payload never sees a key.

Usage: python examples/wasm_file_io.py
"""

from __future__ import annotations

import wasmtime
from common import (
    DataServer,
    check,
    login,
    new_key,
    output_tags,
    register_users,
    run,
    step,
    task_result,
)

from teaclave.sdk import DataMap, FunctionArgument, FunctionInput, FunctionOutput, OwnerList

USER = "wasm_user"
TEXT = b"WebAssembly payloads read and write their task's files\nthrough five host calls.\n" * 40

UPPERCASE_COPY_WAT = """
(module
  (import "env" "teaclave_open_input" (func $open_input (param i32) (result i32)))
  (import "env" "teaclave_create_output" (func $create_output (param i32) (result i32)))
  (import "env" "teaclave_read_file" (func $read (param i32 i32 i32) (result i32)))
  (import "env" "teaclave_write_file" (func $write (param i32 i32 i32) (result i32)))
  (import "env" "teaclave_close_file" (func $close (param i32) (result i32)))
  (memory (export "memory") 1)

  (global $buffer i32 (i32.const 1024))
  (global $buffer_size i32 (i32.const 4096))

  ;; Upper-case the ASCII letters of the $n bytes at $p, in place.
  (func $upper (param $p i32) (param $n i32)
    (local $end i32) (local $c i32)
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $p)))
        (if (i32.lt_u (i32.sub (local.get $c) (i32.const 97)) (i32.const 26))
          (then (i32.store8 (local.get $p) (i32.sub (local.get $c) (i32.const 32)))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next))))

  ;; argv = ["input", IN, "output", OUT]: copy IN to OUT upper-cased; return the byte count.
  ;; Errors: -1 arguments, -2 open input, -3 create output, -4 read, -5 write, -6 close.
  (func (export "entrypoint") (param $argc i32) (param $argv i32) (result i32)
    (local $in i32) (local $out i32) (local $n i32) (local $total i32)
    (if (i32.ne (local.get $argc) (i32.const 4)) (then (return (i32.const -1))))
    (local.set $in (call $open_input (i32.load offset=4 (local.get $argv))))
    (if (i32.lt_s (local.get $in) (i32.const 0)) (then (return (i32.const -2))))
    (local.set $out (call $create_output (i32.load offset=12 (local.get $argv))))
    (if (i32.lt_s (local.get $out) (i32.const 0)) (then (return (i32.const -3))))
    (block $eof
      (loop $chunk
        (local.set $n (call $read (local.get $in) (global.get $buffer) (global.get $buffer_size)))
        (if (i32.lt_s (local.get $n) (i32.const 0)) (then (return (i32.const -4))))
        (br_if $eof (i32.eqz (local.get $n)))
        (call $upper (global.get $buffer) (local.get $n))
        (if (i32.ne (call $write (local.get $out) (global.get $buffer) (local.get $n))
                    (local.get $n))
          (then (return (i32.const -5))))
        (local.set $total (i32.add (local.get $total) (local.get $n)))
        (br $chunk)))
    (if (i32.or (call $close (local.get $in)) (call $close (local.get $out)))
      (then (return (i32.const -6))))
    (local.get $total)))
"""


def main() -> None:
    """Upper-case an encrypted file with a WebAssembly function."""
    payload = wasmtime.wat2wasm(UPPERCASE_COPY_WAT)
    step(f"compiled the payload: {len(payload)} bytes of WebAssembly")
    register_users([USER])
    with login(USER) as client, DataServer() as data:
        function_id = client.register_function(
            "wasm-uppercase-copy",
            "Copy a file, upper-cased, in WebAssembly",
            "wamr",
            payload=bytes(payload),
            arguments=[FunctionArgument("input"), FunctionArgument("output")],
            inputs=[FunctionInput("text", "any text")],
            outputs=[FunctionOutput("shouted", "the text upper-cased")],
        )
        step(f"registered the wasm function as {function_id}")
        task_id = client.create_task(
            function_id,
            {"input": "text", "output": "shouted"},
            "wamr",
            inputs_ownership=[OwnerList("text", [USER])],
            outputs_ownership=[OwnerList("shouted", [USER])],
        )
        key = new_key()
        url, cmac = data.publish_protected("text.enc", TEXT, key)
        input_id = client.register_input_file(url, "teaclave-file-128", key, b"", cmac)
        output_id = client.register_output_file(
            data.url("shouted.enc"), "teaclave-file-128", key, b""
        )
        client.assign_data_to_task(
            task_id, [DataMap("text", input_id)], [DataMap("shouted", output_id)]
        )
        client.invoke_task(task_id)
        step(f"task {task_id}: encrypted {len(TEXT)} bytes, assigned, invoked (executor wamr)")
        result = task_result(client, task_id)
        print(f"result: {result!r} bytes copied")
        check(result == str(len(TEXT)), f"expected {len(TEXT)} (negative: a payload error)")
        tag = output_tags(client, task_id)["shouted"]
        shouted = data.fetch_protected("shouted.enc", key, tag)
    print(f"{USER} decrypted the output; it starts {shouted[:55].decode()!r}")
    check(shouted == TEXT.upper(), "the output is the input upper-cased")


if __name__ == "__main__":
    run(main)
