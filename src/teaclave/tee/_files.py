"""Private helpers for the state directory's secrets and ``tee`` files: atomic creation."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

TEE_DIR = "tee"


def write_private(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 (fails if it exists)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def write_private_temp(path: Path, data: bytes) -> Path:
    """A private (0600), fsynced temporary sibling of ``path`` holding ``data``."""
    tmp = path.parent / f".{path.name}-{os.getpid()}-{os.urandom(4).hex()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def create_private_once(path: Path, data: bytes) -> None:
    """Create ``path`` (0600, fsynced) holding ``data`` unless it exists.

    Never clobbers: the temporary file is hard-linked to ``path``, so the loser of a race
    between processes keeps the winner's file.
    """
    tmp = write_private_temp(path, data)
    try:
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one rename: readers see the old or the new content."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """PKCS#8 PEM of an unencrypted private key."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_ec_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """Load a PEM EC private key, naming the file on failure."""
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: not an EC private key")
    return key


def ensure_dir(target: Path, populate: Callable[[Path], None]) -> None:
    """Create ``target`` atomically: ``populate`` fills a temporary sibling that is renamed.

    The loser of a race between processes discards its copy and uses the winner's.
    """
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}-{os.getpid()}-{os.urandom(4).hex()}"
    tmp.mkdir(mode=0o700)
    try:
        populate(tmp)
        tmp.rename(target)
    except OSError:
        if not target.exists():
            raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
