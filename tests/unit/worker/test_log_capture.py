"""Per-run log capture (``save_log``)."""

from __future__ import annotations

import logging
import threading

from teaclave.functions import function_logger
from teaclave.worker.log_capture import capture_logs, format_record

log = function_logger("capture_test")


def test_lines_are_formatted_like_teaclave() -> None:
    with capture_logs() as lines:
        log.info("Hello %s", "Teaclave")
        log.debug("details")
        log.warning("careful")
        log.error("broken")
    assert lines == [
        "[INFO teaclave_function::capture_test] Hello Teaclave",
        "[DEBUG teaclave_function::capture_test] details",
        "[WARN teaclave_function::capture_test] careful",
        "[ERROR teaclave_function::capture_test] broken",
    ]


def test_nothing_is_captured_when_disabled_or_outside() -> None:
    log.info("before")
    with capture_logs(enabled=False) as lines:
        log.info("disabled")
    assert lines == []
    with capture_logs() as lines:
        pass
    log.info("after")
    assert lines == []


def test_capture_is_per_thread() -> None:
    other: list[str] = []

    def run() -> None:
        with capture_logs() as mine:
            log.info("from the other thread")
            barrier.wait()
            barrier.wait()
        other.extend(mine)

    barrier = threading.Barrier(2)
    thread = threading.Thread(target=run)
    with capture_logs() as lines:
        thread.start()
        barrier.wait()
        log.info("from this thread")
        barrier.wait()
        thread.join()
    assert lines == ["[INFO teaclave_function::capture_test] from this thread"]
    assert other == ["[INFO teaclave_function::capture_test] from the other thread"]


def test_function_logs_stay_out_of_the_platform_log() -> None:
    seen: list[logging.LogRecord] = []

    class Platform(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    root = logging.getLogger()
    handler, level = Platform(logging.DEBUG), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        log.info("private data")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert not [r for r in seen if r.getMessage() == "private data"]


def test_format_record_levels() -> None:
    record = logging.LogRecord("teaclave_function::x", 5, __file__, 1, "m", None, None)
    assert format_record(record) == "[TRACE teaclave_function::x] m"
