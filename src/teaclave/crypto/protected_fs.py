"""Reader and writer of ``teaclave-file-128`` files (Intel SGX protected FS, user-key mode).

See :mod:`teaclave.crypto.protected_fs_layout` for the byte layout. In short: 4096-byte nodes;
node 0 holds a plaintext header, the file's root tag ("cmac") at offset 80 and the encrypted
metadata (stored file name, plaintext size, root MHT key/tag, first 3072 plaintext bytes); the
rest of the plaintext lives in data nodes whose keys and tags sit in a tree of MHT nodes, each
node AES-128-GCM encrypted under its own random key with an all-zero IV and no AAD.

Files written here are byte-compatible with Teaclave 0.6 (Rust SGX SDK v2): its readers accept
them and ours accept its files. Per-node keys are drawn from ``os.urandom``; the original derives
them with AES-CMAC from random nonces, which a reader cannot tell apart (readers take node keys
from the parent node and never derive them).
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Iterator
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import FormatError, IntegrityError, NameMismatch, TagMismatch
from .kdf import METADATA_KEY_LABEL, derive_key
from .protected_fs_layout import (
    CHILD_MHTS_PER_MHT,
    DATA_NODES_PER_MHT,
    ENCRYPTED_META_OFFSET,
    ENCRYPTED_META_SIZE,
    GMAC_OFFSET,
    MAX_NAME_BYTES,
    META_DATA_SIZE,
    NODE_SIZE,
    ZERO_IV,
    build_header,
    data_node_count,
    data_node_physical,
    mht_parent,
    mht_physical,
    node_count,
    pack_metadata,
    parse_header,
    unpack_metadata,
)
from .protected_fs_nodes import (
    decrypt_nodes,
    encrypt_nodes,
    run_parallel,
    scratch,
    thread_count,
)
from .write_behind import WriteBehind

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = [
    "NODE_SIZE",
    "ProtectedFileReader",
    "ProtectedFileWriter",
    "decrypt_file",
    "encrypt_file",
    "root_tag",
]

_TAG = 16
_ENTRY = 32
_KEY_SIZE = 16
_SLOT = NODE_SIZE + _TAG
_MHT_DATA_PART = DATA_NODES_PER_MHT * _ENTRY  # 3072: the data-node entries of an MHT node
_MHT_CACHE = 8
_GROUP_BYTES = DATA_NODES_PER_MHT * NODE_SIZE  # the data nodes of one complete MHT group
_COPY_CHUNK = 4 << 20  # whole MHT groups for the writer's and reader's threads

StrPath = str | os.PathLike[str]


def _check_key(key: bytes) -> None:
    if len(key) != _KEY_SIZE:
        raise ValueError(f"key: teaclave-file-128 needs a 16-byte key, got {len(key)} bytes")


def _stored_name(path: StrPath, name: str | None) -> bytes:
    """The name to store or expect: ``name``, or the base name of ``path`` (as OS bytes)."""
    chosen = name if name is not None else os.path.basename(os.fspath(path))
    return os.fsencode(chosen)


def _pwrite_all(fd: int, data: bytes | bytearray | memoryview, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


class _Stage:
    """The group that the writer is filling: a write buffer and the group's MHT node.

    ``buffer`` holds the group as it goes to the file: its MHT node, then its 96 data nodes
    (``nodes``); ``mht`` is that MHT node's plaintext, collecting the data nodes' keys and tags.
    """

    def __init__(self, buffer: memoryview) -> None:
        self.buffer = buffer
        self.nodes = buffer[NODE_SIZE:]
        self.mht = bytearray(NODE_SIZE)


_WRITE_QUEUE = 6  # groups encrypted and waiting for the background write, at most


def _write_buffers(threads: int) -> int:
    """How many 97-node buffers a writer may use.

    The group being filled and the next one, one per thread encrypting whole groups and, with
    several threads, the background write queue.
    """
    return 2 + threads + (_WRITE_QUEUE if threads > 1 else 0)


def _pread_exact(fd: int, size: int, offset: int, what: str) -> bytes:
    data = os.pread(fd, size, offset)
    if len(data) != size:
        raise FormatError(f"{what}: file ended early (it changed while being read?)")
    return data


class ProtectedFileWriter:
    """Write a ``teaclave-file-128`` file as a binary stream.

    ``name`` is stored in the file and authenticated; it defaults to the base name of ``path``
    and must be 1..259 bytes (UTF-8 / OS encoding) without NUL, else :class:`FormatError`.
    :meth:`close` finalizes the file and returns its root tag (the "cmac").

    Groups (96 data nodes and the MHT node describing them, 388 KiB) are encrypted into
    buffers that go to the file as one write each (:class:`~.write_behind.WriteBehind`); with
    several threads (:func:`~.protected_fs_nodes.thread_count`) a background thread does those
    writes while the caller goes on, and :meth:`close` waits for them. Memory: one 4 KiB
    partial node and at most ``2 + threads`` group buffers, plus 6 queued for the background
    writes when there are several threads (10 buffers, 3.9 MiB, with 2 threads).

    When a group is complete its MHT node is encrypted as if it
    were a leaf (no child MHT nodes yet) under a fresh key and written next to the group's data
    nodes; the writer keeps only that node's key and tag, 32 bytes per MHT node, i.e. about
    85 KiB per GiB of plaintext. Most MHT nodes stay leaves: only the first 1/32 of them get
    children, and :meth:`close` reads just those back (checking them against the kept key and
    tag), adds their finished children's keys and tags and encrypts them again, children
    first. Until :meth:`close` succeeds node 0 is a hole of zeros, so
    an unfinished file is never accepted by a reader.

    Leaving a ``with`` block with an exception, or dropping an unclosed writer, aborts: the file
    stays invalid and no tag is produced.
    """

    def __init__(self, path: StrPath, key: bytes, name: str | None = None) -> None:
        self._fd = -1
        self._setup(key, _stored_name(path, name))
        self._attach(os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666))

    @classmethod
    def _on_fd(cls, fd: int, key: bytes, name: str) -> ProtectedFileWriter:
        """A writer on ``fd``, an empty file open for reading and writing, which it then owns.

        For a file created safely elsewhere (``mkstemp``): no reopening by name, which a
        symlink swapped in meanwhile could redirect.
        """
        writer = cls.__new__(cls)
        writer._fd = -1
        writer._setup(key, os.fsencode(name))
        writer._attach(fd)
        return writer

    def _attach(self, fd: int) -> None:
        threads = thread_count()
        background = threads > 1
        self._writes = WriteBehind(
            fd, _GROUP_BYTES + NODE_SIZE, _write_buffers(threads), background
        )
        # The background writes keep one thread busy: encrypt on the others.
        self._lanes = threads - 1 if background else threads
        self._fd = fd

    def _setup(self, key: bytes, stored: bytes) -> None:
        _check_key(key)
        if not stored or len(stored) > MAX_NAME_BYTES or b"\0" in stored:
            raise FormatError(
                f"protected file name {stored!r}: must be 1..{MAX_NAME_BYTES} bytes without NUL"
            )
        self._key = bytes(key)
        self._name = stored
        self._head = bytearray(META_DATA_SIZE)
        self._size = 0
        self._node = bytearray(NODE_SIZE)
        self._node_fill = 0
        self._data_count = 0
        self._stage: _Stage | None = None  # the incomplete group being filled, if any
        # Key ‖ tag of every MHT node written so far (as a leaf, or final after close).
        self._mht_entries = bytearray()
        self._tag: bytes | None = None
        self._aborted = False

    # -- file-object protocol ---------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once the writer was closed or aborted."""
        return self._fd < 0

    @property
    def tag(self) -> bytes | None:
        """The root tag after :meth:`close`, else None."""
        return self._tag

    @property
    def name(self) -> bytes:
        """The file name stored in the file."""
        return self._name

    def writable(self) -> bool:
        """Always True."""
        return True

    def readable(self) -> bool:
        """Always False."""
        return False

    def seekable(self) -> bool:
        """Always False: the writer is append-only."""
        return False

    def tell(self) -> int:
        """Plaintext bytes written so far."""
        return self._size

    def isatty(self) -> bool:
        """Always False."""
        return False

    def read(self, size: int = -1, /) -> bytes:
        """Unsupported: the writer is write-only."""
        raise io.UnsupportedOperation("protected file writer is not readable")

    def truncate(self, size: int, /) -> int:
        """Unsupported: the writer is append-only."""
        raise io.UnsupportedOperation("protected file writer cannot truncate")

    def fileno(self) -> int:
        """Unsupported: raw writes would bypass the encryption."""
        raise io.UnsupportedOperation("protected file writer has no usable file descriptor")

    def flush(self) -> None:
        """Wait until every complete group is in the file (the rest goes at :meth:`close`)."""
        if self._fd >= 0:
            try:
                self._writes.drain()
            except BaseException:
                self.abort()
                raise

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        """Append ``data``; return its length."""
        if self._fd < 0:
            raise ValueError("write to a closed protected file writer")
        view = memoryview(data).cast("B")
        total = len(view)
        pos = 0
        if self._size < META_DATA_SIZE:
            pos = min(total, META_DATA_SIZE - self._size)
            self._head[self._size : self._size + pos] = view[:pos]
        if pos < total and self._node_fill:
            take = min(total - pos, NODE_SIZE - self._node_fill)
            self._node[self._node_fill : self._node_fill + take] = view[pos : pos + take]
            self._node_fill += take
            pos += take
            if self._node_fill == NODE_SIZE:
                self._encrypt_nodes(memoryview(self._node))
                self._node_fill = 0
        full = (total - pos) // NODE_SIZE * NODE_SIZE
        if full:
            self._encrypt_nodes(view[pos : pos + full])
            pos += full
        if pos < total:
            rest = total - pos
            self._node[:rest] = view[pos:]
            self._node_fill = rest
        self._size += total
        return total

    def writelines(self, lines: list[bytes]) -> None:
        """Write every item of ``lines``."""
        for line in lines:
            self.write(line)

    def close(self) -> bytes:
        """Finalize the file and return its root tag; later calls return the same tag."""
        if self._tag is not None:
            return self._tag
        if self._aborted:
            raise ValueError("protected file writer was aborted; the file is invalid")
        try:
            tag = self._finish()
        except BaseException:
            self.abort()  # does nothing once the tag is set: the file is complete
            raise
        finally:
            if self._tag is not None:
                self._fd = -1
                self._writes.close()
        return tag

    def abort(self) -> None:
        """Close without finalizing: the file stays invalid (its node 0 is never written).

        Group writes still queued are dropped; one in progress closes the descriptor when it
        returns (:meth:`.write_behind.WriteBehind.close`), so this never waits.
        """
        if self._fd >= 0 and self._tag is None:
            self._aborted = True
            self._fd = -1
            self._writes.close()

    def __enter__(self) -> ProtectedFileWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:
        if getattr(self, "_fd", -1) >= 0:
            self.abort()

    # -- internals ----------------------------------------------------------------------------

    def _encrypt_nodes(self, view: memoryview) -> None:
        """Encrypt the whole 4096-byte plaintext nodes of ``view``; a failure aborts the writer.

        ``view`` splits at MHT group boundaries into: the end of the staged group (completing
        it), whole groups, and the start of a group that stays incomplete (staged). Every part
        is a job; the jobs run in parallel threads (:func:`~.protected_fs_nodes.run_parallel`)
        and the job that completes a group hands it to the file's writes (:mod:`.write_behind`).
        """
        jobs: list[Callable[[], None]] = []
        offset = 0
        total = len(view)
        try:
            while offset < total:
                first = self._data_count % DATA_NODES_PER_MHT
                group = self._data_count // DATA_NODES_PER_MHT
                count = min((total - offset) // NODE_SIZE, DATA_NODES_PER_MHT - first)
                plain = view[offset : offset + count * NODE_SIZE]
                if first + count == DATA_NODES_PER_MHT and first == 0:
                    jobs.append(partial(self._write_group, group, plain))
                else:
                    if self._stage is None:  # starts a group that stays incomplete
                        self._stage = _Stage(self._writes.take())
                    complete = first + count == DATA_NODES_PER_MHT
                    jobs.append(
                        partial(self._stage_nodes, self._stage, group, first, plain, complete)
                    )
                    if complete:
                        self._stage = None
                offset += count * NODE_SIZE
                self._data_count += count
            self._reserve_mht_entries()
            run_parallel(jobs, self._lanes)
        except BaseException:
            self.abort()
            raise

    def _stage_nodes(
        self, stage: _Stage, group: int, first: int, plain: memoryview, complete: bool
    ) -> None:
        """Encrypt nodes ``first``.. of ``group`` into ``stage``; write the group if complete."""
        count = len(plain) // NODE_SIZE
        encrypt_nodes(
            os.urandom(_KEY_SIZE * count),
            plain,
            stage.nodes[first * NODE_SIZE : (first + count) * NODE_SIZE],
            memoryview(stage.mht)[first * _ENTRY : (first + count) * _ENTRY],
        )
        if complete:
            self._seal_mht(group, stage.mht, stage.buffer)
            self._submit_group(group, stage.buffer, DATA_NODES_PER_MHT)

    def _write_groups_from(self, src_fd: int, groups: range) -> None:
        """Append whole groups read from a regular file, in parallel (file-to-file path).

        The writer must stand at the start of group ``groups.start`` with nothing staged;
        group ``g``'s plaintext is at ``3072 + g * 393216`` in ``src_fd``.
        """
        if self._fd < 0:
            raise ValueError("write to a closed protected file writer")
        if self._data_count != groups.start * DATA_NODES_PER_MHT or self._node_fill:
            raise ValueError("protected file writer is not at the start of a group")
        self._data_count += len(groups) * DATA_NODES_PER_MHT
        self._reserve_mht_entries()
        try:
            # Every thread reads, encrypts and writes whole groups: all of it runs in parallel
            # here, so the threads write their own groups instead of queueing them.
            self._writes.drain()
            run_parallel([partial(self._write_group_from, src_fd, group) for group in groups])
        except BaseException:
            self.abort()
            raise
        self._size += len(groups) * _GROUP_BYTES

    def _write_group_from(self, src_fd: int, group: int) -> None:
        """Read, encrypt in place and write one whole group (thread-safe)."""
        buffer = self._writes.take()
        try:
            nodes = buffer[NODE_SIZE:]
            if os.preadv(src_fd, [nodes], META_DATA_SIZE + group * _GROUP_BYTES) != _GROUP_BYTES:
                raise ValueError("src: the file ended early (it changed while being encrypted)")
            self._seal_group(group, nodes, buffer)
        except BaseException:
            self._writes.give_back(buffer)
            raise
        self._submit_group(group, buffer, DATA_NODES_PER_MHT, now=True)

    def _write_group(self, group: int, plain: memoryview) -> None:
        """Encrypt and write a whole group of 96 nodes (thread-safe)."""
        buffer = self._writes.take()
        try:
            self._seal_group(group, plain, buffer)
        except BaseException:
            self._writes.give_back(buffer)
            raise
        self._submit_group(group, buffer, DATA_NODES_PER_MHT)

    def _seal_group(self, group: int, plain: memoryview, buffer: memoryview) -> None:
        """Encrypt a whole group into ``buffer``: its data nodes, then its MHT node.

        The data nodes go after the MHT node, under fresh keys; ``plain`` may be that part of
        ``buffer`` (in place).
        """
        mht = bytearray(NODE_SIZE)
        encrypt_nodes(os.urandom(_KEY_SIZE * DATA_NODES_PER_MHT), plain, buffer[NODE_SIZE:], mht)
        self._seal_mht(group, mht, buffer)

    def _reserve_mht_entries(self) -> None:
        """Make room for the key ‖ tag of every MHT node up to the current data node.

        Done before jobs run: they then only assign their own 32 bytes in place.
        """
        groups = -(-self._data_count // DATA_NODES_PER_MHT)
        missing = groups * _ENTRY - len(self._mht_entries)
        if missing > 0:
            self._mht_entries.extend(bytes(missing))

    def _seal_mht(self, group: int, mht: bytearray, buffer: memoryview) -> None:
        """Encrypt a group's MHT node ``mht`` as a leaf into the first node of ``buffer``.

        The MHT node holds the data nodes' keys and tags; it is encrypted under a fresh key,
        kept with its tag for :meth:`close`, which redoes the few nodes that get children.
        """
        entry = bytearray(_ENTRY)
        encrypt_nodes(os.urandom(_KEY_SIZE), mht, buffer[:NODE_SIZE], entry)
        self._mht_entries[group * _ENTRY : (group + 1) * _ENTRY] = entry

    def _submit_group(self, group: int, buffer: memoryview, count: int, now: bool = False) -> None:
        """Hand a sealed group (its MHT node and ``count`` data nodes) to the file's writes.

        One write at the MHT node's offset: by this thread with ``now``, else possibly in the
        background. From here on the buffer belongs to the writes.
        """
        offset = mht_physical(group) * NODE_SIZE
        self._writes.submit(buffer, (count + 1) * NODE_SIZE, offset, now)

    def _finalize_mhts(self, last: int) -> tuple[bytes, bytes]:
        """Give the MHT nodes with children their children's entries; return the root's.

        Every MHT node ``0..last`` was written as a leaf. Node L's children are
        ``32 L + 1 .. 32 L + 32``, so the nodes that have any are ``0 .. (last - 1) // 32``,
        and they fall into waves of consecutive indexes: the highest ones have only leaf
        children, the next wave only children in the first, and so on up to the root. Each
        wave runs in parallel threads.
        """
        high = (last - 1) // CHILD_MHTS_PER_MHT if last else -1
        while high >= 0:
            low = (high - 1) // CHILD_MHTS_PER_MHT + 1 if high else 0
            step = max(16, -(-(high - low + 1) // (4 * thread_count())))
            run_parallel(
                [
                    partial(self._finalize_mht_range, i, min(i + step, high + 1), last)
                    for i in range(low, high + 1, step)
                ]
            )
            high = low - 1
        return bytes(self._mht_entries[:_KEY_SIZE]), bytes(self._mht_entries[_KEY_SIZE:_ENTRY])

    def _finalize_mht_range(self, start: int, stop: int, last: int) -> None:
        """Redo MHT nodes ``start..stop - 1`` with the entries of their finished children."""
        node = bytearray(NODE_SIZE)
        entry = bytearray(_ENTRY)
        for level_index in range(start, stop):
            offset = mht_physical(level_index) * NODE_SIZE
            sealed = _pread_exact(self._fd, NODE_SIZE, offset, f"MHT node {level_index}")
            kept = bytes(self._mht_entries[level_index * _ENTRY : (level_index + 1) * _ENTRY])
            if decrypt_nodes(kept, sealed, node) >= 0:
                raise IntegrityError(
                    f"MHT node {level_index} (physical {mht_physical(level_index)}) was modified"
                    " while the file was being written"
                )
            first_child = level_index * CHILD_MHTS_PER_MHT + 1
            end = min(first_child + CHILD_MHTS_PER_MHT, last + 1)
            node[_MHT_DATA_PART : _MHT_DATA_PART + (end - first_child) * _ENTRY] = (
                self._mht_entries[first_child * _ENTRY : end * _ENTRY]
            )
            encrypt_nodes(os.urandom(_KEY_SIZE), node, node, entry)
            self._mht_entries[level_index * _ENTRY : (level_index + 1) * _ENTRY] = entry
            _pwrite_all(self._fd, node, offset)

    def _finish(self) -> bytes:
        """Encrypt the tail, finalize the MHT nodes bottom-up, write node 0; return the tag.

        The tag is set as soon as node 0 is written: from then on the file is complete.
        """
        if self._node_fill:
            self._node[self._node_fill :] = bytes(NODE_SIZE - self._node_fill)
            self._encrypt_nodes(memoryview(self._node))
            self._node_fill = 0
        if self._stage is not None:
            staged = self._data_count % DATA_NODES_PER_MHT
            group = self._data_count // DATA_NODES_PER_MHT
            self._seal_mht(group, self._stage.mht, self._stage.buffer)
            self._submit_group(group, self._stage.buffer, staged)
            self._stage = None
        self._writes.drain()  # the MHT nodes are read back below
        data_nodes = self._data_count
        root_key = root_tag = bytes(16)
        if data_nodes:
            root_key, root_tag = self._finalize_mhts((data_nodes - 1) // DATA_NODES_PER_MHT)
        plain = pack_metadata(self._name, self._size, root_key, root_tag, bytes(self._head))
        key_id = os.urandom(32)
        meta_key = derive_key(self._key, METADATA_KEY_LABEL, 0, key_id)
        sealed = AESGCM(meta_key).encrypt(ZERO_IV, plain, None)
        gmac = sealed[ENCRYPTED_META_SIZE:]
        node0 = bytearray(NODE_SIZE)
        node0[:ENCRYPTED_META_OFFSET] = build_header(key_id, gmac)
        node0[ENCRYPTED_META_OFFSET : ENCRYPTED_META_OFFSET + ENCRYPTED_META_SIZE] = sealed[
            :ENCRYPTED_META_SIZE
        ]
        _pwrite_all(self._fd, node0, 0)
        self._tag = gmac
        return gmac


class ProtectedFileReader(io.BufferedIOBase):
    """Read a ``teaclave-file-128`` file as a seekable binary stream.

    Opening validates the header, derives the metadata key from ``key``, authenticates the
    metadata node (:class:`IntegrityError`: wrong key or corrupted), compares its tag with
    ``expected_tag`` (:class:`TagMismatch`) and the stored name with ``name`` (default: base name
    of ``path``; :class:`NameMismatch`), and checks that the file holds exactly the nodes its
    plaintext size needs (:class:`FormatError` when truncated or extended).

    Data and MHT nodes are authenticated lazily when read: reading at offset X decrypts only the
    nodes on the path to X. A failure raises :class:`IntegrityError` naming the node. At most one
    data node, the root and 8 other MHT nodes are cached; large reads decrypt straight into the
    caller's buffer through a 384 KiB scratch buffer.
    """

    def __init__(
        self,
        path: StrPath,
        key: bytes,
        expected_tag: bytes | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__()
        _check_key(key)
        expected_name = _stored_name(path, name)
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            self._open(key, expected_tag, expected_name)
        except BaseException:
            os.close(self._fd)
            self._fd = -1
            raise
        self._pos = 0
        self._mhts: OrderedDict[int, bytes] = OrderedDict()
        self._root: bytes | None = None
        self._node_index = -1
        self._node_plain = b""
        self._one = memoryview(bytearray(_SLOT))

    def _open(self, key: bytes, expected_tag: bytes | None, expected_name: bytes) -> None:
        file_size = os.fstat(self._fd).st_size
        if file_size < NODE_SIZE or file_size % NODE_SIZE:
            raise FormatError(
                f"not a protected file: {file_size} bytes is not a positive multiple of {NODE_SIZE}"
            )
        node0 = _pread_exact(self._fd, NODE_SIZE, 0, "metadata node")
        header = parse_header(node0)
        meta_key = derive_key(key, METADATA_KEY_LABEL, 0, header.key_id)
        sealed = node0[ENCRYPTED_META_OFFSET : ENCRYPTED_META_OFFSET + ENCRYPTED_META_SIZE]
        try:
            plain = AESGCM(meta_key).decrypt(ZERO_IV, sealed + header.gmac, None)
        except InvalidTag:
            raise IntegrityError(
                "metadata node (physical 0): authentication failed: wrong key or corrupted file"
            ) from None
        if expected_tag is not None and header.gmac != expected_tag:
            raise TagMismatch(expected_tag, header.gmac, "teaclave-file-128 cmac")
        meta = unpack_metadata(plain)
        if meta.name != expected_name:
            raise NameMismatch(expected_name, meta.name)
        nodes = node_count(meta.size)
        if file_size != nodes * NODE_SIZE:
            state = "truncated" if file_size < nodes * NODE_SIZE else "extended"
            raise FormatError(
                f"protected file {state}: {file_size} bytes on disk, but its plaintext size"
                f" {meta.size} needs {nodes} nodes ({nodes * NODE_SIZE} bytes)"
            )
        self._tag = header.gmac
        self._name = meta.name
        self._size = meta.size
        self._head = meta.data[: min(meta.size, META_DATA_SIZE)]
        self._root_key = meta.root_key
        self._root_tag = meta.root_tag
        self._data_nodes = data_node_count(meta.size)

    # -- properties ---------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Plaintext size in bytes."""
        return self._size

    @property
    def tag(self) -> bytes:
        """The file's root tag (the GMAC at offset 80, Teaclave's "cmac")."""
        return self._tag

    @property
    def name(self) -> bytes:
        """The file name stored (and authenticated) in the file."""
        return self._name

    # -- io protocol ----------------------------------------------------------------------------

    def readable(self) -> bool:
        """Always True."""
        return True

    def seekable(self) -> bool:
        """Always True."""
        return True

    def writable(self) -> bool:
        """Always False."""
        return False

    def close(self) -> None:
        """Close the underlying file."""
        if getattr(self, "_fd", -1) >= 0:
            os.close(self._fd)
            self._fd = -1
        super().close()

    def tell(self) -> int:
        """Current plaintext position."""
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int:
        """Move to a plaintext position (positions past the end read as EOF)."""
        self._check_open()
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        self._pos = target
        return target

    def read(self, size: int | None = -1, /) -> bytes:
        """Read up to ``size`` bytes (all remaining bytes when ``size`` is None or negative)."""
        self._check_open()
        remaining = max(0, self._size - self._pos)
        count = remaining if size is None or size < 0 else min(size, remaining)
        if count == 0:
            return b""
        buf = bytearray(count)
        self.readinto(buf)
        return bytes(buf)

    def read1(self, size: int = -1, /) -> bytes:
        """Like :meth:`read` (one call never needs more than one pass)."""
        return self.read(size if size >= 0 else _COPY_CHUNK)

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        """Read into ``buffer``; return the byte count (0 at EOF)."""
        self._check_open()
        view = memoryview(buffer).cast("B")
        count = min(len(view), max(0, self._size - self._pos))
        pieces: list[tuple[int, int, memoryview]] = []  # (data node, offset in it, dest)
        has_run = False
        done = 0
        while done < count:
            pos = self._pos + done
            if pos < META_DATA_SIZE:
                take = min(count - done, META_DATA_SIZE - pos)
                view[done : done + take] = self._head[pos : pos + take]
                done += take
                continue
            index, offset = divmod(pos - META_DATA_SIZE, NODE_SIZE)
            if offset == 0 and count - done >= NODE_SIZE and index != self._node_index:
                group_end = (index // DATA_NODES_PER_MHT + 1) * DATA_NODES_PER_MHT
                take = min((count - done) // NODE_SIZE, group_end - index) * NODE_SIZE
                has_run = True
            else:
                take = min(count - done, NODE_SIZE - offset)
            pieces.append((index, offset, view[done : done + take]))
            done += take
        if has_run:
            run_parallel([self._piece_job(*piece) for piece in pieces])
        else:  # small reads: one node at a time through the single-node cache
            for index, offset, dest in pieces:
                dest[:] = self._data_node(index)[offset : offset + len(dest)]
        self._pos += count
        return count

    def readinto1(self, buffer: WriteableBuffer, /) -> int:
        """Same as :meth:`readinto`."""
        return self.readinto(buffer)

    def readline(self, size: int | None = -1, /) -> bytes:
        """Read one line (up to and including the newline), at most ``size`` bytes."""
        self._check_open()
        limit = self._size - self._pos if size is None or size < 0 else size
        parts: list[bytes] = []
        total = 0
        while total < limit and self._pos < self._size:
            pos = self._pos
            if pos < META_DATA_SIZE:
                chunk, start, end = self._head, pos, len(self._head)
            else:
                index, start = divmod(pos - META_DATA_SIZE, NODE_SIZE)
                chunk = self._data_node(index)
                end = min(NODE_SIZE, self._size - META_DATA_SIZE - index * NODE_SIZE)
            end = min(end, start + limit - total)
            newline = chunk.find(b"\n", start, end)
            if newline >= 0:
                end = newline + 1
            parts.append(chunk[start:end])
            total += end - start
            self._pos += end - start
            if newline >= 0:
                break
        return b"".join(parts)

    # -- node access ----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._fd < 0:
            raise ValueError("I/O operation on a closed protected file")

    def _decrypt_node(self, physical: int, key: bytes, tag: bytes, what: str) -> bytes:
        one = self._one
        if os.preadv(self._fd, [one[:NODE_SIZE]], physical * NODE_SIZE) != NODE_SIZE:
            raise FormatError(f"{what}: file ended early (it changed while being read?)")
        one[NODE_SIZE:] = tag
        try:
            return AESGCM(key).decrypt(ZERO_IV, one, None)
        except InvalidTag:
            raise IntegrityError(
                f"{what} (physical {physical}): authentication failed"
                " (corrupted, swapped or replayed node)"
            ) from None

    def _mht_node(self, level_index: int) -> bytes:
        """The plaintext of MHT node ``level_index``, authenticated through its parents."""
        if level_index == 0:
            if self._root is None:
                self._root = self._decrypt_node(
                    mht_physical(0), self._root_key, self._root_tag, "MHT node 0"
                )
            return self._root
        cached = self._mhts.get(level_index)
        if cached is not None:
            self._mhts.move_to_end(level_index)
            return cached
        parent_index, slot = mht_parent(level_index)
        parent = self._mht_node(parent_index)
        entry = _MHT_DATA_PART + slot * _ENTRY
        node = self._decrypt_node(
            mht_physical(level_index),
            parent[entry : entry + _KEY_SIZE],
            parent[entry + _KEY_SIZE : entry + _ENTRY],
            f"MHT node {level_index}",
        )
        self._mhts[level_index] = node
        if len(self._mhts) > _MHT_CACHE:
            self._mhts.popitem(last=False)
        return node

    def _data_node(self, index: int) -> bytes:
        """The plaintext of data node ``index`` (cached: the last one read)."""
        if index != self._node_index:
            mht = self._mht_node(index // DATA_NODES_PER_MHT)
            entry = index % DATA_NODES_PER_MHT * _ENTRY
            self._node_plain = self._decrypt_node(
                data_node_physical(index),
                mht[entry : entry + _KEY_SIZE],
                mht[entry + _KEY_SIZE : entry + _ENTRY],
                f"data node {index}",
            )
            self._node_index = index
        return self._node_plain

    def _decrypt_groups_to(self, out_fd: int, groups: range) -> None:
        """Decrypt whole groups into ``out_fd`` at their plaintext offsets, in parallel.

        Group ``g`` is plaintext ``3072 + g * 393216`` onwards; its blocks in ``out_fd`` are
        allocated first (``posix_fallocate``). A failure raises after every job finished; the
        caller discards ``out_fd``.
        """
        self._check_open()
        jobs = []
        for group in groups:
            mht = self._mht_node(group)
            entries = memoryview(mht)[:_MHT_DATA_PART]
            jobs.append(partial(self._decrypt_group_to, out_fd, group, entries))
        run_parallel(jobs)

    def _decrypt_group_to(self, out_fd: int, group: int, entries: memoryview) -> None:
        nodes = scratch(_GROUP_BYTES)
        self._decrypt_run(group * DATA_NODES_PER_MHT, entries, nodes)
        offset = META_DATA_SIZE + group * _GROUP_BYTES
        os.posix_fallocate(out_fd, offset, _GROUP_BYTES)
        _pwrite_all(out_fd, nodes, offset)

    def _piece_job(self, first: int, offset: int, dest: memoryview) -> Callable[[], None]:
        """A thread-safe job filling ``dest`` from data nodes ``first``.. (at ``offset``).

        Whole nodes (``offset`` 0, a multiple of 4096 bytes within one MHT group) are read and
        decrypted in place; a part of one node goes through a per-thread scratch buffer. The
        MHT lookups happen here, in the caller's thread, because they use the node cache.
        """
        whole = offset == 0 and len(dest) % NODE_SIZE == 0
        nodes = len(dest) // NODE_SIZE if whole else 1
        mht = self._mht_node(first // DATA_NODES_PER_MHT)
        entry = first % DATA_NODES_PER_MHT * _ENTRY
        entries = memoryview(mht)[entry : entry + nodes * _ENTRY]
        if whole:
            return partial(self._decrypt_run, first, entries, dest)
        return partial(self._decrypt_part, first, entries, offset, dest)

    def _decrypt_part(self, index: int, entries: memoryview, offset: int, dest: memoryview) -> None:
        node = scratch(NODE_SIZE)
        self._decrypt_run(index, entries, node)
        dest[:] = node[offset : offset + len(dest)]
        node[:] = bytes(NODE_SIZE)

    def _decrypt_run(self, first: int, entries: memoryview, dest: memoryview) -> None:
        """Decrypt the full data nodes ``first``.. of one group in place into ``dest``.

        ``entries`` are their key ‖ tag entries from the (authenticated) MHT node. Thread-safe:
        runs of one read proceed in parallel. A failure zeroes ``dest`` and raises.
        """
        offset = data_node_physical(first) * NODE_SIZE
        if os.preadv(self._fd, [dest], offset) != len(dest):
            dest[:] = bytes(len(dest))
            raise FormatError(f"data node {first}: file ended early (changed while being read?)")
        bad = decrypt_nodes(entries, dest, dest)
        if bad >= 0:
            index = first + bad
            raise IntegrityError(
                f"data node {index} (physical {data_node_physical(index)}): authentication"
                " failed (corrupted, swapped or replayed node)"
            )


def root_tag(path: StrPath) -> bytes:
    """The root tag ("cmac") stored at offset 80 of a protected file; no key needed."""
    with open(path, "rb") as f:
        node0 = f.read(NODE_SIZE)
        size = os.fstat(f.fileno()).st_size
    if len(node0) < NODE_SIZE or size % NODE_SIZE:
        raise FormatError(
            f"not a protected file: {size} bytes is not a positive multiple of {NODE_SIZE}"
        )
    parse_header(node0)
    return node0[GMAC_OFFSET : GMAC_OFFSET + _TAG]


def _temp_next_to(path: StrPath) -> tuple[int, str]:
    target = os.fspath(path)
    directory = os.path.dirname(target) or "."
    return tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(target)}.", suffix=".tmp")


Progress = Callable[[int], None]
"""Called with the plaintext bytes done so far (``encrypt_file`` / ``decrypt_file``)."""

_BATCH_GROUPS = 16  # groups per parallel batch of the file-to-file paths (6 MiB)


def encrypt_file(
    src_path: StrPath,
    dst_path: StrPath,
    key: bytes,
    name: str | None = None,
    progress: Progress | None = None,
) -> bytes:
    """Encrypt ``src_path`` into ``dst_path``; return the root tag.

    The stored name is ``name`` or the base name of ``dst_path``. The file is written to a
    temporary file next to ``dst_path`` and renamed only on success. Whole MHT groups of a
    regular file are read, encrypted and written by parallel threads, each at its own offsets
    (:mod:`.protected_fs_nodes`); ``progress`` is called after every batch of groups.
    """
    _check_key(key)
    stored = name if name is not None else os.path.basename(os.fspath(dst_path))
    fd, temp = _temp_next_to(dst_path)
    try:
        try:
            writer = ProtectedFileWriter._on_fd(fd, key, stored)
        except BaseException:
            os.close(fd)
            raise
        with writer, open(src_path, "rb", buffering=0) as src:  # writer aborts on failure
            _copy_into_writer(src, writer, progress)
        tag = writer.close()
        os.replace(temp, dst_path)
    except BaseException:
        _unlink_quietly(temp)
        raise
    return tag


def _batches(groups: int) -> Iterator[range]:
    """Groups ``0..groups - 1`` in batches of ``_BATCH_GROUPS`` (the progress steps)."""
    for start in range(0, groups, _BATCH_GROUPS):
        yield range(start, min(groups, start + _BATCH_GROUPS))


def _copy_into_writer(
    src: io.FileIO, writer: ProtectedFileWriter, progress: Progress | None
) -> None:
    src_fd = src.fileno()
    info = os.fstat(src_fd)
    head = src.read(META_DATA_SIZE)
    writer.write(head)
    if len(head) == META_DATA_SIZE and stat.S_ISREG(info.st_mode):
        groups = max(0, info.st_size - META_DATA_SIZE) // _GROUP_BYTES  # st_size may lag (procfs)
        for batch in _batches(groups):
            writer._write_groups_from(src_fd, batch)
            if progress is not None:
                progress(writer.tell())
        src.seek(META_DATA_SIZE + groups * _GROUP_BYTES)
    buf = memoryview(bytearray(_COPY_CHUNK))
    while n := src.readinto(buf):
        writer.write(buf[:n])
        if progress is not None:
            progress(writer.tell())


def decrypt_file(
    src_path: StrPath,
    dst_path: StrPath,
    key: bytes,
    expected_tag: bytes | None = None,
    name: str | None = None,
    progress: Progress | None = None,
) -> bytes:
    """Decrypt ``src_path`` into ``dst_path``; return the root tag.

    The stored name must equal ``name`` or the base name of ``src_path``. The plaintext goes to
    a temporary file next to ``dst_path`` that is renamed only once every node authenticated.
    Whole MHT groups are read, decrypted and written by parallel threads, each at its own
    offsets; ``progress`` is called after every batch of groups.
    """
    fd, temp = _temp_next_to(dst_path)
    try:
        with (
            os.fdopen(fd, "wb", buffering=0),  # closes fd; the writes are positional
            ProtectedFileReader(src_path, key, expected_tag, name) as reader,
        ):
            head = reader.read(META_DATA_SIZE)
            _pwrite_all(fd, head, 0)
            groups = (reader.size - len(head)) // _GROUP_BYTES
            for batch in _batches(groups):
                reader._decrypt_groups_to(fd, batch)
                if progress is not None:
                    progress(META_DATA_SIZE + batch.stop * _GROUP_BYTES)
            done = len(head) + groups * _GROUP_BYTES
            reader.seek(done)
            buf = memoryview(bytearray(_COPY_CHUNK))
            while n := reader.readinto(buf):
                _pwrite_all(fd, buf[:n], done)
                done += n
                if progress is not None:
                    progress(done)
            tag = reader.tag
        os.replace(temp, dst_path)
    except BaseException:
        _unlink_quietly(temp)
        raise
    return tag


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
