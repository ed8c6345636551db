"""The ``default`` runtime: a run's files are protected files (``teaclave-file-128``).

Every staged input and output of a run is a protected file with its own random key (inputs in
the owner's ``teaclave-file-128`` stay as they were downloaded, keyed with the owner's key).
A function reads an input through a ``ProtectedFileReader`` that checks the staged cmac and
every node, and writes an output through a ``ProtectedFileWriter``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import BinaryIO, cast

from teaclave.crypto.protected_fs import ProtectedFileReader, ProtectedFileWriter
from teaclave.worker.runtime import INVALID_INPUT, INVALID_OUTPUT, RuntimeFileError
from teaclave.worker.staging import StagedFile


class ProtectedRuntime:
    """Opens staged inputs and creates staged outputs by data name."""

    def __init__(self, inputs: Mapping[str, StagedFile], outputs: Mapping[str, StagedFile]) -> None:
        self.inputs = dict(inputs)
        self.outputs = dict(outputs)

    def open_input(self, name: str) -> BinaryIO:
        """A verified reader of input ``name``."""
        staged = self.inputs.get(name)
        if staged is None:
            raise RuntimeFileError(f"{INVALID_INPUT} ({name!r})")
        reader = ProtectedFileReader(staged.path, staged.crypto.key, expected_tag=staged.cmac)
        return cast(BinaryIO, reader)

    def create_output(self, name: str) -> BinaryIO:
        """A writer of output ``name`` (created fresh; a second create replaces the first)."""
        staged = self.outputs.get(name)
        if staged is None:
            raise RuntimeFileError(f"{INVALID_OUTPUT} ({name!r})")
        staged.path.parent.mkdir(parents=True, exist_ok=True)
        staged.path.unlink(missing_ok=True)
        return cast(BinaryIO, ProtectedFileWriter(staged.path, staged.crypto.key))


def protected_runtime(
    inputs: Mapping[str, StagedFile], outputs: Mapping[str, StagedFile]
) -> ProtectedRuntime:
    """``RuntimeFactory`` of the ``default`` runtime."""
    return ProtectedRuntime(inputs, outputs)
