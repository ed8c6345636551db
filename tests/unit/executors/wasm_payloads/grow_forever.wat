;; Keep asking for memory forever, ignoring every refusal.
(module
  (memory (export "memory") 1)
  (func (export "entrypoint") (param i32 i32) (result i32)
    (loop $grow
      (drop (memory.grow (i32.const 1)))
      (br $grow))
    (i32.const 0)))
