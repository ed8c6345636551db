"""The seam for a task's files: ``TaskFileStager`` stages inputs/outputs around a run.

Teaclave's worker node (``spec/services.md`` §6.4 steps 2-5 and 7) downloads every input,
converts it into the executor's protected format, prepares a fresh protected file for every
output, and after the run re-encrypts the outputs to their owners' keys and uploads them. That
job belongs to a ``TaskFileStager``; the file agent provides the real one. Until then
``NoFileStager`` runs tasks without files and refuses the others with a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from teaclave.types.files import FileCrypto
from teaclave.types.task import StagedTask

FILE_STAGING_UNAVAILABLE = (
    "file staging is not available yet (input/output files arrive with the file agent)"
)


class FileStagingError(Exception):
    """A task's files could not be staged or finalized."""


@dataclass(frozen=True, slots=True)
class StagedFile:
    """One file ready for a run: local path, the crypto it is protected with, expected tag."""

    path: Path
    crypto: FileCrypto
    cmac: bytes | None = None


@dataclass(slots=True)
class StagedFiles:
    """The staged inputs and outputs of one run, by data name."""

    inputs: dict[str, StagedFile] = field(default_factory=dict)
    outputs: dict[str, StagedFile] = field(default_factory=dict)


class TaskFileStager(Protocol):
    """Brings a task's files to the worker and its outputs back to their owners."""

    def stage(self, task: StagedTask) -> StagedFiles:
        """Fetch and convert every input, prepare every output (before the run)."""
        ...

    def finalize(self, task: StagedTask, files: StagedFiles) -> dict[str, bytes]:
        """Encrypt every output to its owner's crypto and upload it; return name → tag."""
        ...

    def cleanup(self, task: StagedTask, files: StagedFiles) -> None:
        """Remove whatever ``stage`` left on local disk (always called after a staged run)."""
        ...


class NoFileStager:
    """Stager for tasks without files; refuses tasks that have any."""

    def stage(self, task: StagedTask) -> StagedFiles:
        """Empty staging, or ``FileStagingError`` when the task has input or output files."""
        if task.input_data or task.output_data:
            raise FileStagingError(FILE_STAGING_UNAVAILABLE)
        return StagedFiles()

    def finalize(self, task: StagedTask, files: StagedFiles) -> dict[str, bytes]:
        """No outputs, no tags."""
        return {}

    def cleanup(self, task: StagedTask, files: StagedFiles) -> None:
        """Nothing to remove."""
