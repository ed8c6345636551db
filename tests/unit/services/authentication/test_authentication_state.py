"""Persistent state: hashed passwords, the JWT secret, restarts, rehashing and bootstrap."""

from __future__ import annotations

import logging
import os
import stat
import threading

import pytest

from teaclave.rpc.errors import RemoteError
from teaclave.services.authentication.tokens import (
    SECRET_FILE,
    load_or_create_secret,
    secret_sealer,
)
from teaclave.services.authentication.user_db import UserDb
from teaclave.storage import SqliteStore
from teaclave.types.errors import StatusCode

PASSWORD = "test_password"


def stored_user(state_dir, user_id):
    db = UserDb(SqliteStore(state_dir / "authentication.sqlite"))
    try:
        return db.get(user_id)
    finally:
        db.close()


def login_fails(platform, user_id, password):
    with pytest.raises(RemoteError) as exc:
        platform.api.login(user_id, password)
    assert exc.value.code is StatusCode.UNAUTHENTICATED
    assert exc.value.message == "authentication failed"


def test_password_is_stored_as_argon2id_hash(start_auth, tmp_path):
    platform = start_auth(admin_password="bootstrap-secret-1")
    secret_password = "plaintext-canary-3141592653"
    platform.api.register(platform.admin(), "hashed_user", "DataOwner", "x", secret_password)
    platform.api.login("hashed_user", secret_password)
    user = stored_user(tmp_path, "hashed_user")
    assert user.password_hash.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    platform.close()
    # No plaintext anywhere in the database files (main file and WAL).
    files = [p for p in tmp_path.iterdir() if p.name.startswith("authentication.sqlite")]
    assert files
    for path in files:
        data = path.read_bytes()
        assert secret_password.encode() not in data
        assert b"bootstrap-secret-1" not in data
    assert any(b"hashed_user" in p.read_bytes() for p in files)


def test_token_survives_restart(start_auth, tmp_path):
    first = start_auth(admin_password="pw")
    cred = first.new_user("DataOwner", "org")
    secret = (tmp_path / SECRET_FILE).read_bytes()
    assert len(load_or_create_secret(tmp_path, secret_sealer("sim", tmp_path))) == 64
    assert stat.S_IMODE(os.stat(tmp_path / SECRET_FILE).st_mode) == 0o600
    first.close()

    second = start_auth(tmp_path, admin_password="pw")
    assert (tmp_path / SECRET_FILE).read_bytes() == secret
    claims = second.internal.authenticate(cred["id"], cred["token"])
    assert (claims.sub, claims.role) == (cred["id"], "DataOwner-org")
    assert cred["id"] in second.api.list_users(second.admin(), "x")


def test_new_state_dir_gets_a_new_secret(start_auth, tmp_path):
    first = start_auth(tmp_path / "a", admin_password="pw")
    token = first.api.login("admin", "pw")
    other = start_auth(tmp_path / "b", admin_password="pw")
    assert (tmp_path / "a" / SECRET_FILE).read_bytes() != (
        tmp_path / "b" / SECRET_FILE
    ).read_bytes()
    with pytest.raises(RemoteError) as exc:
        other.internal.authenticate("admin", token)
    assert exc.value.code is StatusCode.UNAUTHENTICATED


def test_login_rehashes_when_parameters_change(start_auth, tmp_path):
    first = start_auth(admin_password="pw")
    first.api.register(first.admin(), "rehash_user", "FunctionOwner", "", PASSWORD)
    first.close()
    assert "m=8,t=1,p=1" in stored_user(tmp_path, "rehash_user").password_hash

    second = start_auth(tmp_path, admin_password="pw", argon2_memory_kib=16, argon2_time_cost=2)
    # Not rehashed until the user logs in (only then is the password known).
    assert "m=8,t=1,p=1" in stored_user(tmp_path, "rehash_user").password_hash
    second.api.login("rehash_user", PASSWORD)
    new_hash = stored_user(tmp_path, "rehash_user").password_hash
    assert new_hash.startswith("$argon2id$v=19$m=16,t=2,p=1$")
    second.api.login("rehash_user", PASSWORD)
    assert stored_user(tmp_path, "rehash_user").password_hash == new_hash
    login_fails(second, "rehash_user", "wrong")


