"""Fixtures starting the real storage service; everything is finalized after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from storage_harness import RunningStorage, start_storage, storage_config

from teaclave.binder.binder import Mode
from teaclave.config import RuntimeConfig


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., RunningStorage]]:
    """Start storage services; all are finalized at the end of the test."""
    running: list[RunningStorage] = []

    def start(config: RuntimeConfig | None = None, mode: Mode = "in-process") -> RunningStorage:
        service = start_storage(config or storage_config(tmp_path / "state"), mode)
        running.append(service)
        return service

    yield start
    for service in running:
        service.stop()


@pytest.fixture
def storage(launch: Callable[..., RunningStorage]) -> RunningStorage:
    return launch()
