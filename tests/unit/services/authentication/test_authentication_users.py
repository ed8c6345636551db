"""Account management RPCs and the who-may-do-what table (spec §4.3)."""

from __future__ import annotations

import re

import pytest

from teaclave.rpc.errors import RemoteError
from teaclave.services.authentication.passwords import PasswordHasher
from teaclave.services.authentication.user_db import UserDb, UserInfo
from teaclave.storage import SqliteStore
from teaclave.types.errors import StatusCode
from teaclave.types.roles import RoleKind, UserRole

PASSWORD = "test_password"
DENIED = "permission denied"


def refused(call, message: str, *, exact: bool = False) -> RemoteError:
    with pytest.raises(RemoteError) as exc:
        call()
    assert exc.value.code is StatusCode.UNAUTHENTICATED
    if exact:
        assert exc.value.message == message
    else:
        assert exc.value.message.startswith(message), exc.value.message
    return exc.value


def cannot_login(auth, user_id: str, password: str = PASSWORD) -> None:
    refused(lambda: auth.api.login(user_id, password), "authentication failed", exact=True)


def role_of(auth, user_id: str) -> str:
    db = UserDb(SqliteStore(auth.state_dir / "authentication.sqlite"))
    try:
        user = db.get(user_id)
        assert user is not None
        return str(user.role)
    finally:
        db.close()


# ---------------------------------------------------------------------------- register
def test_register_success(auth):
    admin = auth.admin()
    auth.api.register(admin, "test_register_id1", "PlatformAdmin")
    token = auth.api.login("test_register_id1")
    assert auth.internal.authenticate("test_register_id1", token).role == "PlatformAdmin"


def test_register_duplicate_fails(auth):
    admin = auth.admin()
    auth.api.register(admin, "test_register_id2", "PlatformAdmin")
    refused(
        lambda: auth.api.register(admin, "test_register_id2", "FunctionOwner"),
        "user id exist",
        exact=True,
    )
    assert role_of(auth, "test_register_id2") == "PlatformAdmin"


@pytest.mark.parametrize(("role", "attribute"), [("", ""), ("Admin", ""), ("Invalid", "")])
def test_register_invalid_role(auth, role, attribute):
    refused(
        lambda: auth.api.register(auth.admin(), "bad_role_user", role, attribute), "invalid role"
    )
    cannot_login(auth, "bad_role_user")


def test_register_empty_id(auth):
    refused(lambda: auth.api.register(auth.admin(), "", "PlatformAdmin"), "invalid user id")


def test_register_data_owner_with_empty_attribute(auth):
    auth.api.register(auth.admin(), "plain_owner", "DataOwner", "")
    assert role_of(auth, "plain_owner") == "DataOwner-"
    token = auth.api.login("plain_owner")
    assert auth.internal.authenticate("plain_owner", token).role == "DataOwner-"


# ---------------------------------------------------------------------------- update
def test_update_replaces_password_and_role(auth):
    admin = auth.admin()
    auth.api.register(admin, "test_update_id", "PlatformAdmin")
    auth.api.update(admin, "test_update_id", "DataOwner", "org", password="updated_password")
    cannot_login(auth, "test_update_id")
    token = auth.api.login("test_update_id", "updated_password")
    assert auth.internal.authenticate("test_update_id", token).role == "DataOwner-org"


def test_update_unknown_id_fails(auth):
    refused(
        lambda: auth.api.update(auth.admin(), "test_nonexist_id", "PlatformAdmin"),
        "invalid user id",
    )
    cannot_login(auth, "test_nonexist_id")


def test_update_invalid_role_and_empty_id(auth):
    admin = auth.admin()
    user = auth.new_user("DataOwner", "x")
    refused(lambda: auth.api.update(admin, user["id"], "Superuser"), "invalid role")
    refused(lambda: auth.api.update(admin, "", "PlatformAdmin"), "invalid user id")
    assert role_of(auth, user["id"]) == "DataOwner-x"


# ---------------------------------------------------------------------------- change password
def test_change_password(auth):
    user = auth.new_user("DataOwner", "x")
    auth.api.change_password(user, "new_password")
    cannot_login(auth, user["id"])
    token = auth.api.login(user["id"], "new_password")
    assert auth.internal.authenticate(user["id"], token).role == "DataOwner-x"


