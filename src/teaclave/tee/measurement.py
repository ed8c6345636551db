"""Simulated enclave measurements: MRENCLAVE from the installed code, MRSIGNER from a key.

**Scope (decision): one measurement per service over the whole package.** A service's "enclave"
is the entire ``teaclave`` package (any module can end up on its call path: rpc, crypto, types,
storage, executors) plus its entry point, the service name. So::

    MRENCLAVE(service) = SHA-256( "teaclave-sim-mrenclave/v1" NUL service NUL
                                  for each *.py file of the package, sorted by its relative
                                  POSIX path (UTF-8 bytes):
                                      path NUL u64le(len(content)) content )

* changing any byte of any module changes every service's MRENCLAVE (conservative: the
  measured code is everything the process could run), and ``teaclave up`` re-signs them all;
* services still get *distinct* identities, which mutual attestation needs to tell a
  management client from a scheduler client (``spec/security.md`` §1.13);
* the length prefix keeps the encoding unambiguous (contents may contain NUL); ``__pycache__``
  and non-``.py`` files are not measured (they are derived or not executed).

The measurement is taken once per process (cached): it stands for the code loaded at start-up,
as an SGX MRENCLAVE stands for the pages loaded at enclave creation.

``MRSIGNER = SHA-256(DER SubjectPublicKeyInfo of the simulated enclave signing key)``.
"""

from __future__ import annotations

import functools
import hashlib
import os
import struct
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

__all__ = ["MEASUREMENT_DOMAIN", "default_package_root", "measure_service", "mr_signer_of"]

MEASUREMENT_DOMAIN = b"teaclave-sim-mrenclave/v1"
_U64 = struct.Struct("<Q")


def default_package_root() -> Path:
    """The directory of the installed ``teaclave`` package."""
    return Path(__file__).resolve().parent.parent


def _python_files(root: Path) -> list[tuple[bytes, Path]]:
    found: list[tuple[bytes, Path]] = []
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for filename in filenames:
            if filename.endswith(".py"):
                path = Path(directory) / filename
                rel = path.relative_to(root).as_posix().encode()
                found.append((rel, path))
    found.sort(key=lambda item: item[0])
    return found


@functools.lru_cache(maxsize=64)
def _measure(service: str, root: Path) -> bytes:
    if not root.is_dir():
        raise ValueError(f"package root {root}: not a directory")
    digest = hashlib.sha256()
    digest.update(MEASUREMENT_DOMAIN + b"\0" + service.encode() + b"\0")
    for rel, path in _python_files(root):
        content = path.read_bytes()
        digest.update(rel + b"\0" + _U64.pack(len(content)) + content)
    return digest.digest()


def measure_service(service: str, package_root: str | os.PathLike[str] | None = None) -> bytes:
    """MRENCLAVE (32 bytes) of ``service`` running the package at ``package_root``.

    ``package_root`` defaults to the installed ``teaclave`` package. Results are cached per
    (service, root) for the life of the process.
    """
    if not service:
        raise ValueError("service name: must not be empty")
    root = default_package_root() if package_root is None else Path(package_root).resolve()
    return _measure(service, root)


def mr_signer_of(public_key: PublicKeyTypes) -> bytes:
    """MRSIGNER (32 bytes): SHA-256 of the signing key's DER SubjectPublicKeyInfo."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).digest()
