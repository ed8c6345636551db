"""The authentication service: ``TeaclaveAuthenticationApi`` and ``TeaclaveAuthenticationInternal``.

The user-facing API endpoint (Teaclave's 7776) registers, updates, logs in and manages users;
the internal endpoint (17776, frontend only) checks a user's id + token for the frontend. Both
share one user database and one token signer. Every error is UNAUTHENTICATED with Teaclave's
text (``permission denied``, ``authentication failed``, ``invalid user id``, ``invalid role``,
``user id exist``, ``service internal error``, ``missing user id``, ``missing token``); every
login or token failure says exactly ``authentication failed``, whatever the reason.

Divergences from Teaclave 0.6, wire-compatible:

* Passwords are argon2id hashes (rehashed at login when the parameters change), not
  PBKDF2-SHA512; the database is a SQLite file in the state directory.
* The JWT secret persists in the state directory, sealed to this enclave: tokens survive a restart.
* No built-in ``admin``/``teaclave``: see ``bootstrap``.
* A DataOwnerManager(x) may UserUpdate only accounts whose current role is DataOwner(x) (Teaclave
  allows any account, which lets a manager take over e.g. a PlatformAdmin account by resetting
  its password); updating a missing account is "permission denied" for a manager (so managers
  cannot probe for ids) and "invalid user id" for a PlatformAdmin.
* UserRegister checks the caller's right to create the requested role before looking up the
  id, so unauthorized callers cannot probe which ids exist through "user id exist".
* UserChangePassword changes only the password; Teaclave also rewrote the caller's role with the
  (possibly stale) role from the token, undoing a role change made after login.
* Unknown user ids at login cost as much time as wrong passwords.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import grpc
from google.protobuf import empty_pb2

from teaclave.binder import Enclave
from teaclave.config import INBOUND, RuntimeConfig
from teaclave.config.build import AUTHENTICATION
from teaclave.proto import teaclave_authentication_service_pb2 as pb
from teaclave.rpc import CallContext, teaclave_service
from teaclave.rpc.apis import TeaclaveAuthenticationApi, TeaclaveAuthenticationInternal
from teaclave.rpc.server import serve
from teaclave.services.authentication import policy
from teaclave.services.authentication.bootstrap import bootstrap_admin
from teaclave.services.authentication.passwords import PasswordHasher
from teaclave.services.authentication.tokens import (
    Claims,
    TokenError,
    TokenSigner,
    load_or_create_secret,
    secret_sealer,
)
from teaclave.services.authentication.user_db import UserDb, UserExists, UserInfo, UserMissing
from teaclave.services.launcher import Stoppable, service_identity
from teaclave.types.errors import TeaclaveError, Unauthenticated
from teaclave.types.roles import UserRole

log = logging.getLogger(__name__)

PERMISSION_DENIED = "permission denied"
AUTHENTICATION_FAILED = "authentication failed"
INVALID_USER_ID = "invalid user id"
INVALID_ROLE = "invalid role"
USER_ID_EXIST = "user id exist"
SERVICE_INTERNAL_ERROR = "service internal error"
MISSING_USER_ID = "missing user id"
MISSING_TOKEN = "missing token"


class AuthenticationError(Unauthenticated):
    """Errors of the authentication service (all UNAUTHENTICATED, as in Teaclave)."""


P = ParamSpec("P")
R = TypeVar("R")


def _faults_unauthenticated(method: Callable[P, R]) -> Callable[P, R]:
    """Report unexpected faults as UNAUTHENTICATED "service internal error" (Teaclave's code)."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except TeaclaveError:
            raise
        except Exception:
            log.exception("%s failed", method.__qualname__)
            raise AuthenticationError(SERVICE_INTERNAL_ERROR) from None

    return wrapper


@dataclass
class Authenticator:
    """What both endpoints share: the user database, password hasher and token signer."""

    db: UserDb
    hasher: PasswordHasher
    signer: TokenSigner

    def login(self, user_id: str, password: str) -> str:
        """A fresh token for ``user_id`` if ``password`` is right; else "authentication failed".

        Rehashes the stored password when the argon2 parameters have changed.
        """
        if not user_id or not password:
            raise AuthenticationError(AUTHENTICATION_FAILED)
        user = self.db.get(user_id)
        if user is None:
            self.hasher.burn(password)
            log.info("login failed: unknown user")
            raise AuthenticationError(AUTHENTICATION_FAILED)
        if not self.hasher.verify(user.password_hash, password):
            log.info("login failed for %r: wrong password", user_id)
            raise AuthenticationError(AUTHENTICATION_FAILED)
        if self.hasher.needs_rehash(user.password_hash):
            new_hash = self.hasher.hash(password)
            try:
                self.db.set_password_hash(user_id, new_hash, expect_hash=user.password_hash)
            except UserMissing:
                raise AuthenticationError(AUTHENTICATION_FAILED) from None
        return self.signer.issue(user_id, str(user.role))

    def authenticate(self, user_id: str, token: str) -> Claims:
        """The claims of ``token`` if it is valid for the existing user ``user_id``."""
        if not user_id or not token or not self.db.exists(user_id):
            raise AuthenticationError(AUTHENTICATION_FAILED)
        try:
            return self.signer.validate(token, user_id)
        except TokenError as exc:
            log.info("token rejected for %r: %s", user_id, exc)
            raise AuthenticationError(AUTHENTICATION_FAILED) from None

    def caller(self, ctx: CallContext) -> tuple[str, UserRole]:
        """The authenticated caller (id metadata) and the role from its token's claims."""
        if "id" not in ctx.metadata:
            raise AuthenticationError(MISSING_USER_ID)
        if "token" not in ctx.metadata:
            raise AuthenticationError(MISSING_TOKEN)
        claims = self.authenticate(ctx.metadata["id"], ctx.metadata["token"])
        return claims.sub, UserRole.parse(claims.role)


def _require_id(user_id: str) -> str:
    if not user_id:
        raise AuthenticationError(f"{INVALID_USER_ID}: empty")
    return user_id


def _valid_role(role: str, attribute: str) -> UserRole:
    parsed = UserRole.from_request(role, attribute)
    if not parsed.is_valid:
        raise AuthenticationError(f"{INVALID_ROLE}: {role!r}")
    return parsed


def _denied(why: str) -> AuthenticationError:
    return AuthenticationError(f"{PERMISSION_DENIED}: {why}")


@teaclave_service(AUTHENTICATION, TeaclaveAuthenticationApi, AuthenticationError)
@dataclass
class AuthenticationApiService:
    """``TeaclaveAuthenticationApi``: the user-facing endpoint."""

    auth: Authenticator

    @_faults_unauthenticated
    def user_login(self, request: pb.UserLoginRequest, ctx: CallContext) -> pb.UserLoginResponse:
        """Check id + password and issue a token."""
        return pb.UserLoginResponse(token=self.auth.login(request.id, request.password))

    @_faults_unauthenticated
    def user_register(self, request: pb.UserRegisterRequest, ctx: CallContext) -> empty_pb2.Empty:
        """Create an account with the requested role, if the caller may create that role."""
        _, caller = self.auth.caller(ctx)
        user_id = _require_id(request.id)
        role = _valid_role(request.role, request.attribute)
        if not policy.may_register(caller, role):
            raise _denied(f"{caller} may not register a {role.kind.value}")
        if self.auth.db.exists(user_id):
            raise AuthenticationError(USER_ID_EXIST)
        user = UserInfo(user_id, role, self.auth.hasher.hash(request.password))
        try:
            self.auth.db.create(user)
        except UserExists:
            raise AuthenticationError(USER_ID_EXIST) from None
        log.info("registered user %r as %s", user_id, role)
        return empty_pb2.Empty()

    @_faults_unauthenticated
    def user_update(self, request: pb.UserUpdateRequest, ctx: CallContext) -> empty_pb2.Empty:
        """Replace an account's password and role."""
        _, caller = self.auth.caller(ctx)
        user_id = _require_id(request.id)
        role = _valid_role(request.role, request.attribute)
        if not policy.may_update_to(caller, role):
            raise _denied(f"{caller} may not give the role {role}")
        target = self.auth.db.get(user_id)
        if target is None:
            if caller.is_platform_admin:
                raise AuthenticationError(INVALID_USER_ID)
            raise AuthenticationError(PERMISSION_DENIED)
        if not policy.may_manage(caller, target.role):
            raise AuthenticationError(PERMISSION_DENIED)
        updated = UserInfo(user_id, role, self.auth.hasher.hash(request.password))
        try:
            self.auth.db.update(updated, check=self._still_manageable(caller, target))
        except UserMissing:
            raise AuthenticationError(INVALID_USER_ID) from None
        log.info("updated user %r to %s", user_id, role)
        return empty_pb2.Empty()

    @_faults_unauthenticated
    def user_change_password(
        self, request: pb.UserChangePasswordRequest, ctx: CallContext
    ) -> empty_pb2.Empty:
        """Change the caller's own password (the role is kept)."""
        user_id, _ = self.auth.caller(ctx)
        if not request.password:
            raise AuthenticationError(f"{AUTHENTICATION_FAILED}: the new password is empty")
        new_hash = self.auth.hasher.hash(request.password)
        try:
            self.auth.db.set_password_hash(user_id, new_hash)
        except UserMissing:
            raise AuthenticationError(AUTHENTICATION_FAILED) from None
        return empty_pb2.Empty()

    @_faults_unauthenticated
    def reset_user_password(
        self, request: pb.ResetUserPasswordRequest, ctx: CallContext
    ) -> pb.ResetUserPasswordResponse:
        """Give an account a random password (32 lowercase hex digits) and return it."""
        _, caller = self.auth.caller(ctx)
        user_id = _require_id(request.id)
        target = self._manageable_target(caller, user_id)
        password = uuid.uuid4().hex
        updated = UserInfo(user_id, target.role, self.auth.hasher.hash(password))
        try:
            self.auth.db.update(updated, check=self._still_manageable(caller, target))
        except UserMissing:
            raise AuthenticationError(PERMISSION_DENIED) from None
        log.info("reset the password of %r", user_id)
        return pb.ResetUserPasswordResponse(password=password)

    @_faults_unauthenticated
    def delete_user(self, request: pb.DeleteUserRequest, ctx: CallContext) -> empty_pb2.Empty:
        """Delete an account (its tokens stop working)."""
        _, caller = self.auth.caller(ctx)
        user_id = _require_id(request.id)
        target = self._manageable_target(caller, user_id)
        try:
            self.auth.db.delete(user_id, check=self._still_manageable(caller, target))
        except UserMissing:
            raise AuthenticationError(PERMISSION_DENIED) from None
        log.info("deleted user %r", user_id)
        return empty_pb2.Empty()

    @_faults_unauthenticated
    def list_users(self, request: pb.ListUsersRequest, ctx: CallContext) -> pb.ListUsersResponse:
        """All ids (PlatformAdmin) or the DataOwner(x) ids of manager x; ``id`` is the attribute."""
        _, caller = self.auth.caller(ctx)
        attribute = _require_id(request.id)
        if not policy.may_list(caller, attribute):
            raise AuthenticationError(PERMISSION_DENIED)
        if caller.is_platform_admin:
            ids = self.auth.db.list_ids()
        else:
            ids = [
                user.id
                for user in self.auth.db.list_users()
                if policy.listed_by(caller, attribute, user.role)
            ]
        return pb.ListUsersResponse(ids=ids)

    # ------------------------------------------------------------------ helpers
    def _manageable_target(self, caller: UserRole, user_id: str) -> UserInfo:
        target = self.auth.db.get(user_id)
        if target is None or not policy.may_manage(caller, target.role):
            raise AuthenticationError(PERMISSION_DENIED)
        return target

    @staticmethod
    def _still_manageable(caller: UserRole, seen: UserInfo) -> Callable[[UserInfo], None]:
        """A check, run under the database lock, that the target's role has not changed."""

        def check(current: UserInfo) -> None:
            if current.role != seen.role or not policy.may_manage(caller, current.role):
                raise AuthenticationError(PERMISSION_DENIED)

        return check


@teaclave_service(AUTHENTICATION, TeaclaveAuthenticationInternal, AuthenticationError)
@dataclass
class AuthenticationInternalService:
    """``TeaclaveAuthenticationInternal``: token checks for the frontend."""

    auth: Authenticator

    @_faults_unauthenticated
    def user_authenticate(
        self, request: pb.UserAuthenticateRequest, ctx: CallContext
    ) -> pb.UserAuthenticateResponse:
        """The claims of a valid credential; "authentication failed" otherwise."""
        if not request.HasField("credential"):
            raise AuthenticationError(f"{AUTHENTICATION_FAILED}: missing credential")
        credential = request.credential
        if not credential.id:
            raise AuthenticationError(MISSING_USER_ID)
        if not credential.token:
            raise AuthenticationError(MISSING_TOKEN)
        claims = self.auth.authenticate(credential.id, credential.token)
        return pb.UserAuthenticateResponse(
            claims=pb.UserAuthClaims(
                sub=claims.sub, role=claims.role, iss=claims.iss, exp=claims.exp
            )
        )


class _Server:
    """A gRPC server whose ``stop`` waits until in-flight calls are done."""

    def __init__(self, server: grpc.Server) -> None:
        self.server = server

    def stop(self, grace: float | None) -> Any:
        self.server.stop(grace).wait()


class _DbCloser:
    def __init__(self, db: UserDb) -> None:
        self.db = db

    def stop(self, grace: float | None) -> None:
        self.db.close()


def start_service(config: RuntimeConfig, enclave: Enclave) -> Sequence[Stoppable]:
    """Open the user database, bootstrap the admin, serve the API and internal endpoints."""
    state_dir = Path(config.state_dir)
    db = UserDb.open(state_dir)
    handles: list[Stoppable] = [_DbCloser(db)]
    try:
        settings = config.authentication
        hasher = PasswordHasher(settings)
        sealer = secret_sealer(config.attestation.platform, state_dir)
        secret = load_or_create_secret(state_dir, sealer)
        signer = TokenSigner(secret, settings.token_lifetime_secs)
        bootstrap_admin(db, hasher, settings)
        auth = Authenticator(db, hasher, signer)
        identity, verifier = service_identity(config, AUTHENTICATION)
        api_server, _ = serve(
            AuthenticationApiService(auth),
            config.api_endpoints["authentication"].listen_address,
            identity,
            verifier,
            inbound=None,
        )
        handles.append(_Server(api_server))
        internal_server, _ = serve(
            AuthenticationInternalService(auth),
            config.internal_endpoints["authentication"].listen_address,
            identity,
            verifier,
            inbound=INBOUND["authentication"],
        )
        handles.append(_Server(internal_server))
    except BaseException:
        for handle in reversed(handles):
            handle.stop(None)
        raise
    return handles
