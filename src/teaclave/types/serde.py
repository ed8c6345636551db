"""Helpers for Teaclave's serde JSON shapes (byte vectors as integer arrays, ``inner`` maps)."""

from __future__ import annotations

import json
from typing import Any

from teaclave.types.errors import DecodeError


def bytes_to_json(value: bytes) -> list[int]:
    """Serde form of ``Vec<u8>``: a JSON array of integers."""
    return list(value)


def bytes_from_json(value: Any, field: str) -> bytes:
    """Inverse of ``bytes_to_json``; raises ``DecodeError`` naming ``field``."""
    if not isinstance(value, list) or not all(isinstance(v, int) and 0 <= v < 256 for v in value):
        raise DecodeError(f"{field}: expected an array of byte values")
    return bytes(value)


def dumps(value: Any) -> bytes:
    """Compact, deterministic JSON encoding used for stored records."""
    return json.dumps(value, separators=(",", ":"), sort_keys=False).encode()


def loads(data: bytes, what: str) -> Any:
    """Decode stored JSON, raising ``DecodeError`` that names the record kind."""
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodeError(f"{what}: stored record is not valid JSON ({exc})") from None


def require(obj: Any, key: str, what: str) -> Any:
    """``obj[key]`` or a ``DecodeError`` naming the missing field."""
    if not isinstance(obj, dict) or key not in obj:
        raise DecodeError(f"{what}: missing field {key!r}")
    return obj[key]
