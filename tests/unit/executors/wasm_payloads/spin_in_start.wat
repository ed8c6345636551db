;; An infinite loop in the start function: it runs during instantiation.
(module
  (func $start (loop $forever (br $forever)))
  (start $start)
  (func (export "entrypoint") (param i32 i32) (result i32) (i32.const 0)))
