;; Write 64 KiB chunks to output "out" forever, ignoring failures.
(module
  (import "env" "teaclave_create_output" (func $create_output (param i32) (result i32)))
  (import "env" "teaclave_write_file" (func $write_file (param i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "out\00")
  (func (export "entrypoint") (param i32 i32) (result i32)
    (local $out i32)
    (local.set $out (call $create_output (i32.const 0)))
    (loop $flood
      (drop (call $write_file (local.get $out) (i32.const 0) (i32.const 65536)))
      (br $flood))
    (i32.const 0)))
