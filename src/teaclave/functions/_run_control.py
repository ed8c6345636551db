"""Cooperative stop for long-running builtins (training loops check it between iterations)."""

from __future__ import annotations

from teaclave.executors.base import current_context
from teaclave.functions import FunctionError


def stop_if_interrupted() -> None:
    """Raise ``FunctionError`` once the run is canceled or past its deadline."""
    if current_context().expired():
        raise FunctionError("Interrupted: the task was canceled or its deadline has passed")


__all__ = ["stop_if_interrupted"]