def test_change_password_empty_rejected(auth):
    user = auth.new_user("FunctionOwner")
    refused(lambda: auth.api.change_password(user, ""), "authentication failed")
    auth.api.login(user["id"])  # the old password still works


def test_change_password_keeps_current_role(auth):
    # Teaclave rewrote the role from the (stale) token; we keep the stored role.
    user = auth.new_user("DataOwner", "x")
    auth.api.update(auth.admin(), user["id"], "FunctionOwner")
    auth.api.change_password(user, "another_password")
    assert role_of(auth, user["id"]) == "FunctionOwner"


def test_change_password_needs_credentials(auth):
    refused(lambda: auth.api.change_password({"id": "admin"}, "pw"), "missing token", exact=True)
    refused(
        lambda: auth.api.change_password({"id": "admin", "token": "x"}, "pw"),
        "authentication failed",
        exact=True,
    )


# ---------------------------------------------------------------------------- reset password
def test_reset_password_returns_a_working_password(auth):
    user = auth.new_user("DataOwner", "x")
    password = auth.api.reset_password(auth.admin(), user["id"])
    assert re.fullmatch(r"[0-9a-f]{32}", password)
    cannot_login(auth, user["id"])
    token = auth.api.login(user["id"], password)
    assert auth.internal.authenticate(user["id"], token).role == "DataOwner-x"


def test_reset_password_of_missing_user_is_permission_denied(auth):
    refused(lambda: auth.api.reset_password(auth.admin(), "missing_user"), DENIED, exact=True)


# ---------------------------------------------------------------------------- delete
def test_delete_user_then_login_fails(auth):
    user = auth.new_user("FunctionOwner")
    auth.internal.authenticate(user["id"], user["token"])
    auth.api.delete(auth.admin(), user["id"])
    cannot_login(auth, user["id"])
    # The deleted user's token stops working on both endpoints.
    refused(
        lambda: auth.internal.authenticate(user["id"], user["token"]),
        "authentication failed",
        exact=True,
    )
    refused(lambda: auth.api.change_password(user, "pw"), "authentication failed", exact=True)


def test_delete_missing_user_is_permission_denied(auth):
    refused(lambda: auth.api.delete(auth.admin(), "missing_user"), DENIED, exact=True)


def test_deleted_id_can_be_registered_again(auth):
    admin = auth.admin()
    user = auth.new_user("FunctionOwner")
    auth.api.delete(admin, user["id"])
    auth.api.register(admin, user["id"], "DataOwner", "y", password="fresh_password")
    auth.api.login(user["id"], "fresh_password")


# ---------------------------------------------------------------------------- list users
def test_list_users_for_admin_and_manager(auth):
    admin = auth.admin()
    manager = auth.new_user("DataOwnerManager", "listorg")
    other_manager = auth.new_user("DataOwnerManager", "listorg")
    owners = [auth.new_user("DataOwner", "listorg")["id"] for _ in range(2)]
    stranger = auth.new_user("DataOwner", "otherorg")["id"]
    everyone = auth.api.list_users(admin, "anything")
    assert {"admin", manager["id"], other_manager["id"], stranger, *owners} <= set(everyone)
    assert everyone == sorted(everyone)
    # A manager sees exactly the DataOwner(x) users: not managers, not other organisations.
    assert auth.api.list_users(manager, "listorg") == sorted(owners)
    refused(lambda: auth.api.list_users(manager, "otherorg"), DENIED, exact=True)


def test_list_users_empty_id_is_invalid(auth):
    refused(lambda: auth.api.list_users(auth.admin(), ""), "invalid user id")


# ---------------------------------------------------------------------------- who may do what
REGISTER_TABLE = [
    # (caller role, caller attribute, new role, new attribute, allowed)
    ("PlatformAdmin", "", "PlatformAdmin", "", True),
    ("PlatformAdmin", "", "FunctionOwner", "", True),
    ("PlatformAdmin", "", "DataOwnerManager", "a", True),
    ("PlatformAdmin", "", "DataOwner", "a", True),
    ("DataOwnerManager", "a", "DataOwner", "a", True),
    ("DataOwnerManager", "a", "DataOwner", "b", False),
    ("DataOwnerManager", "a", "DataOwnerManager", "a", False),
    ("DataOwnerManager", "a", "FunctionOwner", "", False),
    ("DataOwnerManager", "a", "PlatformAdmin", "", False),
    ("FunctionOwner", "", "DataOwnerManager", "a", True),
    ("FunctionOwner", "", "DataOwnerManager", "z", True),
    ("FunctionOwner", "", "DataOwner", "a", False),
    ("FunctionOwner", "", "FunctionOwner", "", False),
    ("FunctionOwner", "", "PlatformAdmin", "", False),
    ("DataOwner", "a", "DataOwner", "a", False),
    ("DataOwner", "a", "FunctionOwner", "", False),
]


