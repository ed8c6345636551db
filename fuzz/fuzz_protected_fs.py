"""Fuzz target for the ``teaclave.crypto`` parsers.

Any input must end in success or a :class:`~teaclave.crypto.errors.CryptoError` subclass:
never another exception, a hang or unbounded memory. The first input byte picks a mode:

0. the bytes are a ``teaclave-file-128`` file (opened with the all-zero key, then read
   sequentially and at a few random offsets);
1. the bytes are an ``aes-gcm-128`` file (``ciphertext ‖ tag``);
2. structure-aware: the bytes are the *decrypted metadata* of a protected file, sealed with the
   right key, followed by arbitrary nodes, so the post-authentication parsing (name, size field,
   root key/tag) sees hostile values;
3. structure-aware: the bytes are the plaintext of the root MHT node, sealed and referenced from
   an authentic metadata node, so data-node lookups use hostile keys and tags.

Run with atheris (``pip install atheris``)::

    python fuzz/fuzz_protected_fs.py [corpus_dir] -atheris_runs=100000

Seed corpus: the Teaclave fixtures (``../shared/fixtures/teaclave``) prefixed with a mode byte.
Without atheris, ``python fuzz/fuzz_protected_fs.py --plain N`` runs N random mutations of the
seeds. ``tests/unit/crypto/test_fuzz_parsers.py`` runs a small deterministic share in CI.
"""

from __future__ import annotations

import atexit
import importlib
import io
import os
import random
import shutil
import struct
import sys
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from teaclave.crypto import CryptoError, ProtectedFileReader, aes_gcm
from teaclave.crypto.kdf import METADATA_KEY_LABEL, derive_key
from teaclave.crypto.protected_fs_layout import (
    ENCRYPTED_META_SIZE,
    NODE_SIZE,
    build_header,
    node_count,
    pack_metadata,
)

KEY = bytes(16)
NAME = "fuzz.enc"
MAX_INPUT = 1 << 20
ROOT = Path(__file__).resolve().parents[1]
FIXTURES = (ROOT / "../shared/fixtures/teaclave").resolve()


def seal_metadata(plain: bytes) -> bytes:
    """A metadata node (4096 bytes) whose encrypted part authenticates to ``plain``."""
    key_id = bytes(range(32))
    sealed = AESGCM(derive_key(KEY, METADATA_KEY_LABEL, 0, key_id)).encrypt(bytes(12), plain, None)
    node = build_header(key_id, sealed[ENCRYPTED_META_SIZE:]) + sealed[:ENCRYPTED_META_SIZE]
    return node + bytes(NODE_SIZE - len(node))


def _pad_nodes(data: bytes) -> bytes:
    return data + bytes(-len(data) % NODE_SIZE)


def build_input(mode: int, body: bytes) -> bytes:
    """The file bytes that mode ``mode`` makes of ``body``."""
    if mode == 2:
        plain = (body[:ENCRYPTED_META_SIZE]).ljust(ENCRYPTED_META_SIZE, b"\0")
        return seal_metadata(plain) + _pad_nodes(body[ENCRYPTED_META_SIZE:])
    if mode == 3:
        size = 3073 + (int.from_bytes(body[:4].ljust(4, b"\0"), "little") % (NODE_SIZE * 200))
        mht_plain = body[4 : 4 + NODE_SIZE].ljust(NODE_SIZE, b"\0")
        root_key = bytes(range(16, 32))
        sealed_mht = AESGCM(root_key).encrypt(bytes(12), mht_plain, None)
        meta = pack_metadata(NAME.encode(), size, root_key, sealed_mht[NODE_SIZE:], bytes(3072))
        nodes = node_count(size)
        tail = _pad_nodes(body[4 + NODE_SIZE :])[: (nodes - 2) * NODE_SIZE]
        tail += bytes((nodes - 2) * NODE_SIZE - len(tail))
        return seal_metadata(meta) + sealed_mht[:NODE_SIZE] + tail
    return body


