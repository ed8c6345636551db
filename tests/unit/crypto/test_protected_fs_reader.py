"""ProtectedFileReader as a binary file object: read/readinto/readline/seek/iteration."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest

from teaclave.crypto import ProtectedFileReader, ProtectedFileWriter

KEY = bytes(range(16))


def make(path: Path, data: bytes) -> Path:
    with ProtectedFileWriter(path, KEY) as writer:
        writer.write(data)
    return path


@pytest.fixture(scope="module")
def text_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    rng = random.Random(5)
    lines = [
        (f"{i}," + "x" * rng.choice([0, 1, 50, 3000, 5000, 9000]) + "\n").encode()
        for i in range(200)
    ]
    data = b"".join(lines) + b"no newline at the end"
    return make(tmp_path_factory.mktemp("t") / "lines.txt", data), data


def test_readline_readlines_and_iteration(text_file: tuple[Path, bytes]) -> None:
    path, data = text_file
    expected = data.splitlines(keepends=True)
    with ProtectedFileReader(path, KEY) as reader:
        assert reader.readlines() == expected
    with ProtectedFileReader(path, KEY) as reader:
        assert list(reader) == expected
    with ProtectedFileReader(path, KEY) as reader:
        got = []
        while line := reader.readline():
            got.append(line)
        assert got == expected
        assert reader.readline() == b""


def test_readline_with_a_size_limit(text_file: tuple[Path, bytes]) -> None:
    path, data = text_file
    with ProtectedFileReader(path, KEY) as reader:
        pieces = []
        while piece := reader.readline(7):
            assert len(piece) <= 7
            pieces.append(piece)
        assert b"".join(pieces) == data
        reader.seek(0)
        assert reader.readline(0) == b""


def test_text_wrapper(text_file: tuple[Path, bytes]) -> None:
    path, data = text_file
    with ProtectedFileReader(path, KEY) as reader:
        text = io.TextIOWrapper(reader, encoding="ascii")
        assert text.read() == data.decode()
    with io.TextIOWrapper(ProtectedFileReader(path, KEY), encoding="ascii") as text:
        assert [line for line in text][:3] == data.decode().splitlines(keepends=True)[:3]


def test_read_sizes_and_positions(text_file: tuple[Path, bytes]) -> None:
    path, data = text_file
    rng = random.Random(9)
    with ProtectedFileReader(path, KEY) as reader:
        assert reader.size == len(data)
        assert reader.seekable() and reader.readable() and not reader.writable()
        pos = 0
        while pos < len(data):
            n = rng.choice([1, 7, 4095, 4096, 4097, 3072, 100_000])
            chunk = reader.read(n)
            assert chunk == data[pos : pos + n]
            pos += len(chunk)
            assert reader.tell() == pos
        assert reader.read() == b"" and reader.read(10) == b""
        assert reader.read1(5) == b""


def test_seek_whence_and_bounds(text_file: tuple[Path, bytes]) -> None:
    path, data = text_file
    with ProtectedFileReader(path, KEY) as reader:
        assert reader.seek(-10, io.SEEK_END) == len(data) - 10
        assert reader.read() == data[-10:]
        assert reader.seek(100) == 100
        assert reader.seek(50, io.SEEK_CUR) == 150
        assert reader.read(3) == data[150:153]
        assert reader.seek(len(data) + 100) == len(data) + 100
        assert reader.read(5) == b""
        buf = bytearray(5)
        assert reader.readinto(buf) == 0
        with pytest.raises(ValueError):
            reader.seek(-1)
        with pytest.raises(ValueError):
            reader.seek(0, 7)


def test_random_access(text_file: tuple[Path, bytes]) -> None:
    path, data = text_file
    rng = random.Random(3)
    with ProtectedFileReader(path, KEY) as reader:
        for _ in range(300):
            offset = rng.randrange(len(data) + 10)
            n = rng.choice([1, 10, 4096, 9000, 50_000])
            reader.seek(offset)
            assert reader.read(n) == data[offset : offset + n]


def test_readinto_variants(text_file: tuple[Path, bytes]) -> None:
    path, data = text_file
    with ProtectedFileReader(path, KEY) as reader:
        buf = bytearray(len(data) + 100)
        assert reader.readinto(buf) == len(data)
        assert bytes(buf[: len(data)]) == data
        reader.seek(3)
        view = memoryview(bytearray(8192))
        assert reader.readinto1(view) == 8192
        assert view.tobytes() == data[3 : 3 + 8192]


def test_closed_reader_refuses_io(text_file: tuple[Path, bytes]) -> None:
    path, _ = text_file
    reader = ProtectedFileReader(path, KEY)
    reader.close()
    reader.close()
    assert reader.closed
    for call in (reader.read, reader.tell, lambda: reader.seek(0), reader.readline):
        with pytest.raises(ValueError):
            call()


def test_empty_file(tmp_path: Path) -> None:
    path = make(tmp_path / "empty", b"")
    with ProtectedFileReader(path, KEY) as reader:
        assert reader.size == 0
        assert reader.read() == b""
        assert reader.readline() == b""
        assert list(reader) == []
