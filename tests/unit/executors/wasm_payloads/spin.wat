;; An infinite loop: only fuel, the deadline or a cancel stops it.
(module
  (func (export "entrypoint") (param i32 i32) (result i32)
    (loop $forever (br $forever))
    (i32.const 0)))
