"""``Runtime``: the file I/O a function may do during one run (Teaclave's ``TeaclaveRuntime``).

A function addresses its files by the data names of the task (``"training_data"``...), never by
path. ``NoFilesRuntime`` serves tasks without files; ``RawIoRuntime`` maps names to plain files
(Teaclave's test-only ``raw-io`` runtime, used to run builtins on plaintext fixtures). The
protected-file ``default`` runtime arrives with the file agent.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO, Protocol

INVALID_INPUT = "Invalid input file identifier."
INVALID_OUTPUT = "Invalid output file identifier"


class RuntimeFileError(Exception):
    """A function asked for a file the task does not have."""


class Runtime(Protocol):
    """Opens a run's inputs for reading and creates its outputs for writing, by data name."""

    def open_input(self, name: str) -> BinaryIO:
        """A binary readable stream of input ``name``; ``RuntimeFileError`` if unknown."""
        ...

    def create_output(self, name: str) -> BinaryIO:
        """A binary writable stream for output ``name``; ``RuntimeFileError`` if unknown."""
        ...


class NoFilesRuntime:
    """The runtime of a task without input or output files: every name is unknown."""

    def open_input(self, name: str) -> BinaryIO:
        """Always ``RuntimeFileError("Invalid input file identifier.")``."""
        raise RuntimeFileError(f"{INVALID_INPUT} ({name!r})")

    def create_output(self, name: str) -> BinaryIO:
        """Always ``RuntimeFileError("Invalid output file identifier")``."""
        raise RuntimeFileError(f"{INVALID_OUTPUT} ({name!r})")


class RawIoRuntime:
    """Plain files by data name (tests and fixtures only: nothing is encrypted or verified)."""

    def __init__(self, inputs: Mapping[str, str | Path], outputs: Mapping[str, str | Path]) -> None:
        self.inputs = {name: Path(path) for name, path in inputs.items()}
        self.outputs = {name: Path(path) for name, path in outputs.items()}

    def open_input(self, name: str) -> BinaryIO:
        """Open the file mapped to input ``name`` for reading."""
        path = self.inputs.get(name)
        if path is None:
            raise RuntimeFileError(f"{INVALID_INPUT} ({name!r})")
        return path.open("rb")

    def create_output(self, name: str) -> BinaryIO:
        """Create (truncate) the file mapped to output ``name``."""
        path = self.outputs.get(name)
        if path is None:
            raise RuntimeFileError(f"{INVALID_OUTPUT} ({name!r})")
        return path.open("wb")
