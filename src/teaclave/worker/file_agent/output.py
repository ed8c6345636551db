"""All-or-nothing local outputs: temp file next to the destination, no-clobber commit.

A destination appears only when its transfer succeeded (hard link from the temp file, which
fails if the destination exists; a rename where hard links are unsupported), and every file
and directory a call created is recorded so the call can remove them all if any transfer fails.
Files are created with mode 0600 (they hold ciphertext only the worker reads).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from teaclave.worker.file_agent.errors import FileAgentError, TransferCancelled

CHUNK = 1 << 16


class CreatedPaths:
    """Files and directories one call created (thread-safe), for removal on failure."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: list[Path] = []
        self._dirs: list[Path] = []

    def add_file(self, path: Path) -> None:
        """Record a committed destination file."""
        with self._lock:
            self._files.append(path)

    def add_dir(self, path: Path) -> None:
        """Record a directory this call created."""
        with self._lock:
            self._dirs.append(path)

    def remove_all(self) -> None:
        """Remove every recorded file, then every recorded directory that is empty."""
        with self._lock:
            files, dirs = list(self._files), list(self._dirs)
            self._files.clear()
            self._dirs.clear()
        for file in files:
            with contextlib.suppress(OSError):
                file.unlink(missing_ok=True)
        for directory in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                directory.rmdir()


def make_parent_dirs(path: Path, created: CreatedPaths) -> None:
    """Create the missing parent directories of a caller-chosen local ``path``."""
    missing: list[Path] = []
    parent = path.parent
    while not parent.exists():
        missing.append(parent)
        if parent.parent == parent:
            break
        parent = parent.parent
    for directory in reversed(missing):
        try:
            directory.mkdir()
            created.add_dir(directory)
        except FileExistsError:
            pass


def copy_capped(
    source: BinaryIO, sink: BinaryIO, max_bytes: int, url: str, cancel: threading.Event
) -> int:
    """Copy ``source`` into ``sink``, refusing more than ``max_bytes``; return the count."""
    total = 0
    while True:
        if cancel.is_set():
            raise TransferCancelled(url, "cancelled: another transfer failed")
        chunk = source.read(min(CHUNK, max_bytes - total + 1))
        if not chunk:
            return total
        total += len(chunk)
        if total > max_bytes:
            raise FileAgentError(url, f"file exceeds file_agent.max_file_bytes ({max_bytes})")
        sink.write(chunk)


class AtomicOutput:
    """A temp file in the destination's directory, committed to the destination on success."""

    def __init__(self, destination: Path, url: str, created: CreatedPaths) -> None:
        self.destination = destination
        self._url = url
        self._created = created
        self._temp: Path | None = None
        self._file: BinaryIO | None = None

    def __enter__(self) -> BinaryIO:
        fd, name = tempfile.mkstemp(
            prefix=f".{self.destination.name}.", suffix=".part", dir=self.destination.parent
        )
        self._temp = Path(name)
        self._file = os.fdopen(fd, "wb")
        return self._file

    def commit(self) -> None:
        """Flush the temp file to disk and make it the destination (which must not exist)."""
        assert self._file is not None and self._temp is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        try:
            os.link(self._temp, self.destination)
        except FileExistsError:
            raise FileAgentError(self._url, f"destination {self.destination} exists") from None
        except OSError:
            if os.path.lexists(self.destination):
                raise FileAgentError(self._url, f"destination {self.destination} exists") from None
            os.rename(self._temp, self.destination)
        self._created.add_file(self.destination)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
        if self._temp is not None:
            with contextlib.suppress(OSError):
                self._temp.unlink(missing_ok=True)
