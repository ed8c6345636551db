;; Write every argv string followed by "\n" to the output named "out"; return argc.
(module
  (import "env" "teaclave_create_output" (func $create_output (param i32) (result i32)))
  (import "env" "teaclave_write_file" (func $write_file (param i32 i32 i32) (result i32)))
  (import "env" "teaclave_close_file" (func $close_file (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "out\00\n")

  (func $strlen (param $p i32) (result i32)
    (local $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $n))

  (func (export "entrypoint") (param $argc i32) (param $argv i32) (result i32)
    (local $out i32) (local $i i32) (local $s i32)
    (local.set $out (call $create_output (i32.const 16)))
    (if (i32.lt_s (local.get $out) (i32.const 0)) (then (return (i32.const -1))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_s (local.get $i) (local.get $argc)))
        (local.set $s (i32.load (i32.add (local.get $argv) (i32.shl (local.get $i) (i32.const 2)))))
        (drop (call $write_file (local.get $out) (local.get $s) (call $strlen (local.get $s))))
        (drop (call $write_file (local.get $out) (i32.const 20) (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    ;; argv[argc] must be NULL
    (if (i32.load (i32.add (local.get $argv) (i32.shl (local.get $argc) (i32.const 2))))
      (then (return (i32.const -2))))
    (drop (call $close_file (local.get $out)))
    (local.get $argc)))
