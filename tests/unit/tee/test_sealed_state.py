"""Sealed state: the storage data key and values, and the JWT secret (issue #5 point 6).

The services run for real (TeeBinder, in-process, loopback TLS, SQLite in tmp_path). A changed
MRENCLAVE is simulated with ``SimPlatform(state_dir, package_root=<modified copy>)``: the same
state directory (same root secret) measured over different code.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest
from service_runner import RunningService as Running

from teaclave.config.build import AUTHENTICATION, FRONTEND, MANAGEMENT, STORAGE
from teaclave.config.runtime import RuntimeConfig, default_dict
from teaclave.proto import teaclave_authentication_service_pb2 as auth_pb
from teaclave.rpc.apis import TeaclaveAuthenticationApi
from teaclave.rpc.channel import ServiceClient, connect
from teaclave.rpc.clients.storage import StorageClient
from teaclave.rpc.errors import RemoteError
from teaclave.services.authentication.tokens import (
    SECRET_AAD,
    SECRET_FILE,
    SECRET_LABEL,
    TokenSigner,
    load_or_create_secret,
    secret_sealer,
)
from teaclave.services.embedded import free_port
from teaclave.services.launcher import service_identity
from teaclave.storage import MemoryStore, SqliteStore
from teaclave.storage.sealed import (
    DATA_KEY_LABEL,
    KEY_FILE,
    VALUE_MAGIC,
    SealedStore,
    UnsealedStateError,
)
from teaclave.tee import Sealer, SimPlatform
from teaclave.tee.errors import SealedByDifferentCode, SealedDataCorrupted
from teaclave.tee.sealing import SEAL_MAGIC
from teaclave.types.errors import StatusCode

CHEAP_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1}
MARKER = b"PLAINTEXT-MARKER-7f3a9c"
CODE_CHANGED = "the code changed, and changed code cannot open the old sealed state"


# ---------------------------------------------------------------------------- helpers
def storage_config(state_dir: Path) -> RuntimeConfig:
    raw = default_dict(
        host="127.0.0.1", state_dir=str(state_dir), internal_ports={"storage": free_port()}
    )
    return RuntimeConfig.from_dict(raw)


def auth_config(state_dir: Path) -> RuntimeConfig:
    raw = default_dict(
        host="127.0.0.1",
        state_dir=str(state_dir),
        api_ports={"authentication": free_port(), "frontend": free_port()},
        internal_ports={"authentication": free_port()},
    )
    raw["authentication"] = {**CHEAP_ARGON2, "admin_password": "pw"}
    return RuntimeConfig.from_dict(raw)


def storage_client(config: RuntimeConfig) -> StorageClient:
    identity, verifier = service_identity(config, MANAGEMENT)
    return StorageClient.connect(config, identity, verifier)


def db_bytes(state_dir: Path) -> bytes:
    """Every byte SQLite wrote for the storage database (main file, WAL, shm)."""
    return b"".join(p.read_bytes() for p in sorted(state_dir.glob("storage.sqlite*")))


def changed_code(package_copy: Path, tmp_path: Path) -> Path:
    """A copy of the package with one module modified (so every MRENCLAVE changes)."""
    modified = tmp_path / "modified" / "teaclave"
    shutil.copytree(package_copy, modified)
    with (modified / "storage" / "sealed.py").open("a") as fh:
        fh.write("\n# an upgrade\n")
    return modified


def sealer_for(state_dir: Path, root: Path, service: str, label: str) -> Sealer:
    return Sealer(SimPlatform(state_dir, package_root=root).sealing_key(service, label))


# ---------------------------------------------------------------------------- storage
def test_values_are_sealed_through_the_real_storage_service(tmp_path):
    config = storage_config(tmp_path)
    service = Running(STORAGE, config)
    try:
        client = storage_client(config)
        client.put(b"function-a", MARKER + b"-a")
        client.put(b"function-b", MARKER + b"-b")
        client.put(b"empty", b"")
        client.enqueue(b"queue-x", MARKER + b"-queued")
        assert client.get(b"function-a") == MARKER + b"-a"
        assert client.get(b"empty") == b""
        assert client.keys_by_prefix("function") == [b"function-a", b"function-b"]
        client.close()
    finally:
        service.stop()

    on_disk = db_bytes(tmp_path)
    assert MARKER not in on_disk  # no value (nor queue value) in clear
    assert b"function-a" in on_disk  # key names are not secret (prefix scans)
    key_file = tmp_path / KEY_FILE
    assert key_file.read_bytes().startswith(SEAL_MAGIC)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    raw = SqliteStore(tmp_path / "storage.sqlite")
    try:
        stored = raw.get(b"function-a")
        assert stored is not None and stored.startswith(VALUE_MAGIC)
    finally:
        raw.close()

    again = Running(STORAGE, config)  # same code, same state: everything readable
    try:
        client = storage_client(config)
        assert client.get(b"function-b") == MARKER + b"-b"
        assert client.dequeue(b"queue-x") == MARKER + b"-queued"
        client.close()
    finally:
        again.stop()


def test_tampered_value_is_refused_with_a_clear_error(tmp_path, caplog):
    config = storage_config(tmp_path)
    service = Running(STORAGE, config)
    try:
        client = storage_client(config)
        client.put(b"task-1", MARKER)
        client.close()
    finally:
        service.stop()
    db = sqlite3.connect(tmp_path / "storage.sqlite")
    (blob,) = db.execute("SELECT value FROM kv WHERE key = ?", (b"task-1",)).fetchone()
    flipped = bytes(blob[:-1]) + bytes([blob[-1] ^ 1])
    db.execute("UPDATE kv SET value = ? WHERE key = ?", (flipped, b"task-1"))
    db.commit()
    db.close()

    service = Running(STORAGE, config)
    try:
        client = storage_client(config)
        with caplog.at_level(logging.ERROR), pytest.raises(RemoteError) as exc:
            client.get(b"task-1")
        assert exc.value.code is StatusCode.INTERNAL
        assert "key 'task-1': sealed value failed authentication" in caplog.text
        client.close()
    finally:
        service.stop()


def test_values_cannot_be_swapped_between_keys_or_queues(tmp_path, package_copy):
    inner = MemoryStore()
    store = SealedStore(
        inner, sealer_for(tmp_path, package_copy, STORAGE, DATA_KEY_LABEL), tmp_path / KEY_FILE
    )
    store.put(b"user-alice", b"alice's record")
    store.put(b"user-mallory", b"mallory's record")
    a, m = inner.get(b"user-alice"), inner.get(b"user-mallory")
    assert a is not None and m is not None and a != m
    inner.put(b"user-alice", m)
    with pytest.raises(SealedDataCorrupted, match="moved from another key"):
        store.get(b"user-alice")
    inner.enqueue(b"user-alice", a)  # a kv value injected into a queue of the same name
    with pytest.raises(SealedDataCorrupted, match="queue 'user-alice'"):
        store.dequeue(b"user-alice")
    store.put(b"k", b"same")
    first = inner.get(b"k")
    store.put(b"k", b"same")
    assert inner.get(b"k") != first  # a fresh nonce per value


def test_changed_code_cannot_open_the_store(tmp_path, package_copy):
    old = sealer_for(tmp_path, package_copy, STORAGE, DATA_KEY_LABEL)
    store = SealedStore(SqliteStore(tmp_path / "db.sqlite"), old, tmp_path / KEY_FILE)
    store.put(b"function-1", b"secret")
    store.close()

    new = sealer_for(tmp_path, changed_code(package_copy, tmp_path), STORAGE, DATA_KEY_LABEL)
    assert new.mr_enclave != old.mr_enclave
    inner = SqliteStore(tmp_path / "db.sqlite")
    with pytest.raises(SealedByDifferentCode) as exc:
        SealedStore(inner, new, tmp_path / KEY_FILE)
    inner.close()
    message = str(exc.value)
    assert CODE_CHANGED in message
    assert old.mr_enclave.hex() in message and new.mr_enclave.hex() in message
    assert "docs/attestation.md#migrating-sealed-state" in message


def test_storage_service_refuses_state_sealed_by_other_code(tmp_path, package_copy, caplog):
    other = sealer_for(tmp_path, changed_code(package_copy, tmp_path), STORAGE, DATA_KEY_LABEL)
    SealedStore(SqliteStore(tmp_path / "storage.sqlite"), other, tmp_path / KEY_FILE).close()
    with caplog.at_level(logging.ERROR), pytest.raises(RuntimeError, match="did not start") as exc:
        Running(STORAGE, storage_config(tmp_path))
    assert CODE_CHANGED in str(exc.value) + caplog.text


def test_pre_sealing_storage_state_is_refused(tmp_path, package_copy):
    legacy = SqliteStore(tmp_path / "storage.sqlite")
    legacy.put(b"function-1", b"plaintext from before sealing")
    legacy.close()
    sealer = sealer_for(tmp_path, package_copy, STORAGE, DATA_KEY_LABEL)
    inner = SqliteStore(tmp_path / "storage.sqlite")
    with pytest.raises(UnsealedStateError, match="written before storage sealing existed"):
        SealedStore(inner, sealer, tmp_path / KEY_FILE)
    assert not (tmp_path / KEY_FILE).exists()
    # a plaintext value slipped in next to sealed ones is refused too, not returned
    store = SealedStore(MemoryStore(), sealer, tmp_path / "other.key")
    store.inner.put(b"function-2", b"plaintext")
    with pytest.raises(UnsealedStateError, match="'function-2' is not a sealed value"):
        store.get(b"function-2")
    inner.close()


# ---------------------------------------------------------------------------- JWT secret
def api_login(config: RuntimeConfig, user: str, password: str) -> str:
    _, verifier = service_identity(config, FRONTEND)  # an attesting verifier (identity unused)
    target = config.api_endpoints["authentication"].target
    channel = connect(target, AUTHENTICATION, verifier, None, timeout=10)
    client = ServiceClient(channel, TeaclaveAuthenticationApi)
    try:
        response = client.call(
            "UserLogin",
            auth_pb.UserLoginRequest(id=user, password=password),
            auth_pb.UserLoginResponse,
            timeout=10,
        )
        return str(response.token)
    finally:
        client.close()


def api_authenticate(config: RuntimeConfig, user: str, token: str) -> None:
    """A user-facing call that needs a valid token (ListUsers checks it first)."""
    _, verifier = service_identity(config, FRONTEND)  # an attesting verifier (identity unused)
    target = config.api_endpoints["authentication"].target
    channel = connect(target, AUTHENTICATION, verifier, None, timeout=10)
    client = ServiceClient(channel, TeaclaveAuthenticationApi)
    try:
        client.call(
            "ListUsers",
            auth_pb.ListUsersRequest(id=user),
            auth_pb.ListUsersResponse,
            metadata={"id": user, "token": token},
            timeout=10,
        )
    finally:
        client.close()


def test_jwt_secret_is_sealed_and_tokens_survive_restart(tmp_path):
    config = auth_config(tmp_path)
    first = Running(AUTHENTICATION, config)
    try:
        token = api_login(config, "admin", "pw")
        api_authenticate(config, "admin", token)
    finally:
        first.stop()
    sealed = (tmp_path / SECRET_FILE).read_bytes()
    assert sealed.startswith(SEAL_MAGIC) and len(sealed) > 64
    assert stat.S_IMODE((tmp_path / SECRET_FILE).stat().st_mode) == 0o600
    secret = load_or_create_secret(tmp_path, secret_sealer("sim", tmp_path))
    assert secret not in sealed

    restarted = auth_config(tmp_path)
    second = Running(AUTHENTICATION, restarted)
    try:
        api_authenticate(restarted, "admin", token)  # issued before the restart: still valid
        with pytest.raises(RemoteError) as exc:
            api_authenticate(
                restarted, "admin", token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
            )
        assert exc.value.code is StatusCode.UNAUTHENTICATED
    finally:
        second.stop()
    assert (tmp_path / SECRET_FILE).read_bytes() == sealed  # reopened, not re-created


def test_changed_code_cannot_open_the_jwt_secret(tmp_path, package_copy):
    old = sealer_for(tmp_path, package_copy, AUTHENTICATION, SECRET_LABEL)
    secret = load_or_create_secret(tmp_path, old)
    assert load_or_create_secret(tmp_path, old) == secret
    new = sealer_for(tmp_path, changed_code(package_copy, tmp_path), AUTHENTICATION, SECRET_LABEL)
    with pytest.raises(SealedByDifferentCode, match=CODE_CHANGED):
        load_or_create_secret(tmp_path, new)
    # another purpose label under the same code is not the JWT key either
    other_label = sealer_for(tmp_path, package_copy, AUTHENTICATION, "something-else")
    with pytest.raises(SealedDataCorrupted):
        other_label.unseal((tmp_path / SECRET_FILE).read_bytes(), SECRET_AAD)


def test_plaintext_jwt_secret_is_sealed_on_first_start(tmp_path, package_copy, caplog):
    legacy = os.urandom(64)
    (tmp_path / SECRET_FILE).write_bytes(legacy)
    os.chmod(tmp_path / SECRET_FILE, 0o600)
    old_token = TokenSigner(legacy, 3600).issue("admin", "PlatformAdmin")
    sealer = sealer_for(tmp_path, package_copy, AUTHENTICATION, SECRET_LABEL)
    with caplog.at_level(logging.WARNING):
        assert load_or_create_secret(tmp_path, sealer) == legacy
    assert "held the JWT secret in clear" in caplog.text
    on_disk = (tmp_path / SECRET_FILE).read_bytes()
    assert on_disk.startswith(SEAL_MAGIC) and legacy not in on_disk
    assert stat.S_IMODE((tmp_path / SECRET_FILE).stat().st_mode) == 0o600
    assert load_or_create_secret(tmp_path, sealer) == legacy  # and opens sealed next time
    assert TokenSigner(legacy, 3600).validate(old_token, "admin").sub == "admin"
    assert [p.name for p in tmp_path.iterdir() if p.name != "tee"] == [SECRET_FILE]
