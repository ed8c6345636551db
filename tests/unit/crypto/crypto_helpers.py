"""Helpers of the crypto tests: fixture location, deterministic data, a child Python, and a
mini-reader.

The mini-reader is an independent, deliberately naive teaclave-file-128 parser used to check
what we write. It follows spec/security.md §2.3 directly (struct + cryptography only, nothing
from teaclave.crypto), so a shared misreading of the spec would have to be made twice.
"""

from __future__ import annotations

import os
import random
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.cmac import CMAC

FIXTURES = (Path(__file__).resolve().parents[3] / "../shared/fixtures/teaclave").resolve()
ZERO_KEY = bytes(16)


def run_python(
    code: str, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new interpreter with ``args`` (and ``env`` over this environment)."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=None if env is None else {**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def fixtures_dir() -> Path:
    """The Teaclave fixture folder, or skip the calling test when it is absent."""
    if not FIXTURES.is_dir():
        pytest.skip(f"Teaclave fixtures not found at {FIXTURES} (shared/ is not next to the repo)")
    return FIXTURES


def pseudo_random(size: int, seed: int = 0) -> bytes:
    """Deterministic bytes (so failures reproduce)."""
    return random.Random(seed).randbytes(size)


HEADER = struct.Struct("<QBBBBHH32s16s16s16s")
NODE = 4096


def metadata_key(kdk: bytes, key_id: bytes) -> bytes:
    kdf_input = struct.pack(
        "<I64sIQ32sII", 1, b"SGX-PROTECTED-FS-METADATA-KEY", 0, 0, key_id, 0x80, 0
    )
    assert len(kdf_input) == 120
    mac = CMAC(algorithms.AES(kdk))
    mac.update(kdf_input)
    return mac.finalize()


@dataclass
class Parsed:
    header: dict[str, object]
    padding: bytes
    name_field: bytes
    size: int
    root_key: bytes
    root_tag: bytes
    head: bytes
    nodes: int
    mht_plain: dict[int, bytes] = field(default_factory=dict)
    mht_keys: dict[int, bytes] = field(default_factory=dict)
    data_plain: dict[int, bytes] = field(default_factory=dict)
    data_keys: dict[int, bytes] = field(default_factory=dict)
    plaintext: bytes = b""

    @property
    def name(self) -> bytes:
        return self.name_field.split(b"\0", 1)[0]


def parse(raw: bytes, kdk: bytes) -> Parsed:
    """Decrypt every node of ``raw`` following the spec's numbering; raise on any mismatch."""
    assert len(raw) % NODE == 0 and raw
    names = [
        "file_id",
        "major",
        "minor",
        "flags",
        "update",
        "key_policy",
        "isv_svn",
        "key_id",
        "cpu_svn",
        "attribute_mask",
        "gmac",
    ]
    header = dict(zip(names, HEADER.unpack_from(raw), strict=True))
    key = metadata_key(kdk, header["key_id"])
    gmac = header["gmac"]
    assert isinstance(gmac, bytes)
    plain = AESGCM(key).decrypt(bytes(12), raw[96 : 96 + 3372] + gmac, None)
    name_field, size, root_key, root_tag, head = struct.unpack("<260sQ16s16s3072s", plain)
    parsed = Parsed(
        header, raw[3468:NODE], name_field, size, root_key, root_tag, head, len(raw) // NODE
    )
    data_nodes = max(0, -(-(size - 3072) // NODE))
    mht_nodes = -(-data_nodes // 96)
    for level in range(mht_nodes):
        if level == 0:
            k, t = root_key, root_tag
        else:
            parent = parsed.mht_plain[(level - 1) // 32]
            slot = (level - 1) % 32
            entry = parent[3072 + 32 * slot : 3072 + 32 * slot + 32]
            k, t = entry[:16], entry[16:]
        phys = 1 + 97 * level
        parsed.mht_keys[level] = k
        parsed.mht_plain[level] = AESGCM(k).decrypt(
            bytes(12), raw[phys * NODE : (phys + 1) * NODE] + t, None
        )
    chunks = [head[: min(size, 3072)]]
    for d in range(data_nodes):
        mht = parsed.mht_plain[d // 96]
        entry = mht[32 * (d % 96) : 32 * (d % 96) + 32]
        phys = d + 2 + d // 96
        parsed.data_keys[d] = entry[:16]
        parsed.data_plain[d] = AESGCM(entry[:16]).decrypt(
            bytes(12), raw[phys * NODE : (phys + 1) * NODE] + entry[16:], None
        )
        chunks.append(parsed.data_plain[d])
    parsed.plaintext = b"".join(chunks)[:size]
    return parsed
