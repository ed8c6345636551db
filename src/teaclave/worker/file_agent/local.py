"""The local schemes: ``file://`` (confined to roots), ``fusion://`` and ``data:``.

``file://`` paths are percent-decoded, must be absolute and free of ``..`` segments (also when
percent-encoded), and must resolve (symlinks followed) inside one of ``file_agent.file_roots``;
a source is opened without following a final symlink and its real path is checked again through
``/proc/self/fd`` where that exists, so a swap after the check is caught. ``fusion:///
TEACLAVE_FUSION_BASE/<rel>`` maps to ``<fusion_base>/<rel>`` with the same confinement.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from teaclave.worker.file_agent.errors import EgressDenied, FileAgentError
from teaclave.worker.file_agent.output import CreatedPaths

FUSION_BASE_COMPONENT = "TEACLAVE_FUSION_BASE"
DATA_PREFIX = "data:text/plain;base64,"


def file_url_path(url: str) -> Path:
    """The absolute local path a ``file://`` URL names (percent-decoded, no ``..``)."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise FileAgentError(url, "file URLs must not name a host")
    if parts.query or parts.fragment:
        raise FileAgentError(url, "file URLs take no query or fragment")
    raw = unquote_to_bytes(parts.path)
    if b"\0" in raw:
        raise FileAgentError(url, "file URL path contains a NUL byte")
    text = os.fsdecode(raw)
    if not text.startswith("/"):
        raise FileAgentError(url, "file URL path is not absolute")
    if ".." in text.split("/"):
        raise EgressDenied(url, "'..' segments are refused in file URLs")
    return Path(text)


def fusion_relative(url: str) -> tuple[str, ...]:
    """The relative path components of ``fusion:///TEACLAVE_FUSION_BASE/<rel>``."""
    parts = urlsplit(url)
    segments = parts.path.split("/")
    if (
        parts.netloc
        or parts.query
        or parts.fragment
        or len(segments) < 3
        or segments[0] != ""
        or segments[1] != FUSION_BASE_COMPONENT
    ):
        raise FileAgentError(
            url, f"fusion URLs must look like fusion:///{FUSION_BASE_COMPONENT}/<relative path>"
        )
    relative: list[str] = []
    for segment in segments[2:]:
        decoded = os.fsdecode(unquote_to_bytes(segment))
        if decoded in (".", ".."):
            raise EgressDenied(url, "'.' and '..' segments are refused in fusion URLs")
        if "/" in decoded or "\0" in decoded:
            raise EgressDenied(url, "encoded '/' or NUL in a fusion URL segment")
        if not decoded:
            raise FileAgentError(url, "empty path segment in a fusion URL")
        relative.append(decoded)
    return tuple(relative)


def decode_data_url(url: str, max_bytes: int) -> bytes:
    """The bytes of ``data:text/plain;base64,<b64>`` (the only form accepted)."""
    if not url.startswith(DATA_PREFIX):
        raise FileAgentError(url, f"only {DATA_PREFIX}<base64> data URLs are supported")
    payload = unquote(url[len(DATA_PREFIX) :])
    if len(payload) > (max_bytes + 2) // 3 * 4:
        raise FileAgentError(url, f"data exceeds file_agent.max_file_bytes ({max_bytes})")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise FileAgentError(url, "data URL payload is not valid base64") from None
    if len(data) > max_bytes:
        raise FileAgentError(url, f"data exceeds file_agent.max_file_bytes ({max_bytes})")
    return data


class Confinement:
    """A set of directories paths must stay inside (after resolving symlinks)."""

    def __init__(self, roots: Sequence[Path], what: str) -> None:
        self.roots = tuple(Path(os.path.realpath(root)) for root in roots)
        self.what = what

    def contains(self, path: Path) -> bool:
        """Whether the (resolved) ``path`` is one of the roots or inside one."""
        return any(path == root or path.is_relative_to(root) for root in self.roots)

    def _check(self, url: str, resolved: Path) -> None:
        if not self.contains(resolved):
            raise EgressDenied(url, f"path is outside {self.what}")

    def open_source(self, url: str, path: Path) -> BinaryIO:
        """Open an existing regular file inside the roots for reading."""
        try:
            resolved = path.resolve(strict=True)
        except FileNotFoundError:
            raise FileAgentError(url, "source does not exist") from None
        except (OSError, RuntimeError) as exc:
            raise FileAgentError(url, f"cannot resolve source: {exc}") from None
        self._check(url, resolved)
        try:
            fd = os.open(resolved, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise FileAgentError(url, f"cannot open source: {exc.strerror}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise FileAgentError(url, "source is not a regular file")
            real = fd_path(fd)
            if real is not None:
                self._check(url, real)
            return os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise

    def destination_dir(self, url: str, path: Path) -> Path:
        """The resolved, existing, confined parent directory of a new ``path``."""
        if not path.name:
            raise FileAgentError(url, "destination names a directory")
        try:
            parent = path.parent.resolve(strict=True)
        except FileNotFoundError:
            raise FileAgentError(url, "destination directory does not exist") from None
        except (OSError, RuntimeError) as exc:
            raise FileAgentError(url, f"cannot resolve destination: {exc}") from None
        self._check(url, parent)
        if not parent.is_dir():
            raise FileAgentError(url, "destination parent is not a directory")
        return parent

    def make_dirs(
        self, url: str, root: Path, components: Sequence[str], created: CreatedPaths
    ) -> Path:
        """Create ``root/components...`` one level at a time, never leaving the roots."""
        current = Path(os.path.realpath(root))
        self._check(url, current)
        for component in components:
            candidate = current / component
            try:
                candidate.mkdir()
                created.add_dir(candidate)
            except FileExistsError:
                pass
            try:
                current = candidate.resolve(strict=True)
            except (OSError, RuntimeError) as exc:
                raise FileAgentError(url, f"cannot resolve {candidate}: {exc}") from None
            self._check(url, current)
            if not current.is_dir():
                raise FileAgentError(url, f"{candidate} is not a directory")
        return current


def fd_path(fd: int) -> Path | None:
    """The real path of an open file descriptor (Linux ``/proc``), or ``None``."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return None
