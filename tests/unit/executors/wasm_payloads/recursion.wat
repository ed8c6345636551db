;; Unbounded recursion: must end in a stack overflow trap, not a crashed worker.
(module
  (func $down (param $n i64) (result i64)
    (i64.add (call $down (i64.add (local.get $n) (i64.const 1))) (i64.const 1)))
  (func (export "entrypoint") (param i32 i32) (result i32)
    (i32.wrap_i64 (call $down (i64.const 0)))))
