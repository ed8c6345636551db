"""The scheduler tests' harness (real storage, scheduler and execution services), reused."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "scheduler" / "scheduler_harness.py"
_NAME = "teaclave_test_platform_harness"
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, _PATH)
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[_NAME] = _module
    _spec.loader.exec_module(_module)
harness = sys.modules[_NAME]

Platform = harness.Platform
RunningService = harness.RunningService
free_port = harness.free_port
make_platform = harness.make_platform
platform = harness.platform
pull = harness.pull
take = harness.take
wait_for = harness.wait_for
