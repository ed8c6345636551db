"""Helpers for the builtin functions' unit tests: Teaclave's fixtures, files, predictions."""

from __future__ import annotations

from pathlib import Path

import pytest

from teaclave.functions import load_builtin_functions
from teaclave.worker.runtime import RawIoRuntime

FIXTURES = Path(__file__).resolve().parents[3] / "../shared/fixtures/teaclave/functions"


def skip_without(fixtures: Path) -> pytest.MarkDecorator:
    """Skip where Teaclave's fixtures (``fixtures``, a part of them) are not checked out."""
    return pytest.mark.skipif(
        not fixtures.exists(), reason="Teaclave fixtures not found at ../shared/fixtures"
    )


def write(path: Path, text: str) -> Path:
    """Write ``text`` to ``path``; return the path."""
    path.write_text(text)
    return path


def run_predictor(function: str, tmp_path: Path, model: Path, data: Path) -> tuple[str, str]:
    """Run the builtin predictor ``function`` on a model and a data file: (summary, result)."""
    runtime = RawIoRuntime(
        {"model_file": model, "data_file": data}, {"result_file": tmp_path / "result"}
    )
    summary = load_builtin_functions()[function]({}, runtime)
    return summary, (tmp_path / "result").read_text()
