"""Login, UserAuthenticate and token validation (Teaclave's login/authenticate/JWT tests)."""

from __future__ import annotations

import time

import jwt
import pytest

from teaclave.proto import teaclave_authentication_service_pb2 as pb
from teaclave.rpc.errors import RemoteError
from teaclave.services.authentication.tokens import load_or_create_secret, secret_sealer
from teaclave.types.errors import StatusCode

FAILED = "authentication failed"
PASSWORD = "test_password"


def secret_of(auth) -> bytes:
    """The JWT secret, unsealed the way the service opens it (sim platform)."""
    return load_or_create_secret(auth.state_dir, secret_sealer("sim", auth.state_dir))


def forge(auth, key: bytes | None = None, algorithm: str = "HS512", **claims) -> str:
    payload = {"sub": "admin", "role": "PlatformAdmin", "iss": "Teaclave"}
    payload["exp"] = int(time.time()) + 3600
    payload.update(claims)
    return jwt.encode(payload, secret_of(auth) if key is None else key, algorithm=algorithm)


def assert_unauthenticated(exc_info: pytest.ExceptionInfo[RemoteError], message: str) -> None:
    assert exc_info.value.code is StatusCode.UNAUTHENTICATED
    assert exc_info.value.message == message


# ---------------------------------------------------------------------------- login
def test_login_success(auth):
    cred = auth.new_user("FunctionOwner", prefix="test_login_id")
    claims = auth.internal.authenticate(cred["id"], cred["token"])
    assert claims.sub == cred["id"]
    assert claims.role == "FunctionOwner"
    assert claims.iss == "Teaclave"
    assert abs(claims.exp - (time.time() + 86400)) < 5


def test_login_fail_wrong_password(auth):
    cred = auth.new_user("PlatformAdmin", prefix="test_login_id")
    with pytest.raises(RemoteError) as exc:
        auth.api.login(cred["id"], "wrong password")
    assert_unauthenticated(exc, FAILED)


def test_login_unknown_user_says_exactly_authentication_failed(auth):
    with pytest.raises(RemoteError) as exc:
        auth.api.login("no_such_user", PASSWORD)
    assert_unauthenticated(exc, FAILED)


@pytest.mark.parametrize(("user_id", "password"), [("", PASSWORD), ("admin", "")])
def test_login_empty_fields_fail(auth, user_id, password):
    with pytest.raises(RemoteError) as exc:
        auth.api.login(user_id, password)
    assert_unauthenticated(exc, FAILED)


def test_token_is_hs512_with_teaclave_claims(auth):
    token = auth.api.login("admin", auth.ADMIN_PASSWORD)
    assert jwt.get_unverified_header(token)["alg"] == "HS512"
    claims = jwt.decode(token, secret_of(auth), algorithms=["HS512"], issuer="Teaclave")
    assert set(claims) == {"sub", "role", "iss", "exp"}
    assert claims["sub"] == "admin"
    assert claims["role"] == "PlatformAdmin"
    assert isinstance(claims["exp"], int)


def test_role_claim_uses_string_form_with_attribute(auth):
    cred = auth.new_user("DataOwnerManager", "bank1")
    assert auth.internal.authenticate(cred["id"], cred["token"]).role == "DataOwnerManager-bank1"


# ---------------------------------------------------------------------------- authenticate
def test_authenticate_success(auth):
    cred = auth.new_user("PlatformAdmin", prefix="test_authenticate_id")
    claims = auth.internal.authenticate(cred["id"], cred["token"])
    assert (claims.sub, claims.role) == (cred["id"], "PlatformAdmin")


def test_authenticate_fail_wrong_token(auth):
    cred = auth.new_user("PlatformAdmin", prefix="test_authenticate_id")
    with pytest.raises(RemoteError) as exc:
        auth.internal.authenticate(cred["id"], "wrong_token")
    assert_unauthenticated(exc, FAILED)


def test_authenticate_unknown_user_fails(auth):
    token = forge(auth, sub="ghost")
    with pytest.raises(RemoteError) as exc:
        auth.internal.authenticate("ghost", token)
    assert_unauthenticated(exc, FAILED)


def test_authenticate_missing_fields(auth):
    with pytest.raises(RemoteError) as exc:
        auth.internal.authenticate("", "token")
    assert_unauthenticated(exc, "missing user id")
    with pytest.raises(RemoteError) as exc:
        auth.internal.authenticate("admin", "")
    assert_unauthenticated(exc, "missing token")


def test_authenticate_without_credential_message(auth):
    client = auth.internal._client
    with pytest.raises(RemoteError) as exc:
        client.call("UserAuthenticate", pb.UserAuthenticateRequest(), pb.UserAuthenticateResponse)
    assert exc.value.code is StatusCode.UNAUTHENTICATED
    assert exc.value.message.startswith(FAILED)