@pytest.mark.parametrize(("caller", "caller_attr", "role", "attribute", "allowed"), REGISTER_TABLE)
def test_who_may_register(auth, caller, caller_attr, role, attribute, allowed):
    cred = auth.new_user(caller, caller_attr)
    new_id = f"reg_by_{cred['id']}"
    if allowed:
        auth.api.register(cred, new_id, role, attribute)
        assert role_of(auth, new_id) == str(UserRole.from_request(role, attribute))
        auth.api.login(new_id)
    else:
        refused(lambda: auth.api.register(cred, new_id, role, attribute), DENIED)
        cannot_login(auth, new_id)


def test_denied_register_of_existing_id_does_not_reveal_it(auth):
    owner = auth.new_user("DataOwner", "a")
    refused(lambda: auth.api.register(owner, "admin", "DataOwner", "a"), DENIED)


UPDATE_TABLE = [
    # (caller, caller attribute, target role, target attribute, new role, new attr, allowed)
    ("PlatformAdmin", "", "DataOwner", "a", "FunctionOwner", "", True),
    ("PlatformAdmin", "", "PlatformAdmin", "", "DataOwner", "b", True),
    ("DataOwnerManager", "a", "DataOwner", "a", "DataOwner", "a", True),
    ("DataOwnerManager", "a", "DataOwner", "a", "DataOwnerManager", "a", False),
    ("DataOwnerManager", "a", "DataOwner", "b", "DataOwner", "a", False),
    # Quirk fixed: a manager may not turn other accounts into its DataOwners.
    ("DataOwnerManager", "a", "PlatformAdmin", "", "DataOwner", "a", False),
    ("DataOwnerManager", "a", "FunctionOwner", "", "DataOwner", "a", False),
    ("DataOwnerManager", "a", "DataOwnerManager", "a", "DataOwner", "a", False),
    ("FunctionOwner", "", "DataOwnerManager", "a", "DataOwnerManager", "a", False),
    ("FunctionOwner", "", "DataOwner", "a", "DataOwner", "a", False),
    ("DataOwner", "a", "DataOwner", "a", "DataOwner", "a", False),
]


@pytest.mark.parametrize(
    ("caller", "caller_attr", "target", "target_attr", "role", "attribute", "allowed"),
    UPDATE_TABLE,
)
def test_who_may_update(auth, caller, caller_attr, target, target_attr, role, attribute, allowed):
    cred = auth.new_user(caller, caller_attr)
    victim = auth.new_user(target, target_attr)["id"]
    before = role_of(auth, victim)
    if allowed:
        auth.api.update(cred, victim, role, attribute, password="updated")
        assert role_of(auth, victim) == str(UserRole.from_request(role, attribute))
        auth.api.login(victim, "updated")
    else:
        refused(lambda: auth.api.update(cred, victim, role, attribute, password="updated"), DENIED)
        assert role_of(auth, victim) == before
        cannot_login(auth, victim, "updated")
        auth.api.login(victim)


def test_manager_update_of_missing_user_is_permission_denied(auth):
    manager = auth.new_user("DataOwnerManager", "a")
    refused(lambda: auth.api.update(manager, "nobody_here", "DataOwner", "a"), DENIED, exact=True)


MANAGE_TABLE = [
    # (caller, caller attribute, target role, target attribute, allowed) for reset and delete
    ("PlatformAdmin", "", "PlatformAdmin", "", True),
    ("PlatformAdmin", "", "DataOwner", "a", True),
    ("PlatformAdmin", "", "FunctionOwner", "", True),
    ("DataOwnerManager", "a", "DataOwner", "a", True),
    ("DataOwnerManager", "a", "DataOwner", "b", False),
    ("DataOwnerManager", "a", "DataOwnerManager", "a", False),
    ("DataOwnerManager", "a", "PlatformAdmin", "", False),
    ("FunctionOwner", "", "DataOwnerManager", "a", False),
    ("FunctionOwner", "", "DataOwner", "a", False),
    ("DataOwner", "a", "DataOwner", "a", False),
]