def test_corrupt_secret_refuses_to_start(start_auth, tmp_path):
    (tmp_path / SECRET_FILE).write_bytes(b"short")
    with pytest.raises(RuntimeError, match="did not start"):
        start_auth(admin_password="pw")


# ---------------------------------------------------------------------------- bootstrap
def test_bootstrap_with_admin_password(start_auth, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    platform = start_auth(admin_password="first-admin-pw")
    token = platform.api.login("admin", "first-admin-pw")
    assert platform.internal.authenticate("admin", token).role == "PlatformAdmin"
    login_fails(platform, "admin", "teaclave")
    assert "no PlatformAdmin" not in caplog.text
    platform.close()

    # Another admin_password later does not touch the existing admin.
    again = start_auth(tmp_path, admin_password="second-admin-pw")
    again.api.login("admin", "first-admin-pw")
    login_fails(again, "admin", "second-admin-pw")


def test_bootstrap_with_dev(start_auth, caplog):
    caplog.set_level(logging.INFO)
    platform = start_auth(dev=True)
    token = platform.api.login("admin", "teaclave")
    assert platform.internal.authenticate("admin", token).role == "PlatformAdmin"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    dev = [r.getMessage() for r in warnings if "teaclave" in r.getMessage()]
    assert dev, caplog.text
    assert "Teaclave's examples" in dev[0]
    assert dev[0].count("\n") >= 3


def test_dev_does_not_override_existing_admin(start_auth, tmp_path, caplog):
    start_auth(admin_password="real-admin-pw").close()
    caplog.set_level(logging.INFO)
    platform = start_auth(tmp_path, dev=True)
    platform.api.login("admin", "real-admin-pw")
    login_fails(platform, "admin", "teaclave")
    assert "DEVELOPMENT MODE" not in caplog.text


def test_no_bootstrap_otherwise(start_auth, caplog):
    caplog.set_level(logging.INFO)
    platform = start_auth()
    login_fails(platform, "admin", "teaclave")
    login_fails(platform, "admin", "")
    warning = [r.getMessage() for r in caplog.records if "no PlatformAdmin" in r.getMessage()]
    assert warning, caplog.text
    for hint in ("--admin-password", "TEACLAVE_ADMIN_PASSWORD", "--dev"):
        assert hint in warning[0]


def test_no_warning_when_an_admin_exists(start_auth, tmp_path, caplog):
    start_auth(admin_password="pw").close()
    caplog.set_level(logging.INFO)
    platform = start_auth(tmp_path)
    platform.api.login("admin", "pw")
    assert "no PlatformAdmin" not in caplog.text


# ---------------------------------------------------------------------------- secret file
def test_secret_is_created_private_and_never_clobbered(tmp_path):
    secret = load_or_create_secret(tmp_path)
    assert len(secret) == 64
    assert stat.S_IMODE(os.stat(tmp_path / SECRET_FILE).st_mode) == 0o600
    assert load_or_create_secret(tmp_path) == secret
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_FILE]


def test_secret_creation_race_yields_one_secret(tmp_path):
    results: list[bytes] = []
    barrier = threading.Barrier(8)

    def create() -> None:
        barrier.wait()
        results.append(load_or_create_secret(tmp_path))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    assert len(set(results)) == 1
    assert results[0] == (tmp_path / SECRET_FILE).read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_FILE]


def test_secret_of_wrong_length_is_refused(tmp_path):
    (tmp_path / SECRET_FILE).write_bytes(os.urandom(32))
    with pytest.raises(ValueError, match="expected 64 bytes"):
        load_or_create_secret(tmp_path)
