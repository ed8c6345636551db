"""What our writer produces, checked with the independent mini-reader (spec §2.3)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from crypto_helpers import ZERO_KEY, parse, pseudo_random

from teaclave.crypto import (
    FormatError,
    IntegrityError,
    ProtectedFileReader,
    ProtectedFileWriter,
    protected_fs,
    protected_fs_nodes,
)
from teaclave.crypto.protected_fs_layout import data_node_physical, mht_physical, node_count

KEY = bytes(range(16))


def write(path: Path, data: bytes, key: bytes = KEY, name: str | None = None) -> bytes:
    with ProtectedFileWriter(path, key, name=name) as writer:
        writer.write(data)
    tag = writer.tag
    assert tag is not None
    return tag


@pytest.mark.parametrize(
    ("size", "nodes"),
    [
        (0, 1),
        (1, 1),
        (3072, 1),
        (3073, 3),
        (3072 + 4096, 3),
        (3072 + 4096 + 1, 4),
        (27929, 9),  # the spec's verified example (py_logistic_reg/train.enc)
        (3072 + 4096 * 96, 98),
        (3072 + 4096 * 96 + 1, 100),  # MHT 1 at physical 98, data 96 at physical 99
        (3072 + 4096 * 97, 100),
    ],
)
def test_node_count_and_layout(size: int, nodes: int, tmp_path: Path) -> None:
    data = pseudo_random(size, size)
    path = tmp_path / "data.bin"
    tag = write(path, data)
    raw = path.read_bytes()
    assert len(raw) == nodes * 4096 == node_count(size) * 4096
    parsed = parse(raw, KEY)
    assert parsed.plaintext == data
    assert parsed.size == size
    assert parsed.header["gmac"] == tag == raw[80:96]
    assert parsed.nodes == nodes


def test_header_fields_and_stored_name(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    write(path, b"a,b\n1,2\n")
    parsed = parse(path.read_bytes(), KEY)
    h = parsed.header
    assert h["file_id"] == 0x5347585F46494C45
    assert path.read_bytes()[:8] == b"ELIF_XGS"
    assert (h["major"], h["minor"], h["flags"], h["update"]) == (1, 0, 1, 0)
    assert (h["key_policy"], h["isv_svn"]) == (0, 0)
    assert h["cpu_svn"] == bytes(16) and h["attribute_mask"] == bytes(16)
    assert parsed.padding == bytes(628)
    assert parsed.name_field == b"report.csv" + bytes(250)
    # small files: no MHT, an all-zero root key and tag, data zero-padded inside the metadata
    assert parsed.root_key == bytes(16) and parsed.root_tag == bytes(16)
    assert parsed.head == b"a,b\n1,2\n" + bytes(3072 - 8)


def test_explicit_name_and_name_limits(tmp_path: Path) -> None:
    path = tmp_path / "tmp-upload"
    write(path, b"x", name="final.enc")
    assert parse(path.read_bytes(), KEY).name == b"final.enc"
    with ProtectedFileReader(path, KEY, name="final.enc") as reader:
        assert reader.read() == b"x"
    write(path, b"x", name="é" * 129)  # 258 bytes of UTF-8
    assert parse(path.read_bytes(), KEY).name == ("é" * 129).encode()
    write(path, b"x", name="n" * 259)
    assert parse(path.read_bytes(), KEY).name == b"n" * 259
    for bad in ["n" * 260, "é" * 130, "", "a\0b"]:
        with pytest.raises(FormatError, match="name"):
            ProtectedFileWriter(path, KEY, name=bad)


def test_mht_tree_entries_and_numbering(tmp_path: Path) -> None:
    """Walk the tree: entries for existing nodes are set, all others are zero."""
    data_nodes = 96 * 2 + 5  # MHT 0, 1 (full) and 2 (5 entries)
    data = pseudo_random(3072 + 4096 * data_nodes - 100, 7)
    path = tmp_path / "tree.bin"
    write(path, data)
    raw = path.read_bytes()
    parsed = parse(raw, KEY)
    assert parsed.plaintext == data
    assert sorted(parsed.mht_plain) == [0, 1, 2]
    root = parsed.mht_plain[0]
    assert root[3072 : 3072 + 64] != bytes(64)  # children 1 and 2
    assert root[3072 + 64 :] == bytes(1024 - 64)
    for level in (1, 2):
        assert parsed.mht_plain[level][3072:] == bytes(1024)  # no grandchildren
    assert parsed.mht_plain[2][5 * 32 :] == bytes(4096 - 5 * 32)
    assert len(raw) == (data_node_physical(data_nodes - 1) + 1) * 4096
    assert mht_physical(2) == 195
    # the last node's padding is zero plaintext
    last = parsed.data_plain[data_nodes - 1]
    assert last[-100:] == bytes(100)


def test_second_mht_level(tmp_path: Path) -> None:
    """> 33 * 96 data nodes: MHT 33 is the first grandchild (parent MHT 1, slot 0)."""
    data_nodes = 33 * 96 + 3
    data = pseudo_random(3072 + 4096 * data_nodes, 3)
    path = tmp_path / "deep.bin"
    tag = write(path, data)
    raw = path.read_bytes()
    parsed = parse(raw, KEY)
    assert parsed.plaintext == data
    assert len(parsed.mht_plain) == 34
    mht1 = parsed.mht_plain[1]
    assert mht1[3072:3104] == parsed.mht_keys[33] + mht1[3088:3104]
    assert mht1[3104:] == bytes(1024 - 32)
    assert all(parsed.mht_plain[0][3072 + 32 * s : 3072 + 32 * s + 16] for s in range(32))
    with ProtectedFileReader(path, KEY, expected_tag=tag) as reader:
        reader.seek(3072 + 4096 * 33 * 96 + 10)
        assert reader.read(5000) == data[3072 + 4096 * 33 * 96 + 10 :][:5000]
        reader.seek(0)
        assert reader.read() == data


def test_encryption_is_randomized(tmp_path: Path) -> None:
    data = pseudo_random(3072 + 4096 * 3, 1)
    a, b = tmp_path / "a" / "f.bin", tmp_path / "b" / "f.bin"
    a.parent.mkdir()
    b.parent.mkdir()
    tag_a, tag_b = write(a, data), write(b, data)
    assert tag_a != tag_b
    raw_a, raw_b = a.read_bytes(), b.read_bytes()
    assert raw_a[16:48] != raw_b[16:48]  # key_id
    for node in range(len(raw_a) // 4096):
        assert raw_a[node * 4096 : node * 4096 + 4096] != raw_b[node * 4096 : node * 4096 + 4096]
    pa, pb = parse(raw_a, KEY), parse(raw_b, KEY)
    assert pa.mht_keys[0] != pb.mht_keys[0]
    assert len(set(pa.data_keys.values()) | set(pb.data_keys.values())) == 2 * len(pa.data_keys)


def test_many_small_writes_equal_one_write(tmp_path: Path) -> None:
    data = pseudo_random(3072 + 4096 * 100 + 77, 11)
    path = tmp_path / "pieces.bin"
    with ProtectedFileWriter(path, KEY) as writer:
        pos = 0
        step = 1
        while pos < len(data):
            assert writer.tell() == pos
            writer.write(memoryview(data)[pos : pos + step])
            pos += step
            step = step * 3 % 9001 + 1
    assert parse(path.read_bytes(), KEY).plaintext == data


def test_writer_close_is_idempotent_and_write_after_close_fails(tmp_path: Path) -> None:
    writer = ProtectedFileWriter(tmp_path / "f", KEY)
    writer.write(b"abc")
    tag = writer.close()
    assert writer.close() == tag == writer.tag
    assert writer.closed
    with pytest.raises(ValueError, match="closed"):
        writer.write(b"more")
    assert protected_fs.root_tag(tmp_path / "f") == tag


def test_aborted_writer_leaves_an_invalid_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    with pytest.raises(RuntimeError), ProtectedFileWriter(path, KEY) as writer:
        writer.write(pseudo_random(50_000))
        raise RuntimeError("boom")
    assert writer.tag is None and writer.closed
    with pytest.raises(ValueError, match="aborted"):
        writer.close()
    with pytest.raises(FormatError):
        ProtectedFileReader(path, KEY)
    # dropping an unclosed writer aborts as well
    other = ProtectedFileWriter(tmp_path / "g", KEY)
    other.write(b"x" * 10_000)
    del other
    with pytest.raises(FormatError):
        ProtectedFileReader(tmp_path / "g", KEY)


def test_mht_node_changed_while_writing_fails_close(tmp_path: Path) -> None:
    """The MHT nodes that get children are read back at close and must be as written."""
    path = tmp_path / "f"
    writer = ProtectedFileWriter(path, KEY)
    writer.write(pseudo_random(3072 + 4096 * 96 * 2, 5))  # groups 0 and 1: node 0 is a parent
    writer.flush()  # both groups are in the file
    with path.open("r+b") as f:
        f.seek(mht_physical(0) * 4096 + 100)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(IntegrityError, match=r"MHT node 0 .* modified while the file was being"):
        writer.close()
    assert writer.closed and writer.tag is None
    with pytest.raises(FormatError):
        ProtectedFileReader(path, KEY)


def test_key_size_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="key"):
        ProtectedFileWriter(tmp_path / "f", bytes(32))
    write(tmp_path / "f", b"x")
    with pytest.raises(ValueError, match="key"):
        ProtectedFileReader(tmp_path / "f", bytes(32))


def test_convenience_functions_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "plain.txt"
    src.write_bytes(pseudo_random(20_000))
    enc = tmp_path / "out.enc"
    tag = protected_fs.encrypt_file(src, enc, ZERO_KEY)
    assert parse(enc.read_bytes(), ZERO_KEY).name == b"out.enc"
    assert protected_fs.root_tag(enc) == tag
    back = tmp_path / "back.txt"
    assert protected_fs.decrypt_file(enc, back, ZERO_KEY, tag) == tag
    assert back.read_bytes() == src.read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["back.txt", "out.enc", "plain.txt"]


def test_text_wrapper_over_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    writer = ProtectedFileWriter(path, KEY)
    with io.TextIOWrapper(writer, encoding="utf-8") as text:
        text.write("héllo\n" * 1000)
    assert writer.tag is not None and writer.closed
    assert parse(path.read_bytes(), KEY).plaintext == ("héllo\n" * 1000).encode()


def test_short_writes_are_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel may write less than asked; the writer must finish every node anyway."""
    real_pwrite = os.pwrite

    def short_pwrite(fd: int, data: bytes, offset: int, /) -> int:
        return real_pwrite(fd, memoryview(data)[:1000], offset)

    def short_pwritev(fd: int, views: list[memoryview], offset: int, /) -> int:
        return real_pwrite(fd, views[0][: len(views[0]) // 2 + 3], offset)

    monkeypatch.setattr(os, "pwrite", short_pwrite)
    monkeypatch.setattr(os, "pwritev", short_pwritev)
    data = pseudo_random(3072 + 4096 * 100 + 9, 12)
    path = tmp_path / "short.bin"
    write(path, data)
    monkeypatch.undo()
    assert parse(path.read_bytes(), KEY).plaintext == data


@pytest.mark.parametrize("threads", [1, 2])
def test_writer_and_reader_memory_stays_bounded(tmp_path: Path, threads: int) -> None:
    """Streaming 100 MHT groups (~39 MB) needs bounded memory besides the caller's buffers.

    The writer's fixed cost is its group buffers of 97 nodes: the group being filled and the
    next, one per thread encrypting whole groups and, with several threads, the queue of the
    background writes (``protected_fs._write_buffers``). Keeping the 100 MHT nodes in memory
    would add another ~410 KB and fail this. The reader decrypts in place into the caller's
    buffer.
    """
    import tracemalloc

    previous = protected_fs_nodes.thread_count()
    protected_fs_nodes.set_thread_count(threads)
    buffers = protected_fs._write_buffers(protected_fs_nodes.thread_count()) * 97 * 4096
    groups = 100
    chunk = memoryview(pseudo_random(1 << 20, 4))
    total = 3072 + 4096 * 96 * groups + 123
    path = tmp_path / "big.bin"
    buf = bytearray(1 << 20)
    tracemalloc.start()
    try:
        writer = ProtectedFileWriter(path, KEY)
        left = total
        while left:
            n = min(left, len(chunk))
            writer.write(chunk[:n])
            left -= n
        tag = writer.close()
        del writer
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        before_read, _ = tracemalloc.get_traced_memory()  # the writer's scratch stays cached
        with ProtectedFileReader(path, KEY, expected_tag=tag) as reader:
            while reader.readinto(buf):
                pass
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        protected_fs_nodes.set_thread_count(previous)
    assert write_peak < buffers + 200_000, write_peak
    assert read_peak - before_read < 200_000, read_peak - before_read
    assert path.stat().st_size == (data_node_physical((total - 3072 - 1) // 4096) + 1) * 4096


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("mhts", [1, 2, 33, 34, 40])
def test_mht_tree_is_finalized_children_first(tmp_path: Path, mhts: int, threads: int) -> None:
    """MHT nodes are finalized in waves (leaves, their parents, ..., the root), in parallel.

    33 MHT nodes make node 1 a parent (of node 33), so the tree has three levels; the
    independent parser follows every key and tag from the root down.
    """
    previous = protected_fs_nodes.thread_count()
    protected_fs_nodes.set_thread_count(threads)
    try:
        data = pseudo_random(3072 + 4096 * 96 * (mhts - 1) + 4096 * 5 + 17, mhts)
        path = tmp_path / "tree.bin"
        with ProtectedFileWriter(path, KEY) as writer:
            writer.write(data)
        raw = path.read_bytes()
        assert len(raw) == node_count(len(data)) * 4096
        assert (len(raw) // 4096 - 2) // 97 + 1 == mhts
        assert parse(raw, KEY).plaintext == data
        with ProtectedFileReader(path, KEY, expected_tag=writer.tag) as reader:
            assert reader.read() == data
    finally:
        protected_fs_nodes.set_thread_count(previous)