def test_forged_token_with_right_secret_is_accepted(auth):
    # Control for the refusals below: the forging helper makes valid tokens by default.
    claims = auth.internal.authenticate("admin", forge(auth))
    assert claims.role == "PlatformAdmin"


def test_invalid_algorithm_hs256_rejected(auth):
    token = forge(auth, algorithm="HS256")
    with pytest.raises(RemoteError) as exc:
        auth.internal.authenticate("admin", token)
    assert_unauthenticated(exc, FAILED)


def test_unsigned_none_algorithm_rejected(auth):
    token = jwt.encode(
        {"sub": "admin", "role": "PlatformAdmin", "iss": "Teaclave", "exp": int(time.time()) + 60},
        None,
        algorithm="none",
    )
    with pytest.raises(RemoteError) as exc:
        auth.internal.authenticate("admin", token)
    assert_unauthenticated(exc, FAILED)


def test_invalid_issuer_rejected(auth):
    for issuer in ("wrong issuer", "TeaClave"):
        with pytest.raises(RemoteError) as exc:
            auth.internal.authenticate("admin", forge(auth, iss=issuer))
        assert_unauthenticated(exc, FAILED)


def test_expired_token_rejected(auth):
    token = forge(auth, exp=int(time.time()) - 2)
    with pytest.raises(RemoteError) as exc:
        auth.internal.authenticate("admin", token)
    assert_unauthenticated(exc, FAILED)


def test_missing_exp_rejected(auth):
    token = jwt.encode(
        {"sub": "admin", "role": "PlatformAdmin", "iss": "Teaclave"}, secret_of(auth), "HS512"
    )
    with pytest.raises(RemoteError) as exc:
        auth.internal.authenticate("admin", token)
    assert_unauthenticated(exc, FAILED)


def test_invalid_user_sub_differs_from_id(auth):
    other = auth.new_user("DataOwner", "x")
    # A valid token of `other` presented as admin, and a forged one with sub "wrong user".
    for token in (other["token"], forge(auth, sub="wrong user")):
        with pytest.raises(RemoteError) as exc:
            auth.internal.authenticate("admin", token)
        assert_unauthenticated(exc, FAILED)


def test_wrong_secret_rejected(auth):
    token = forge(auth, key=b"bad secret" * 8)
    with pytest.raises(RemoteError) as exc:
        auth.internal.authenticate("admin", token)
    assert_unauthenticated(exc, FAILED)


def test_tampered_role_rejected(auth):
    cred = auth.new_user("DataOwner", "x")
    header, payload, signature = cred["token"].split(".")
    forged_payload = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(b'"DataOwner-x"', b'"PlatformAdmin"')
    ).decode()
    assert forged_payload != payload
    with pytest.raises(RemoteError) as exc:
        auth.internal.authenticate(cred["id"], f"{header}.{forged_payload}.{signature}")
    assert_unauthenticated(exc, FAILED)


def test_role_is_taken_from_token_claims(auth):
    admin = auth.admin()
    cred = auth.new_user("DataOwner", "x")
    auth.api.update(admin, cred["id"], "FunctionOwner")
    # The token issued before the update keeps its role; a fresh login has the new one.
    assert auth.internal.authenticate(cred["id"], cred["token"]).role == "DataOwner-x"
    fresh = auth.api.login(cred["id"])
    assert auth.internal.authenticate(cred["id"], fresh).role == "FunctionOwner"


# ---------------------------------------------------------------------------- API metadata
def test_api_missing_id_and_token_metadata(auth):
    request = pb.ListUsersRequest(id="x")
    with pytest.raises(RemoteError) as exc:
        auth.api.call("ListUsers", request, pb.ListUsersResponse, token="t")
    assert_unauthenticated(exc, "missing user id")
    with pytest.raises(RemoteError) as exc:
        auth.api.call("ListUsers", request, pb.ListUsersResponse, id="admin")
    assert_unauthenticated(exc, "missing token")


@pytest.mark.parametrize(
    ("user_id", "token"), [("admin", ""), ("admin", "InvalidToken"), ("ghost", "InvalidToken")]
)
def test_api_bad_credentials_fail(auth, user_id, token):
    with pytest.raises(RemoteError) as exc:
        auth.api.list_users({"id": user_id, "token": token}, "x")
    assert_unauthenticated(exc, FAILED)


def test_api_rejects_forged_tokens(auth):
    for token in (forge(auth, algorithm="HS256"), forge(auth, exp=1), forge(auth, iss="x")):
        with pytest.raises(RemoteError) as exc:
            auth.api.list_users({"id": "admin", "token": token}, "x")
        assert_unauthenticated(exc, FAILED)
    assert "admin" in auth.api.list_users({"id": "admin", "token": forge(auth)}, "x")
