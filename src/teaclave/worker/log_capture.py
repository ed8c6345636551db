"""Per-run log capture for the reserved ``save_log`` argument.

While ``capture_logs()`` is active in a thread, every function log record emitted by that
thread (see ``teaclave.functions.function_logger``) is appended to the run's list, formatted
like Teaclave's logger: ``[LEVEL module::path] message``, e.g.
``[INFO teaclave_function::echo] Hello, Teaclave Tests!``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from teaclave.functions import add_function_log_handler

# Rust ``log`` level names.
_LEVEL_NAMES = {
    logging.CRITICAL: "ERROR",
    logging.ERROR: "ERROR",
    logging.WARNING: "WARN",
    logging.INFO: "INFO",
    logging.DEBUG: "DEBUG",
}


def format_record(record: logging.LogRecord) -> str:
    """``[LEVEL logger] message``."""
    level = _LEVEL_NAMES.get(record.levelno)
    if level is None:
        level = "TRACE" if record.levelno < logging.DEBUG else record.levelname
    return f"[{level} {record.name}] {record.getMessage()}"


class _ThreadCapture(logging.Handler):
    """Appends records to the capture list of the emitting thread, if it has one."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self._buffers: dict[int, list[str]] = {}
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock:
            buffer = self._buffers.get(threading.get_ident())
        if buffer is not None:
            try:
                buffer.append(format_record(record))
            except Exception:
                self.handleError(record)

    def start(self) -> list[str]:
        ident = threading.get_ident()
        with self._lock:
            if ident in self._buffers:
                raise RuntimeError("log capture is already active in this thread")
            buffer: list[str] = []
            self._buffers[ident] = buffer
        return buffer

    def finish(self) -> None:
        with self._lock:
            self._buffers.pop(threading.get_ident(), None)


_CAPTURE = _ThreadCapture()
add_function_log_handler(_CAPTURE)


@contextmanager
def capture_logs(enabled: bool = True) -> Iterator[list[str]]:
    """Collect this thread's function log lines into the yielded list (empty if disabled)."""
    if not enabled:
        yield []
        return
    buffer = _CAPTURE.start()
    try:
        yield buffer
    finally:
        _CAPTURE.finish()
