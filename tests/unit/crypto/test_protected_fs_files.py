"""teaclave-file-128 file to file: whole MHT groups read, sealed and written by parallel threads.

``protected_fs.encrypt_file`` / ``decrypt_file`` hand whole groups of a regular file to the
thread pool (each job reads and writes its own offsets) and the rest to the stream path. These
tests check the seams: sizes around group and batch boundaries, thread counts, progress, a
non-regular source, and that a failure leaves nothing behind.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from crypto_helpers import parse, pseudo_random

from teaclave.crypto import IntegrityError, ProtectedFileReader, protected_fs, protected_fs_nodes
from teaclave.crypto.protected_fs_layout import data_node_physical

KEY = bytes(range(16))
GROUP = 96 * 4096
BATCH = 16 * GROUP  # groups per parallel batch in protected_fs


@pytest.fixture(params=[1, 3], ids=["1-thread", "3-threads"])
def threads(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = protected_fs_nodes.thread_count()
    protected_fs_nodes.set_thread_count(request.param)
    yield request.param
    protected_fs_nodes.set_thread_count(previous)


SIZES = [
    0,
    100,
    3072,
    3073,
    3072 + GROUP,  # exactly one whole group
    3072 + GROUP + 1,
    3072 + 2 * GROUP - 1,
    3072 + BATCH + 5 * 4096 + 7,  # one full batch, then a few nodes
    3072 + BATCH + GROUP + 9,  # a second batch of one group, then a partial node
]


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_at_group_and_batch_boundaries(tmp_path: Path, threads: int, size: int) -> None:
    data = pseudo_random(size, size)
    plain = tmp_path / "plain.bin"
    plain.write_bytes(data)
    sealed = tmp_path / "sealed.bin"
    tag = protected_fs.encrypt_file(plain, sealed, KEY)
    assert parse(sealed.read_bytes(), KEY).plaintext == data  # the independent reader
    out = tmp_path / "out.bin"
    assert protected_fs.decrypt_file(sealed, out, KEY, expected_tag=tag) == tag
    assert out.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin", "plain.bin", "sealed.bin"]


def test_progress_reports_growing_counts_up_to_the_size(tmp_path: Path, threads: int) -> None:
    size = 3072 + 2 * BATCH + 3 * GROUP + 11
    plain = tmp_path / "plain.bin"
    plain.write_bytes(pseudo_random(size, 1))
    seen: list[int] = []
    tag = protected_fs.encrypt_file(plain, tmp_path / "sealed.bin", KEY, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == size and len(seen) >= 3
    back: list[int] = []
    protected_fs.decrypt_file(
        tmp_path / "sealed.bin", tmp_path / "out.bin", KEY, tag, progress=back.append
    )
    assert back == sorted(back) and back[-1] == size and len(back) >= 3


def test_a_pipe_source_takes_the_stream_path(tmp_path: Path, threads: int) -> None:
    data = pseudo_random(3072 + 3 * GROUP + 5, 2)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def feed() -> None:
        with fifo.open("wb") as pipe:
            for start in range(0, len(data), 100_000):
                pipe.write(data[start : start + 100_000])

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        tag = protected_fs.encrypt_file(fifo, tmp_path / "sealed.bin", KEY)
    finally:
        feeder.join(timeout=30)
    with ProtectedFileReader(tmp_path / "sealed.bin", KEY, expected_tag=tag) as reader:
        assert reader.read() == data


@pytest.mark.parametrize("group", [0, 5, 17])
def test_a_tampered_group_fails_and_leaves_nothing(tmp_path: Path, threads: int, group: int):
    size = 3072 + BATCH + 4 * GROUP
    plain = tmp_path / "plain.bin"
    plain.write_bytes(pseudo_random(size, 3))
    sealed = tmp_path / "sealed.bin"
    tag = protected_fs.encrypt_file(plain, sealed, KEY)
    raw = bytearray(sealed.read_bytes())
    node = group * 96 + 7
    raw[data_node_physical(node) * 4096 + 100] ^= 1
    sealed.write_bytes(raw)
    out = tmp_path / "out.bin"
    with pytest.raises(IntegrityError, match=f"data node {node} "):
        protected_fs.decrypt_file(sealed, out, KEY, expected_tag=tag)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.bin", "sealed.bin"]


def test_a_source_shorter_than_its_groups_is_refused(tmp_path: Path, threads: int) -> None:
    """A file truncated after its size was read: the group reads come up short."""
    plain = tmp_path / "plain.bin"
    plain.write_bytes(pseudo_random(3072 + 2 * GROUP, 4))
    sealed = tmp_path / "sealed.bin"
    writer = protected_fs.ProtectedFileWriter(sealed, KEY)
    with plain.open("rb", buffering=0) as src:
        writer.write(src.read(3072))
        with pytest.raises(ValueError, match="src: the file ended early"):
            writer._write_groups_from(src.fileno(), range(0, 4))
    assert writer.closed and writer.tag is None  # aborted: the file is never valid
    with pytest.raises(ValueError, match="aborted"):
        writer.close()


def test_a_file_whose_size_says_zero_is_still_read_to_its_end(tmp_path: Path) -> None:
    """procfs files report st_size 0 but have content; all of it is encrypted."""
    source = Path("/proc/self/smaps")
    if not source.exists():
        pytest.skip("no /proc/self/smaps on this system")
    sealed = tmp_path / "smaps.bin"
    tag = protected_fs.encrypt_file(source, sealed, KEY)
    with ProtectedFileReader(sealed, KEY, expected_tag=tag) as reader:
        text = reader.read()
    assert len(text) > 3072 and b"Rss:" in text  # more than the head, and really smaps
