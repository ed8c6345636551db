"""The AES-CMAC key derivation of Intel SGX protected FS (Rust SGX SDK v2 layout).

``key = AES-CMAC(kdk, input)`` where ``input`` is 120 packed little-endian bytes::

    off  size  field
      0     4  counter (index), always 1
      4    64  label, ASCII, NUL-padded (e.g. "SGX-PROTECTED-FS-METADATA-KEY")
     68     4  padding (0)
     72     8  physical node number (u64; 0 for the metadata key)
     80    32  nonce (the metadata node's key_id for the metadata key)
    112     4  output length in bits, 0x80
    116     4  padding (0)

The layout (including the two 4-byte paddings) is proven by the Teaclave fixtures: the metadata
key derived this way from the all-zero user key authenticates every fixture's metadata node.
"""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.cmac import CMAC

__all__ = [
    "KDF_INPUT_SIZE",
    "MASTER_KEY_LABEL",
    "METADATA_KEY_LABEL",
    "RANDOM_KEY_LABEL",
    "derive_key",
    "kdf_input",
]

METADATA_KEY_LABEL = b"SGX-PROTECTED-FS-METADATA-KEY"
MASTER_KEY_LABEL = b"SGX-PROTECTED-FS-MASTER-KEY"
RANDOM_KEY_LABEL = b"SGX-PROTECTED-FS-RANDOM-KEY"

_KDF_INPUT = struct.Struct("<I64sIQ32sII")
KDF_INPUT_SIZE = _KDF_INPUT.size  # 120


def kdf_input(label: bytes, node_number: int, nonce: bytes) -> bytes:
    """Pack the 120-byte KDF input block for ``label``, ``node_number`` and a 32-byte nonce."""
    if len(label) > 64:
        raise ValueError("kdf label: at most 64 bytes")
    if len(nonce) != 32:
        raise ValueError(f"kdf nonce: must be 32 bytes, got {len(nonce)}")
    return _KDF_INPUT.pack(1, label, 0, node_number, nonce, 0x80, 0)


def derive_key(kdk: bytes, label: bytes, node_number: int, nonce: bytes) -> bytes:
    """Derive a 16-byte key: AES-CMAC keyed with ``kdk`` over :func:`kdf_input`."""
    if len(kdk) != 16:
        raise ValueError(f"key: teaclave-file-128 needs a 16-byte key, got {len(kdk)} bytes")
    mac = CMAC(algorithms.AES(kdk))
    mac.update(kdf_input(label, node_number, nonce))
    return mac.finalize()
