"""Every way of damaging a teaclave-file-128 file raises its specific CryptoError."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from crypto_helpers import pseudo_random

from teaclave.crypto import (
    CryptoError,
    FormatError,
    IntegrityError,
    NameMismatch,
    ProtectedFileReader,
    ProtectedFileWriter,
    TagMismatch,
    protected_fs,
    root_tag,
)
from teaclave.crypto.protected_fs_layout import data_node_physical, mht_physical

KEY = bytes(range(16))
NODE = 4096
SIZE = 3072 + NODE * 97 + 100  # meta, MHT 0, data 0-95, MHT 1, data 96-97: 101 nodes


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes, bytes]:
    """(plaintext, file bytes, tag) of a file with two MHT nodes."""
    data = pseudo_random(SIZE, 42)
    path = tmp_path_factory.mktemp("orig") / "victim.bin"
    with ProtectedFileWriter(path, KEY) as writer:
        writer.write(data)
    assert writer.tag is not None
    return data, path.read_bytes(), writer.tag


def read_all(path: Path, expected_tag: bytes | None = None, key: bytes = KEY) -> bytes:
    with ProtectedFileReader(path, key, expected_tag) as reader:
        return reader.read()


def place(tmp_path: Path, raw: bytes | bytearray) -> Path:
    path = tmp_path / "victim.bin"
    path.write_bytes(bytes(raw))
    return path


def test_untouched_copy_reads_back(original: tuple[bytes, bytes, bytes], tmp_path: Path) -> None:
    data, raw, tag = original
    assert len(raw) == 101 * NODE
    assert read_all(place(tmp_path, raw), tag) == data


def expected_error(offset: int) -> tuple[type[CryptoError], str | None]:
    """What flipping a bit at ``offset`` of the 101-node file must raise (and a message regex)."""
    node, within = divmod(offset, NODE)
    if node == 0:
        if within < 16 or 48 <= within < 80 or within >= 3468:
            return FormatError, None
        return IntegrityError, "metadata node"
    if node == mht_physical(0):
        return IntegrityError, re.escape("MHT node 0 (physical 1)")
    if node == mht_physical(1):
        return IntegrityError, re.escape("MHT node 1 (physical 98)")
    d = node - 2 - (1 if node > 98 else 0)
    assert data_node_physical(d) == node
    return IntegrityError, re.escape(f"data node {d} (physical {node})")


HEADER_OFFSETS = [0, 7, 8, 9, 10, 11, 12, 14, 16, 47, 48, 64, 79, 80, 95, 96, 2000, 3467, 3468]
NODE_OFFSETS = [n * NODE + w for n in range(1, 101) for w in (0, 2049, 4095)]
LAST_NODE_PADDING = [100 * NODE + 100, 100 * NODE + 4000]  # past the plaintext end


@pytest.mark.parametrize("offset", [*HEADER_OFFSETS, 4095, *LAST_NODE_PADDING])
@pytest.mark.parametrize("bit", [0x01, 0x80])
def test_flipped_bit_in_metadata_and_padding(
    original: tuple[bytes, bytes, bytes], tmp_path: Path, offset: int, bit: int
) -> None:
    _, raw, _ = original
    damaged = bytearray(raw)
    damaged[offset] ^= bit
    kind, text = expected_error(offset)
    with pytest.raises(kind, match=text) as err:
        read_all(place(tmp_path, damaged))
    assert type(err.value) is kind


def test_flipped_bit_in_every_node(original: tuple[bytes, bytes, bytes], tmp_path: Path) -> None:
    _, raw, _ = original
    for offset in NODE_OFFSETS:
        damaged = bytearray(raw)
        damaged[offset] ^= 0x04
        kind, text = expected_error(offset)
        with pytest.raises(kind, match=text):
            read_all(place(tmp_path, damaged))


def test_flipped_bit_in_the_stored_tag_with_an_expected_tag(
    original: tuple[bytes, bytes, bytes], tmp_path: Path
) -> None:
    _, raw, tag = original
    damaged = bytearray(raw)
    damaged[85] ^= 1
    with pytest.raises(IntegrityError):
        read_all(place(tmp_path, damaged), tag)


@pytest.mark.parametrize("cut", [1, 100, NODE, 3 * NODE, 100 * NODE])
def test_truncated(original: tuple[bytes, bytes, bytes], tmp_path: Path, cut: int) -> None:
    _, raw, _ = original
    with pytest.raises(FormatError) as err:
        read_all(place(tmp_path, raw[:-cut]))
    assert "truncated" in str(err.value) or "multiple of 4096" in str(err.value)


@pytest.mark.parametrize("size", [0, 1, 96, 4095])
def test_shorter_than_a_node(
    tmp_path: Path, size: int, original: tuple[bytes, bytes, bytes]
) -> None:
    with pytest.raises(FormatError, match="not a protected file"):
        read_all(place(tmp_path, original[1][:size]))
    with pytest.raises(FormatError):
        root_tag(place(tmp_path, original[1][:size]))


@pytest.mark.parametrize("extra", [b"\0", bytes(NODE), bytes(3 * NODE)])
def test_extended(original: tuple[bytes, bytes, bytes], tmp_path: Path, extra: bytes) -> None:
    _, raw, _ = original
    with pytest.raises(FormatError) as err:
        read_all(place(tmp_path, raw + extra))
    assert "extended" in str(err.value) or "multiple of 4096" in str(err.value)


def test_truncated_small_file_and_extended_small_file(tmp_path: Path) -> None:
    path = tmp_path / "small"
    with ProtectedFileWriter(path, KEY) as writer:
        writer.write(b"tiny")
    raw = path.read_bytes()
    path.write_bytes(raw + bytes(NODE))
    with pytest.raises(FormatError, match="extended"):
        read_all(path)


def node(raw: bytes, physical: int) -> bytes:
    return raw[physical * NODE : (physical + 1) * NODE]


def replace_node(raw: bytes, physical: int, content: bytes) -> bytearray:
    out = bytearray(raw)
    out[physical * NODE : (physical + 1) * NODE] = content
    return out


def test_swapped_data_nodes(original: tuple[bytes, bytes, bytes], tmp_path: Path) -> None:
    _, raw, _ = original
    a, b = data_node_physical(3), data_node_physical(4)
    swapped = replace_node(bytes(replace_node(raw, a, node(raw, b))), b, node(raw, a))
    with pytest.raises(IntegrityError, match="data node 3 \\(physical 5\\)"):
        read_all(place(tmp_path, swapped))
    # across MHT groups
    a, b = data_node_physical(0), data_node_physical(97)
    swapped = replace_node(bytes(replace_node(raw, a, node(raw, b))), b, node(raw, a))
    with pytest.raises(IntegrityError, match="data node 0 \\(physical 2\\)"):
        read_all(place(tmp_path, swapped))


def test_swapped_mht_nodes(original: tuple[bytes, bytes, bytes], tmp_path: Path) -> None:
    _, raw, _ = original
    a, b = mht_physical(0), mht_physical(1)
    swapped = replace_node(bytes(replace_node(raw, a, node(raw, b))), b, node(raw, a))
    with pytest.raises(IntegrityError, match="MHT node 0"):
        read_all(place(tmp_path, swapped))


def test_replayed_nodes_from_an_older_version(
    original: tuple[bytes, bytes, bytes], tmp_path: Path
) -> None:
    data, old, old_tag = original
    path = tmp_path / "victim.bin"
    with ProtectedFileWriter(path, KEY) as writer:  # version 2: same name, size and content
        writer.write(data)
    new, new_tag = path.read_bytes(), writer.tag
    assert new_tag is not None
    for physical, text in [
        (data_node_physical(10), "data node 10"),
        (data_node_physical(97), "data node 97"),
        (mht_physical(0), "MHT node 0"),
        (mht_physical(1), "MHT node 1"),
    ]:
        with pytest.raises(IntegrityError, match=text):
            read_all(place(tmp_path, replace_node(new, physical, node(old, physical))))
    # an old metadata node authenticates on its own, but not the new tree under it ...
    rolled_back = place(tmp_path, replace_node(new, 0, node(old, 0)))
    with pytest.raises(IntegrityError, match="MHT node 0"):
        read_all(rolled_back)
    # ... and a caller holding the current cmac rejects it up front.
    with pytest.raises(TagMismatch, match=new_tag.hex()):
        read_all(rolled_back, new_tag)
    assert old_tag != new_tag


def test_wrong_name_key_and_tag(original: tuple[bytes, bytes, bytes], tmp_path: Path) -> None:
    _data, raw, tag = original
    renamed = tmp_path / "other.bin"
    renamed.write_bytes(raw)
    with pytest.raises(NameMismatch, match=re.escape("victim.bin")):
        read_all(renamed)
    with pytest.raises(IntegrityError, match="wrong key or corrupted"):
        read_all(place(tmp_path, raw), key=bytes(16))
    wrong = bytes(16)
    with pytest.raises(TagMismatch) as err:
        read_all(place(tmp_path, raw), wrong)
    assert tag.hex() in str(err.value) and wrong.hex() in str(err.value)
    with pytest.raises(NameMismatch):
        protected_fs.decrypt_file(renamed, tmp_path / "out", KEY)
    assert not (tmp_path / "out").exists()


def test_random_access_only_needs_the_nodes_on_the_path(
    original: tuple[bytes, bytes, bytes], tmp_path: Path
) -> None:
    data, raw, _ = original
    damaged = bytearray(raw)
    damaged[data_node_physical(50) * NODE + 7] ^= 1
    path = place(tmp_path, damaged)
    with ProtectedFileReader(path, KEY) as reader:
        start = 3072 + 49 * NODE
        reader.seek(start)
        assert reader.read(NODE) == data[start : start + NODE]
        reader.seek(3072 + 51 * NODE + 5)
        assert reader.read(10) == data[3072 + 51 * NODE + 5 :][:10]
        reader.seek(start + NODE)
        with pytest.raises(IntegrityError, match="data node 50"):
            reader.read(1)
        buf = bytearray(10 * NODE)
        reader.seek(3072 + 45 * NODE)
        with pytest.raises(IntegrityError, match="data node 50"):
            reader.readinto(buf)
        assert buf == bytes(len(buf))  # no unauthenticated (or partial) plaintext left behind


def test_decrypt_file_leaves_no_output_on_failure(
    original: tuple[bytes, bytes, bytes], tmp_path: Path
) -> None:
    _, raw, _ = original
    damaged = bytearray(raw)
    damaged[-1] ^= 1
    src = place(tmp_path, damaged)
    out = tmp_path / "plain.txt"
    out.write_bytes(b"previous")
    with pytest.raises(IntegrityError):
        protected_fs.decrypt_file(src, out, KEY)
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.txt", "victim.bin"]
