"""Make ``sample_enclave`` importable here and in child enclave processes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)


@pytest.fixture(autouse=True)
def _child_pythonpath(monkeypatch: pytest.MonkeyPatch) -> None:
    """``python -m teaclave.binder.child sample_enclave`` must find the module too."""
    current = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (HERE, current) if p))
