"""Length-prefixed frames carried over the pipes of a child-process enclave."""

from __future__ import annotations

import struct
from typing import BinaryIO

_HEADER = struct.Struct(">QII")  # request id, command (or 0 for replies), payload length
MAX_FRAME = 64 * 1024 * 1024


def write_frame(stream: BinaryIO, request_id: int, command: int, payload: bytes) -> None:
    """Write one frame and flush."""
    stream.write(_HEADER.pack(request_id, command, len(payload)) + payload)
    stream.flush()


def read_frame(stream: BinaryIO) -> tuple[int, int, bytes] | None:
    """Read one frame; None at end of stream."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    request_id, command, length = _HEADER.unpack(header)
    if length > MAX_FRAME:
        raise ValueError(f"frame of {length} bytes exceeds {MAX_FRAME}")
    payload = stream.read(length)
    if len(payload) < length:
        return None
    return request_id, command, payload
