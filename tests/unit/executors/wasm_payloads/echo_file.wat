;; Copy input file argv["input"] to output file argv["output"] through the host API.
;; argv (keys sorted) = ["input", <input data name>, "output", <output data name>].
;; Returns the bytes copied; -2 if the input cannot be opened, -3 for the output,
;; -4 on a read error, -5 on a short or failed write, -6 if a close fails.
(module
  (import "env" "teaclave_open_input" (func $open_input (param i32) (result i32)))
  (import "env" "teaclave_create_output" (func $create_output (param i32) (result i32)))
  (import "env" "teaclave_read_file" (func $read_file (param i32 i32 i32) (result i32)))
  (import "env" "teaclave_write_file" (func $write_file (param i32 i32 i32) (result i32)))
  (import "env" "teaclave_close_file" (func $close_file (param i32) (result i32)))
  (memory (export "memory") 1)

  (global $buffer i32 (i32.const 4096))
  (global $chunk i32 (i32.const 16384))

  (func (export "entrypoint") (param $argc i32) (param $argv i32) (result i32)
    (local $in i32) (local $out i32) (local $n i32) (local $total i32)
    (local.set $in (call $open_input (i32.load offset=4 (local.get $argv))))
    (if (i32.lt_s (local.get $in) (i32.const 0)) (then (return (i32.const -2))))
    (local.set $out (call $create_output (i32.load offset=12 (local.get $argv))))
    (if (i32.lt_s (local.get $out) (i32.const 0)) (then (return (i32.const -3))))
    (block $eof
      (loop $copy
        (local.set $n (call $read_file (local.get $in) (global.get $buffer) (global.get $chunk)))
        (if (i32.lt_s (local.get $n) (i32.const 0)) (then (return (i32.const -4))))
        (br_if $eof (i32.eqz (local.get $n)))
        (if (i32.ne (call $write_file (local.get $out) (global.get $buffer) (local.get $n))
                    (local.get $n))
          (then (return (i32.const -5))))
        (local.set $total (i32.add (local.get $total) (local.get $n)))
        (br $copy)))
    (if (i32.or (call $close_file (local.get $in)) (call $close_file (local.get $out)))
      (then (return (i32.const -6))))
    (local.get $total)))
