;; Teaclave's wasm_c_simple_add semantics: argv = [adder1, "3", adder2, "4"] (keys sorted);
;; every value (odd index) is a decimal string; the summary is their sum.
(module
  (memory (export "memory") 1)

  ;; atoi: optional '-', then decimal digits up to the first non-digit.
  (func $atoi (param $p i32) (result i32)
    (local $n i32) (local $digit i32) (local $negative i32)
    (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 45))
      (then
        (local.set $negative (i32.const 1))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))))
    (block $done
      (loop $next
        (local.set $digit (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)))
        (br_if $done (i32.gt_u (local.get $digit) (i32.const 9)))
        (local.set $n
          (i32.add (i32.mul (local.get $n) (i32.const 10)) (local.get $digit)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (select (i32.sub (i32.const 0) (local.get $n)) (local.get $n) (local.get $negative)))

  (func (export "entrypoint") (param $argc i32) (param $argv i32) (result i32)
    (local $i i32) (local $sum i32)
    (local.set $i (i32.const 1))
    (block $done
      (loop $next
        (br_if $done (i32.ge_s (local.get $i) (local.get $argc)))
        (local.set $sum
          (i32.add
            (local.get $sum)
            (call $atoi
              (i32.load (i32.add (local.get $argv) (i32.shl (local.get $i) (i32.const 2)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $next)))
    (local.get $sum)))
