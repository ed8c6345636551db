;; Grow memory one page at a time until refused, then abort like an allocator that cannot
;; get memory (Rust's alloc error handler ends in `unreachable`).
(module
  (memory (export "memory") 1)
  (func (export "entrypoint") (param i32 i32) (result i32)
    (loop $grow
      (br_if $grow (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    (unreachable)))
