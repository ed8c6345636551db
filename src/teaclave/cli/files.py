"""``teaclave encrypt`` / ``teaclave decrypt``: files in every scheme the platform accepts.

Key and IV are hex (generated and printed when omitted while encrypting); the tag (AES-GCM) or
cmac (``teaclave-file-128``) is printed as lowercase hex, ready for ``register_input_file``.
Output goes to a temporary file next to the destination and is renamed only on success, so a
wrong key or a tampered file never leaves plaintext behind; an existing destination is kept
unless ``--force``. Large files show a progress bar on a terminal.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

from teaclave.crypto import aes_gcm, protected_fs
from teaclave.crypto.errors import CryptoError

SCHEMES = {"aes-gcm-128": 16, "aes-gcm-256": 32, "teaclave-file-128": 16}
PROGRESS_THRESHOLD = 16 << 20


class CliError(Exception):
    """A user error: the message is printed and the command exits 1."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by ``encrypt`` and ``decrypt`` (Teaclave's CLI names)."""
    parser.add_argument("-a", "--algorithm", required=True, choices=sorted(SCHEMES))
    parser.add_argument("-k", "--key", help="key as hex (encrypt: generated when omitted)")
    parser.add_argument("--iv", help="12-byte IV as hex for AES-GCM (encrypt: generated)")
    parser.add_argument("-i", "--input-file", required=True, type=Path)
    parser.add_argument("-o", "--output-file", required=True, type=Path)
    parser.add_argument("-c", "--print-cmac", action="store_true", help="print only the cmac")
    parser.add_argument("--force", action="store_true", help="overwrite the output file")
    parser.add_argument(
        "--name",
        help="teaclave-file-128: file name stored in / expected from the protected file "
        "(default: the protected file's own name; it must match the last segment of the "
        "URL the platform fetches it from)",
    )
    parser.add_argument("--tag", help="decrypt: expected tag/cmac as hex")
    parser.add_argument("--progress", action="store_true", help="always show progress")


def _hex(value: str, what: str, size: int) -> bytes:
    try:
        data = bytes.fromhex(value)
    except ValueError:
        raise CliError(f"--{what}: not hex") from None
    if len(data) != size:
        raise CliError(f"--{what}: needs {size} bytes ({size * 2} hex digits), got {len(data)}")
    return data


class _Bar:
    """A progress bar on stderr (drawn at most every 0.1 s, and on the final update)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.enabled = enabled
        self.last = 0.0

    def update(self, done: int, final: bool = False) -> None:
        """Record ``done`` bytes and redraw."""
        self.done = done
        now = time.monotonic()
        if self.enabled and (now - self.last > 0.1 or final):
            self.last = now
            share = min(self.done / self.total, 1.0)
            bar = "#" * int(share * 40)
            sys.stderr.write(f"\r[{bar:<40}] {share * 100:5.1f}% {self.done >> 20} MiB")
            if final:
                sys.stderr.write("\n")
            sys.stderr.flush()


class _Progress:
    """Counts bytes read from ``stream`` on a :class:`_Bar`."""

    def __init__(self, stream: BinaryIO, total: int, enabled: bool) -> None:
        self.stream = stream
        self.bar = _Bar(total, enabled)

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.bar.update(self.bar.done + len(data), final=not data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.stream.seek(offset, whence)

    def tell(self) -> int:
        return self.stream.tell()


def run_files(args: argparse.Namespace, encrypt: bool) -> int:
    """Entry point of both commands; returns the exit status."""
    try:
        tag, key, iv = _run(args, encrypt)
    except CliError as exc:
        print(f"teaclave {'encrypt' if encrypt else 'decrypt'}: {exc}", file=sys.stderr)
        return 1
    if args.print_cmac:
        print(tag.hex())
    else:
        if encrypt and not args.key:
            print(f"key  {key.hex()}")
        if encrypt and iv and not args.iv:
            print(f"iv   {iv.hex()}")
        print(f"{'cmac' if args.algorithm == 'teaclave-file-128' else 'tag '} {tag.hex()}")
    return 0


def _run(args: argparse.Namespace, encrypt: bool) -> tuple[bytes, bytes, bytes]:
    key_size = SCHEMES[args.algorithm]
    gcm = args.algorithm != "teaclave-file-128"
    if args.key:
        key = _hex(args.key, "key", key_size)
    elif encrypt:
        key = secrets.token_bytes(key_size)
    else:
        raise CliError("--key is required to decrypt")
    iv = b""
    if gcm:
        if args.iv:
            iv = _hex(args.iv, "iv", 12)
        elif encrypt:
            iv = secrets.token_bytes(12)
        else:
            raise CliError("--iv is required to decrypt AES-GCM")
    elif args.iv:
        raise CliError("--iv: teaclave-file-128 takes no IV")
    expected = _hex(args.tag, "tag", 16) if args.tag else None
    source: Path = args.input_file
    target: Path = args.output_file
    if not source.is_file():
        raise CliError(f"{source}: no such file")
    if target.exists() and not args.force:
        raise CliError(f"{target} exists (use --force to overwrite)")
    size = source.stat().st_size
    show = args.progress or (size >= PROGRESS_THRESHOLD and sys.stderr.isatty())
    fd, tmp_name = tempfile.mkstemp(dir=target.parent or Path("."), prefix=f".{target.name}.")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tag = _transform(args, encrypt, gcm, source, tmp, target, key, iv, expected, size, show)
        os.replace(tmp, target)
    except CryptoError as exc:
        raise CliError(
            f"{type(exc).__name__}: {exc} (wrong key, IV or name, or a tampered file)"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return tag, key, iv


def _transform(
    args: argparse.Namespace,
    encrypt: bool,
    gcm: bool,
    source: Path,
    tmp: Path,
    target: Path,
    key: bytes,
    iv: bytes,
    expected: bytes | None,
    size: int,
    show: bool,
) -> bytes:
    if gcm:
        with source.open("rb") as raw, tmp.open("wb") as dst:
            src = _Progress(raw, size, show)
            if encrypt:
                return aes_gcm.encrypt_stream(src, dst, key, iv)
            return aes_gcm.decrypt_stream(src, dst, key, iv, expected)
    bar = _Bar(size, show)
    if encrypt:
        name = args.name or target.name
        tag = protected_fs.encrypt_file(source, tmp, key, name=name, progress=bar.update)
    else:
        name = args.name or source.name
        tag = protected_fs.decrypt_file(
            source, tmp, key, expected_tag=expected, name=name, progress=bar.update
        )
    bar.update(size, final=True)
    return tag
