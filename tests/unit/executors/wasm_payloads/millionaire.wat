;; Yao's millionaire problem (Teaclave's wamr_c_millionaire_problem semantics).
;; argv (keys sorted) = ["input_file_id1", A, "input_file_id2", B, "output_file_id", OUT]:
;; read a decimal fortune from each input, write the data name of the richer party to OUT and
;; return the number of bytes written (7 for "pf_in_a"). Negative returns are errors.
(module
  (import "env" "teaclave_open_input" (func $open_input (param i32) (result i32)))
  (import "env" "teaclave_create_output" (func $create_output (param i32) (result i32)))
  (import "env" "teaclave_read_file" (func $read_file (param i32 i32 i32) (result i32)))
  (import "env" "teaclave_write_file" (func $write_file (param i32 i32 i32) (result i32)))
  (import "env" "teaclave_close_file" (func $close_file (param i32) (result i32)))
  (memory (export "memory") 1)

  (global $buffer i32 (i32.const 1024))
  (global $capacity i32 (i32.const 63))

  (func $strlen (param $p i32) (result i32)
    (local $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $n))

  ;; Read the whole input `name` (at most 63 bytes) and parse its leading digits; -1 on error.
  (func $read_fortune (param $name i32) (result i32)
    (local $fd i32) (local $len i32) (local $n i32) (local $value i32) (local $digit i32)
    (local $i i32)
    (local.set $fd (call $open_input (local.get $name)))
    (if (i32.lt_s (local.get $fd) (i32.const 0)) (then (return (i32.const -1))))
    (block $eof
      (loop $more
        (local.set $n
          (call $read_file
            (local.get $fd)
            (i32.add (global.get $buffer) (local.get $len))
            (i32.sub (global.get $capacity) (local.get $len))))
        (if (i32.lt_s (local.get $n) (i32.const 0)) (then (return (i32.const -1))))
        (br_if $eof (i32.eqz (local.get $n)))
        (local.set $len (i32.add (local.get $len) (local.get $n)))
        (br_if $more (i32.lt_s (local.get $len) (global.get $capacity)))))
    (if (call $close_file (local.get $fd)) (then (return (i32.const -1))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_s (local.get $i) (local.get $len)))
        (local.set $digit
          (i32.sub (i32.load8_u (i32.add (global.get $buffer) (local.get $i))) (i32.const 48)))
        (br_if $done (i32.gt_u (local.get $digit) (i32.const 9)))
        (local.set $value
          (i32.add (i32.mul (local.get $value) (i32.const 10)) (local.get $digit)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $value))

  (func (export "entrypoint") (param $argc i32) (param $argv i32) (result i32)
    (local $a i32) (local $b i32) (local $richer i32) (local $out i32) (local $written i32)
    (if (i32.ne (local.get $argc) (i32.const 6)) (then (return (i32.const -1))))
    (local.set $a (call $read_fortune (i32.load offset=4 (local.get $argv))))
    (local.set $b (call $read_fortune (i32.load offset=12 (local.get $argv))))
    (if (i32.or (i32.lt_s (local.get $a) (i32.const 0)) (i32.lt_s (local.get $b) (i32.const 0)))
      (then (return (i32.const -2))))
    (local.set $richer
      (select (i32.load offset=4 (local.get $argv)) (i32.load offset=12 (local.get $argv))
              (i32.gt_s (local.get $a) (local.get $b))))
    (local.set $out (call $create_output (i32.load offset=20 (local.get $argv))))
    (if (i32.lt_s (local.get $out) (i32.const 0)) (then (return (i32.const -3))))
    (local.set $written
      (call $write_file (local.get $out) (local.get $richer) (call $strlen (local.get $richer))))
    (if (call $close_file (local.get $out)) (then (return (i32.const -4))))
    (local.get $written)))
