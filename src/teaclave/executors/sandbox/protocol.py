r"""Frames exchanged between the worker and the sandboxed child over two pipes.

Stdlib only and cheap to import (the child imports it by path at every run). A frame is one
kind byte, a 4-byte big-endian body length and the body:

* ``OPEN`` (child → worker): the 2-byte mode (``rb``/``wb``) then the data name in UTF-8; the
  child then waits for a ``REPLY``: ``b"\x01"`` + the path to open (UTF-8), or ``b"\x00"``;
* ``RESULT`` (child → worker): the summary (UTF-8), ending the run;
* ``ERROR`` (child → worker): the exception's last line (UTF-8), ending the run.

The worker treats every frame as untrusted: the payload can write to its pipe directly.
"""

from __future__ import annotations

import os
import struct

OPEN = b"O"
REPLY = b"A"
RESULT = b"R"
ERROR = b"E"
KINDS = frozenset((OPEN, REPLY, RESULT, ERROR))
HEADER = struct.Struct(">cI")
#: Largest OPEN/REPLY/ERROR body accepted (a RESULT may be up to the result limit).
MAX_CONTROL_BYTES = 64 * 1024
GRANTED = b"\x01"
REFUSED = b"\x00"


class ProtocolError(Exception):
    """A malformed, unknown or oversized frame."""

    def __init__(self, message: str, kind: bytes = b"", length: int = 0) -> None:
        super().__init__(message)
        self.kind = kind
        self.length = length


def encode(kind: bytes, body: bytes) -> bytes:
    """One frame."""
    return HEADER.pack(kind, len(body)) + body


def encode_open(name: str, mode: str) -> bytes:
    """The body of an OPEN request."""
    return mode.encode("ascii") + name.encode()


def decode_open(body: bytes) -> tuple[str, str] | None:
    """``(name, mode)`` of an OPEN body, or None when it is malformed."""
    try:
        return body[2:].decode(), body[:2].decode("ascii")
    except UnicodeDecodeError:
        return None


def encode_reply(path: str | None) -> bytes:
    """The body of a REPLY: the granted path, or a refusal."""
    return REFUSED if path is None else GRANTED + path.encode()


def decode_reply(body: bytes) -> str | None:
    """The path granted by a REPLY body, or None."""
    return body[1:].decode() if body[:1] == GRANTED else None


def write_frame(fd: int, kind: bytes, body: bytes) -> None:
    """Write one whole frame to ``fd`` (blocking)."""
    view = memoryview(encode(kind, body))
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exactly(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            raise ProtocolError("the channel was closed")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, limit: int = MAX_CONTROL_BYTES) -> tuple[bytes, bytes]:
    """Read one frame from ``fd`` (blocking): ``(kind, body)``."""
    kind, length = HEADER.unpack(_read_exactly(fd, HEADER.size))
    if kind not in KINDS or length > limit:
        raise ProtocolError(f"bad frame {kind!r} of {length} bytes", kind, length)
    return kind, _read_exactly(fd, length)


class FrameReader:
    """Splits a byte stream into frames, refusing any frame over its kind's limit."""

    def __init__(self, result_limit: int) -> None:
        self.result_limit = result_limit
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        """Add ``data``; return the frames it completed. Raises ``ProtocolError``."""
        self._buffer += data
        frames: list[tuple[bytes, bytes]] = []
        while len(self._buffer) >= HEADER.size:
            kind, length = HEADER.unpack_from(self._buffer)
            if kind not in KINDS:
                raise ProtocolError(f"unknown frame kind {kind!r}", kind, length)
            limit = self.result_limit if kind == RESULT else MAX_CONTROL_BYTES
            if length > limit:
                raise ProtocolError(f"frame {kind!r} of {length} bytes", kind, length)
            end = HEADER.size + length
            if len(self._buffer) < end:
                break
            frames.append((kind, bytes(self._buffer[HEADER.size : end])))
            del self._buffer[:end]
        return frames
