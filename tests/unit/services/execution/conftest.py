"""Fixtures of the execution tests (the scheduler tests' harness, tests/scheduler_harness.py)."""

from scheduler_harness import make_platform, platform

__all__ = ["make_platform", "platform"]
