"""Byte layout of ``teaclave-file-128`` (Intel SGX protected FS, Rust SGX SDK v2 flavour).

All integers are little-endian. A file is a sequence of 4096-byte nodes; physical node ``p``
starts at byte ``p * 4096``. Every node is AES-128-GCM encrypted with a 12-byte all-zero IV and
no AAD. A data or MHT node's key and tag live in its parent MHT node; the metadata node's key is
derived from the user key (:mod:`teaclave.crypto.kdf`) and its tag sits in its own header.

Node 0, the metadata node::

    off   size  field
      0      8  file_id 0x5347585F46494C45 (bytes "ELIF_XGS")
      8      1  major version 1          9   1  minor version 0
     10      1  encrypt flags: 1 = user key (the only mode Teaclave uses)
     11      1  update flag, 0 (non-zero means "recovery needed")
     12      2  key policy (0)          14   2  ISV SVN (0)
     16     32  key_id: the KDF nonce of the metadata key
     48     16  CPU SVN (0)             64  16  attribute mask (0)
     80     16  GMAC: GCM tag of the encrypted part = the file's "cmac" / root tag
     96   3372  encrypted metadata
   3468    628  zero padding

The decrypted metadata (3372 bytes)::

      0    260  file name, NUL-padded (base name at creation time)
    260      8  plaintext size (u64)
    268     16  root MHT node key       284  16  root MHT node tag
    300   3072  the first 3072 bytes of the plaintext

An MHT node's plaintext holds 96 ``{key 16, tag 16}`` entries for its data nodes, then 32 for its
child MHT nodes. Data node ``d`` (counting after the first 3072 bytes) is at physical
``d + 2 + d // 96`` and is described by MHT ``d // 96``, entry ``d % 96``. MHT ``L`` is at physical
``1 + 97 L``; for ``L > 0`` its parent is MHT ``(L - 1) // 32``, child slot ``(L - 1) % 32``.
Files of at most 3072 bytes are the metadata node alone, with an all-zero root key and tag.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import FormatError

__all__ = [
    "CHILD_MHTS_PER_MHT",
    "DATA_NODES_PER_MHT",
    "ENCRYPTED_META_OFFSET",
    "ENCRYPTED_META_SIZE",
    "FILE_ID",
    "FLAG_USER_KEY",
    "GMAC_OFFSET",
    "HEADER_SIZE",
    "MAJOR_VERSION",
    "MAX_NAME_BYTES",
    "META_DATA_SIZE",
    "MINOR_VERSION",
    "NAME_FIELD_SIZE",
    "NODE_SIZE",
    "ZERO_IV",
    "Header",
    "Metadata",
    "build_header",
    "data_node_count",
    "data_node_physical",
    "mht_count",
    "mht_parent",
    "mht_physical",
    "node_count",
    "pack_metadata",
    "parse_header",
    "unpack_metadata",
]

NODE_SIZE = 4096
META_DATA_SIZE = 3072
DATA_NODES_PER_MHT = 96
CHILD_MHTS_PER_MHT = 32
ENTRY_SIZE = 32
FILE_ID = 0x5347585F46494C45
MAJOR_VERSION = 1
MINOR_VERSION = 0
FLAG_USER_KEY = 1
NAME_FIELD_SIZE = 260
MAX_NAME_BYTES = NAME_FIELD_SIZE - 1
ZERO_IV = bytes(12)

_HEADER = struct.Struct("<QBBBBHH32s16s16s16s")
HEADER_SIZE = _HEADER.size  # 96
GMAC_OFFSET = 80
ENCRYPTED_META_OFFSET = HEADER_SIZE
_META = struct.Struct(f"<{NAME_FIELD_SIZE}sQ16s16s{META_DATA_SIZE}s")
ENCRYPTED_META_SIZE = _META.size  # 3372
_PADDING_OFFSET = ENCRYPTED_META_OFFSET + ENCRYPTED_META_SIZE  # 3468
_ZERO_PADDING = bytes(NODE_SIZE - _PADDING_OFFSET)
_FLAG_NAMES = {0: "auto-key (sealed to an enclave)", 2: "integrity-only"}


def data_node_physical(d: int) -> int:
    """Physical node number of data node ``d``."""
    return d + 2 + d // DATA_NODES_PER_MHT


def mht_physical(level_index: int) -> int:
    """Physical node number of MHT node ``level_index`` (0 = root)."""
    return 1 + (DATA_NODES_PER_MHT + 1) * level_index


def mht_parent(level_index: int) -> tuple[int, int]:
    """``(parent MHT, child slot)`` of a non-root MHT node."""
    return divmod(level_index - 1, CHILD_MHTS_PER_MHT)


def data_node_count(size: int) -> int:
    """Number of data nodes holding a plaintext of ``size`` bytes."""
    return max(0, -(-(size - META_DATA_SIZE) // NODE_SIZE))


def mht_count(data_nodes: int) -> int:
    """Number of MHT nodes for ``data_nodes`` data nodes."""
    return -(-data_nodes // DATA_NODES_PER_MHT)


def node_count(size: int) -> int:
    """Number of 4096-byte nodes of a protected file holding ``size`` plaintext bytes."""
    d = data_node_count(size)
    return 1 if d == 0 else data_node_physical(d - 1) + 1


@dataclass(frozen=True)
class Header:
    """The plaintext fields of the metadata node that a reader needs."""

    key_id: bytes
    gmac: bytes


def build_header(key_id: bytes, gmac: bytes) -> bytes:
    """The 96-byte plaintext header of a user-key protected file."""
    return _HEADER.pack(
        FILE_ID,
        MAJOR_VERSION,
        MINOR_VERSION,
        FLAG_USER_KEY,
        0,
        0,
        0,
        key_id,
        bytes(16),
        bytes(16),
        gmac,
    )


def parse_header(node0: bytes) -> Header:
    """Validate the plaintext parts of the metadata node (``node0``, 4096 bytes).

    Every field that the GCM tag does not cover must hold the value Teaclave writes, so that a
    flipped bit anywhere in the node is detected. Raises :class:`FormatError` naming the field.
    """
    if len(node0) != NODE_SIZE:
        raise FormatError(f"metadata node: {len(node0)} bytes, expected {NODE_SIZE}")
    (
        file_id,
        major,
        minor,
        flags,
        update,
        key_policy,
        isv_svn,
        key_id,
        cpu_svn,
        attribute_mask,
        gmac,
    ) = _HEADER.unpack_from(node0)
    if file_id != FILE_ID:
        raise FormatError(
            f"not a protected file: file_id {file_id:#018x}, expected {FILE_ID:#018x}"
        )
    if (major, minor) != (MAJOR_VERSION, MINOR_VERSION):
        raise FormatError(f"unsupported protected-FS version {major}.{minor}, expected 1.0")
    if flags != FLAG_USER_KEY:
        mode = _FLAG_NAMES.get(flags, "unknown")
        raise FormatError(f"unsupported encrypt flags {flags} ({mode}); expected 1 (user key)")
    if update != 0:
        raise FormatError(f"update flag is {update}: the file needs recovery (unfinished write)")
    if key_policy != 0 or isv_svn != 0:
        raise FormatError(f"key policy {key_policy} / ISV SVN {isv_svn} must be 0 for a user key")
    if any(cpu_svn) or any(attribute_mask):
        raise FormatError("CPU SVN and attribute mask must be zero for a user key")
    if node0[_PADDING_OFFSET:] != _ZERO_PADDING:
        raise FormatError("metadata node: non-zero padding after the encrypted part")
    return Header(key_id=key_id, gmac=gmac)


@dataclass(frozen=True)
class Metadata:
    """The decrypted metadata: stored name, plaintext size, root MHT key/tag, first 3072 bytes."""

    name: bytes
    size: int
    root_key: bytes
    root_tag: bytes
    data: bytes


def pack_metadata(name: bytes, size: int, root_key: bytes, root_tag: bytes, data: bytes) -> bytes:
    """The 3372-byte metadata plaintext (``data`` is zero-padded to 3072 bytes)."""
    return _META.pack(name, size, root_key, root_tag, data)


def unpack_metadata(plain: bytes) -> Metadata:
    """Split a decrypted metadata block; the stored name must be NUL-terminated."""
    name_field, size, root_key, root_tag, data = _META.unpack(plain)
    end = name_field.find(b"\0")
    if end < 0:
        raise FormatError("metadata: stored file name is not NUL-terminated")
    return Metadata(name_field[:end], size, root_key, root_tag, data)
