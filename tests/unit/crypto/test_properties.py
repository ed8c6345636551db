"""Property tests (hypothesis) over sizes at every node boundary."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from crypto_helpers import parse, pseudo_random
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teaclave.crypto import ProtectedFileReader, ProtectedFileWriter, aes_gcm, root_tag

KEY = bytes(range(16))
NODE = 4096
HEAD = 3072
BOUNDARIES = sorted(
    {0, 1, HEAD - 1, HEAD, HEAD + 1}
    | {HEAD + NODE * k + delta for k in (1, 2, 5, 95, 96, 97, 98) for delta in (-1, 0, 1)}
)
MAX = HEAD + NODE * 100
sizes = st.one_of(st.sampled_from(BOUNDARIES), st.integers(0, MAX))
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def write_in_pieces(path: Path, data: bytes, cuts: list[int]) -> bytes:
    with ProtectedFileWriter(path, KEY) as writer:
        start = 0
        for cut in [*sorted(c % (len(data) + 1) for c in cuts), len(data)]:
            writer.write(data[start:cut] if cut >= start else b"")
            start = max(start, cut)
    assert writer.tag is not None
    return writer.tag


@SETTINGS
@given(size=sizes, seed=st.integers(0, 2**32), cuts=st.lists(st.integers(0, MAX), max_size=6))
def test_round_trip_and_tag_stability(size: int, seed: int, cuts: list[int]) -> None:
    data = pseudo_random(size, seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prop.bin"
        tag = write_in_pieces(path, data, cuts)
        raw = path.read_bytes()
        assert len(raw) % NODE == 0
        assert parse(raw, KEY).plaintext == data
        for _ in range(2):
            with ProtectedFileReader(path, KEY, expected_tag=tag) as reader:
                assert reader.tag == tag
                assert reader.read() == data
        assert root_tag(path) == tag
        assert path.read_bytes() == raw  # reading never changes the file


@SETTINGS
@given(
    size=sizes,
    seed=st.integers(0, 2**32),
    reads=st.lists(
        st.tuples(st.integers(0, MAX + 10), st.integers(0, 3 * NODE + 5)), min_size=1, max_size=12
    ),
)
def test_random_access_reads_equal_slices(
    size: int, seed: int, reads: list[tuple[int, int]]
) -> None:
    data = pseudo_random(size, seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prop.bin"
        with ProtectedFileWriter(path, KEY) as writer:
            writer.write(data)
        with ProtectedFileReader(path, KEY) as reader:
            for offset, length in reads:
                offset = offset % (size + 10)
                reader.seek(offset)
                assert reader.read(length) == data[offset : offset + length]
                assert reader.tell() == offset + len(data[offset : offset + length])


@SETTINGS
@given(
    size=st.integers(0, 70_000),
    chunk=st.integers(1, 20_000),
    key_size=st.sampled_from([16, 32]),
    seed=st.integers(0, 2**32),
)
def test_aes_gcm_round_trip(size: int, chunk: int, key_size: int, seed: int) -> None:
    data = pseudo_random(size, seed)
    key, iv = pseudo_random(key_size, seed + 1), pseudo_random(12, seed + 2)
    sealed = io.BytesIO()
    tag = aes_gcm.encrypt_stream(io.BytesIO(data), sealed, key, iv, chunk_size=chunk)
    assert len(sealed.getvalue()) == size + 16
    out = io.BytesIO()
    assert aes_gcm.decrypt_stream(io.BytesIO(sealed.getvalue()), out, key, iv, tag, chunk) == tag
    assert out.getvalue() == data
