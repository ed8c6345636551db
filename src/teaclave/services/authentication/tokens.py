"""JWT user tokens (HS512) and the persistent signing secret.

Claims are Teaclave's: ``sub`` (user id), ``role`` (role string form at login time), ``iss``
(``"Teaclave"``) and ``exp`` (integer seconds since the epoch). Unlike Teaclave, whose 512-byte
secret is regenerated at every start (so every restart logs everybody out), the 64-byte secret
lives in ``<state_dir>/jwt_secret`` (mode 0600) and tokens survive restarts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

log = logging.getLogger(__name__)

ISSUER = "Teaclave"
ALGORITHM = "HS512"
SECRET_FILE = "jwt_secret"
SECRET_LEN = 64


class TokenError(Exception):
    """A token is not valid for the user presenting it (the reason is for logs only)."""


@dataclass(frozen=True, slots=True)
class Claims:
    """The claims of a valid token."""

    sub: str
    role: str
    iss: str
    exp: int


def load_or_create_secret(state_dir: str | os.PathLike[str]) -> bytes:
    """The signing secret in ``<state_dir>/jwt_secret``, created on first use.

    Creation never clobbers an existing secret, even when two processes race: the bytes are
    written to a private temporary file (mode 0600) which is then hard-linked to the final name;
    the loser of a race reads the winner's secret. A secret of the wrong length is refused.
    """
    directory = Path(state_dir)
    path = directory / SECRET_FILE
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{SECRET_FILE}-{os.getpid()}-{os.urandom(4).hex()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(os.urandom(SECRET_LEN))
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning("%s is readable by other users (mode %o); it should be 0600", path, mode)
    secret = path.read_bytes()
    if len(secret) != SECRET_LEN:
        raise ValueError(f"{path}: expected {SECRET_LEN} bytes, found {len(secret)}")
    return secret


class TokenSigner:
    """Issues and validates HS512 tokens with one secret."""

    def __init__(self, secret: bytes, lifetime_secs: float) -> None:
        self._secret = secret
        self.lifetime_secs = int(lifetime_secs)

    def issue(self, user_id: str, role: str, now: float | None = None) -> str:
        """A token for ``user_id`` with ``role``, expiring ``lifetime_secs`` from now."""
        issued = int(time.time() if now is None else now)
        claims = {
            "sub": user_id,
            "role": role,
            "iss": ISSUER,
            "exp": issued + self.lifetime_secs,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def validate(self, token: str, user_id: str) -> Claims:
        """The claims of ``token`` if it is valid for ``user_id``; else ``TokenError``.

        HS512 only, issuer ``Teaclave``, ``sub`` equal to ``user_id``, signature valid and not
        expired (no leeway). Whether the user still exists is the caller's check.
        """
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                subject=user_id,
                leeway=0,
                options={"require": ["sub", "iss", "exp"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(f"{type(exc).__name__}: {exc}") from None
        sub, role, iss, exp = (payload.get(k) for k in ("sub", "role", "iss", "exp"))
        if sub != user_id:
            raise TokenError("subject mismatch")
        if not isinstance(role, str):
            raise TokenError("role claim missing or not a string")
        if isinstance(exp, bool) or not isinstance(exp, int) or exp < 0:
            raise TokenError("exp claim is not a non-negative integer")
        assert isinstance(iss, str)
        return Claims(sub=user_id, role=role, iss=iss, exp=exp)
