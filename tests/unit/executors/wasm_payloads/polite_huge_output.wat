;; Write 64 KiB chunks to output "out" until a write fails, then return normally.
(module
  (import "env" "teaclave_create_output" (func $create_output (param i32) (result i32)))
  (import "env" "teaclave_write_file" (func $write_file (param i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "out\00")
  (func (export "entrypoint") (param i32 i32) (result i32)
    (local $out i32) (local $chunks i32)
    (local.set $out (call $create_output (i32.const 0)))
    (block $refused
      (loop $flood
        (br_if $refused
          (i32.lt_s (call $write_file (local.get $out) (i32.const 0) (i32.const 65536))
                    (i32.const 0)))
        (local.set $chunks (i32.add (local.get $chunks) (i32.const 1)))
        (br $flood)))
    (local.get $chunks)))