def check_one(data: bytes, workdir: Path) -> None:
    """Run one input; raise only for a non-CryptoError failure (the bug the fuzzer hunts)."""
    data = data[:MAX_INPUT]
    mode = data[0] % 4 if data else 0
    body = data[1:]
    rng = random.Random(len(data))
    try:
        if mode == 1:
            out = io.BytesIO()
            aes_gcm.decrypt_stream(io.BytesIO(body), out, KEY, b"\x01" * 12, chunk_size=4096)
            return
        path = workdir / NAME
        path.write_bytes(build_input(mode, body))
        with ProtectedFileReader(path, KEY) as reader:
            size = reader.size
            for _ in range(3):
                reader.seek(rng.randrange(size + 1))
                reader.read(rng.choice([1, 100, NODE_SIZE + 7]))
            reader.seek(0)
            while reader.read(1 << 16):
                pass
    except CryptoError:
        return


def seeds() -> list[bytes]:
    """Seed inputs: every fixture .enc (mode 0), the AES-GCM fixture (mode 1), small structures."""
    found: list[bytes] = []
    if FIXTURES.is_dir():
        for enc in sorted(FIXTURES.rglob("*.enc")):
            found.append(b"\x00" + enc.read_bytes())
        for enc in sorted(FIXTURES.rglob("*.aes_gcm_128")):
            found.append(b"\x01" + enc.read_bytes())
    meta = pack_metadata(NAME.encode(), 5, bytes(16), bytes(16), b"hello")
    found.append(b"\x02" + meta)
    found.append(b"\x03" + struct.pack("<I", 5000) + bytes(NODE_SIZE))
    return found


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random structural or bit-level mutation of ``data``."""
    buf = bytearray(data)
    choice = rng.randrange(7)
    if choice == 0 and buf:
        for _ in range(rng.randint(1, 4)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif choice == 1 and buf:
        buf[rng.randrange(len(buf))] = rng.choice([0, 0xFF, rng.randrange(256)])
    elif choice == 2:
        del buf[rng.randrange(len(buf) + 1) :]
    elif choice == 3:
        buf += rng.randbytes(rng.choice([1, 16, NODE_SIZE]))
    elif choice == 4 and len(buf) > 2 * NODE_SIZE:
        a = rng.randrange(len(buf) // NODE_SIZE) * NODE_SIZE + 1
        b = rng.randrange(len(buf) // NODE_SIZE) * NODE_SIZE + 1
        chunk_a, chunk_b = bytes(buf[a : a + NODE_SIZE]), bytes(buf[b : b + NODE_SIZE])
        buf[a : a + len(chunk_a)], buf[b : b + len(chunk_b)] = chunk_b, chunk_a
    elif choice == 5:
        buf = bytearray(buf[:1]) + rng.randbytes(rng.randrange(3 * NODE_SIZE))
    elif buf:
        at = rng.randrange(len(buf))
        buf[at : at + 8] = struct.pack(
            "<Q", rng.choice([0, 2**63, 2**64 - 1, rng.randrange(2**40)])
        )
    return bytes(buf)


def run_plain(iterations: int, seed: int = 0) -> int:
    """Run ``iterations`` random mutations of the seeds without atheris; return the count."""
    rng = random.Random(seed)
    corpus = seeds()
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(iterations):
            data = rng.choice(corpus)
            for _ in range(rng.randint(1, 3)):
                data = mutate(data, rng)
            check_one(data, Path(tmp))
    return iterations


def main(argv: list[str]) -> int:
    """Entry point: atheris when installed (or ``--plain N`` without it)."""
    if len(argv) >= 3 and argv[1] == "--plain":
        print(f"ran {run_plain(int(argv[2]))} mutated inputs: only CryptoError raised")
        return 0
    atheris = importlib.import_module("atheris")  # raises ImportError when not installed
    workdir = Path(tempfile.mkdtemp(prefix="fuzz-pfs-"))
    atexit.register(shutil.rmtree, workdir, True)
    seed_dir = workdir / "seeds"
    seed_dir.mkdir()
    for i, data in enumerate(seeds()):
        (seed_dir / f"seed-{i}").write_bytes(data)

    def test_one_input(data: bytes) -> None:
        check_one(data, workdir)

    args = [*argv, str(seed_dir)] if not any(os.path.isdir(a) for a in argv[1:]) else argv
    atheris.instrument_all()
    atheris.Setup(args, test_one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
