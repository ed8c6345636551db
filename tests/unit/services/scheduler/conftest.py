"""Fixtures of the scheduler tests (the harness lives in tests/scheduler_harness.py)."""

from scheduler_harness import make_platform, platform

__all__ = ["make_platform", "platform"]