@pytest.mark.parametrize(
    ("caller", "caller_attr", "target", "target_attr", "allowed"), MANAGE_TABLE
)
def test_who_may_reset_password(auth, caller, caller_attr, target, target_attr, allowed):
    cred = auth.new_user(caller, caller_attr)
    victim = auth.new_user(target, target_attr)["id"]
    if allowed:
        auth.api.login(victim, auth.api.reset_password(cred, victim))
        cannot_login(auth, victim)
    else:
        refused(lambda: auth.api.reset_password(cred, victim), DENIED, exact=True)
        auth.api.login(victim)


@pytest.mark.parametrize(
    ("caller", "caller_attr", "target", "target_attr", "allowed"), MANAGE_TABLE
)
def test_who_may_delete(auth, caller, caller_attr, target, target_attr, allowed):
    cred = auth.new_user(caller, caller_attr)
    victim = auth.new_user(target, target_attr)["id"]
    if allowed:
        auth.api.delete(cred, victim)
        cannot_login(auth, victim)
    else:
        refused(lambda: auth.api.delete(cred, victim), DENIED, exact=True)
        auth.api.login(victim)


@pytest.mark.parametrize(
    ("caller", "caller_attr", "attribute", "allowed"),
    [
        ("PlatformAdmin", "", "whatever", True),
        ("DataOwnerManager", "a", "a", True),
        ("DataOwnerManager", "a", "b", False),
        ("FunctionOwner", "", "a", False),
        ("DataOwner", "a", "a", False),
    ],
)
def test_who_may_list(auth, caller, caller_attr, attribute, allowed):
    cred = auth.new_user(caller, caller_attr)
    if allowed:
        assert isinstance(auth.api.list_users(cred, attribute), list)
    else:
        refused(lambda: auth.api.list_users(cred, attribute), DENIED, exact=True)


def test_anyone_authenticated_may_change_own_password(auth):
    for role, attribute in [("DataOwner", "a"), ("FunctionOwner", ""), ("DataOwnerManager", "b")]:
        cred = auth.new_user(role, attribute)
        auth.api.change_password(cred, "mine")
        auth.api.login(cred["id"], "mine")


def test_invalid_role_account_may_do_nothing(auth):
    # Accounts with the Invalid role cannot be created through the API; plant one directly.
    db = UserDb(SqliteStore(auth.state_dir / "authentication.sqlite"))
    hasher = PasswordHasher(auth.config.authentication)
    db.create(UserInfo("invalid_user", UserRole(RoleKind.INVALID), hasher.hash(PASSWORD)))
    db.close()
    cred = {"id": "invalid_user", "token": auth.api.login("invalid_user")}
    assert auth.internal.authenticate("invalid_user", cred["token"]).role == "Invalid"
    victim = auth.new_user("DataOwner", "")["id"]
    refused(lambda: auth.api.register(cred, "by_invalid", "DataOwner", ""), DENIED)
    refused(lambda: auth.api.update(cred, victim, "DataOwner", ""), DENIED)
    refused(lambda: auth.api.reset_password(cred, victim), DENIED)
    refused(lambda: auth.api.delete(cred, victim), DENIED)
    refused(lambda: auth.api.list_users(cred, ""), "invalid user id")
    refused(lambda: auth.api.list_users(cred, "x"), DENIED)


def test_concurrent_registration_of_one_id_succeeds_once(auth):
    import threading

    admin = auth.admin()
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def register(i: int) -> None:
        barrier.wait()
        try:
            auth.api.register(admin, "racy_user", "DataOwner", "r", password=f"pw{i}")
            outcomes.append(f"ok{i}")
        except RemoteError as exc:
            outcomes.append(exc.message)

    threads = [threading.Thread(target=register, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if o.startswith("ok")]
    assert len(winners) == 1
    assert sorted(o for o in outcomes if not o.startswith("ok")) == ["user id exist"] * 7
    auth.api.login("racy_user", f"pw{winners[0][2:]}")
