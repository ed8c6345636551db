"""Deterministic mini-fuzz of the parsers: mutated and random inputs raise only CryptoError.

It drives the same harness as ``fuzz/fuzz_protected_fs.py`` (the atheris target), so CI
exercises the target's modes and mutations without atheris.
"""

from __future__ import annotations

import importlib.util
import io
import random
import time
from pathlib import Path
from types import ModuleType

import pytest
from crypto_helpers import pseudo_random

from teaclave.crypto import CryptoError, ProtectedFileReader, ProtectedFileWriter, aes_gcm

TARGET = Path(__file__).resolve().parents[3] / "fuzz" / "fuzz_protected_fs.py"


@pytest.fixture(scope="module")
def target() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_protected_fs", TARGET)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def multi_node_seed(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A mode-0 seed with two MHT nodes, named as the harness expects."""
    path = tmp_path_factory.mktemp("seed") / "fuzz.enc"
    with ProtectedFileWriter(path, bytes(16)) as writer:
        writer.write(pseudo_random(3072 + 4096 * 98 + 5))
    return b"\x00" + path.read_bytes()


def test_seeds_are_accepted(target: ModuleType, tmp_path: Path, multi_node_seed: bytes) -> None:
    """The unmutated seeds must parse (so the mutations start from valid files)."""
    path = tmp_path / "fuzz.enc"
    path.write_bytes(multi_node_seed[1:])
    with ProtectedFileReader(path, bytes(16)) as reader:
        assert reader.size == 3072 + 4096 * 98 + 5
    for seed in target.seeds():
        target.check_one(seed, tmp_path)


def test_mutated_inputs_raise_only_crypto_errors(
    target: ModuleType, tmp_path: Path, multi_node_seed: bytes
) -> None:
    rng = random.Random(20260127)
    corpus = [*target.seeds(), multi_node_seed]
    started = time.monotonic()
    for _ in range(3000):
        data = rng.choice(corpus)
        for _ in range(rng.randint(1, 3)):
            data = target.mutate(data, rng)
        one = time.monotonic()
        target.check_one(data, tmp_path)  # anything but CryptoError propagates and fails
        assert time.monotonic() - one < 5, "one input took too long (hang?)"
    assert time.monotonic() - started < 60


def test_random_bytes_in_every_mode(target: ModuleType, tmp_path: Path) -> None:
    rng = random.Random(7)
    for i in range(400):
        size = rng.choice([0, 1, 2, 17, 100, 3373, 4097, 8193, 20_000])
        target.check_one(bytes([i % 4]) + rng.randbytes(size), tmp_path)


def test_hostile_metadata_values(target: ModuleType, tmp_path: Path) -> None:
    """Authentic metadata with absurd sizes or names is a FormatError/NameMismatch, not a crash."""
    path = tmp_path / "fuzz.enc"
    for size in [0, 3073, 2**63, 2**64 - 1]:
        for name in [b"fuzz.enc", b"other", b"x" * 260]:
            meta = target.pack_metadata(name[:260], size, bytes(16), bytes(16), b"")
            path.write_bytes(target.build_input(2, meta))
            if name == b"fuzz.enc" and size == 0:
                with ProtectedFileReader(path, bytes(16)) as reader:
                    assert reader.read() == b""
                continue
            with pytest.raises(CryptoError):
                ProtectedFileReader(path, bytes(16))


def test_aes_gcm_random_inputs() -> None:
    rng = random.Random(3)
    for _ in range(300):
        data = rng.randbytes(rng.choice([0, 1, 15, 16, 17, 64, 1000]))
        with pytest.raises(CryptoError):
            aes_gcm.decrypt_stream(io.BytesIO(data), io.BytesIO(), bytes(16), bytes(12))
