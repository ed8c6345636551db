"""Fixtures of the execution tests (shared with the scheduler tests via execution_harness)."""

from execution_harness import make_platform, platform

__all__ = ["make_platform", "platform"]
