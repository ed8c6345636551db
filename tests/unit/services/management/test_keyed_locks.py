from __future__ import annotations

import threading
import time

from teaclave.services.management.locks import KeyedLocks


def test_same_key_excludes_other_keys_do_not() -> None:
    locks = KeyedLocks()
    inside = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def holder() -> None:
        with locks.hold("a"):
            inside.set()
            release.wait(5)
            order.append("first a done")

    def second_a() -> None:
        with locks.hold("a"):
            order.append("second a")

    thread = threading.Thread(target=holder)
    thread.start()
    assert inside.wait(5)
    with locks.hold("b"):  # another key is free while "a" is held
        order.append("b")
    waiter = threading.Thread(target=second_a)
    waiter.start()
    time.sleep(0.05)
    assert order == ["b"]  # "a" is still held
    release.set()
    thread.join(5)
    waiter.join(5)
    assert order == ["b", "first a done", "second a"]
    assert len(locks) == 0  # entries disappear when nobody holds or waits


def test_lock_is_released_on_exception() -> None:
    locks = KeyedLocks()
    try:
        with locks.hold(1):
            raise ValueError("boom")
    except ValueError:
        pass
    with locks.hold(1):
        assert len(locks) == 1
    assert len(locks) == 0
