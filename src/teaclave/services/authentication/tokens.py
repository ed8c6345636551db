"""JWT user tokens (HS512) and the persistent signing secret.

Claims are Teaclave's: ``sub`` (user id), ``role`` (role string form at login time), ``iss``
(``"Teaclave"``) and ``exp`` (integer seconds since the epoch). Unlike Teaclave, whose 512-byte
secret is regenerated at every start (so every restart logs everybody out), the 64-byte secret
lives in ``<state_dir>/jwt_secret`` (mode 0600), sealed to the authentication service's enclave
identity (``teaclave.tee.sealing``), and tokens survive restarts (of the same code).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from teaclave.tee._files import create_private_once, write_private_temp
from teaclave.tee.sealing import SEAL_MAGIC, Sealer

log = logging.getLogger(__name__)

ISSUER = "Teaclave"
ALGORITHM = "HS512"
SECRET_FILE = "jwt_secret"
SECRET_LEN = 64
#: Sealing purpose label and AAD of the sealed secret.
SECRET_LABEL = "jwt-secret"
SECRET_AAD = b"teaclave-jwt-secret/v1"


class TokenError(Exception):
    """A token is not valid for the user presenting it (the reason is for logs only)."""


@dataclass(frozen=True, slots=True)
class Claims:
    """The claims of a valid token."""

    sub: str
    role: str
    iss: str
    exp: int


def _seal_legacy_secret(path: Path, secret: bytes, sealer: Sealer) -> None:
    """Replace a plaintext (pre-sealing) secret file with the sealed secret, atomically."""
    tmp = write_private_temp(path, sealer.seal(secret, SECRET_AAD))
    try:
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    log.warning(
        "%s held the JWT secret in clear (written before sealing existed); it is now sealed to "
        "this enclave identity. Copies of the old file (backups) still hold it in clear: "
        "rotate it by deleting %s (this logs every user out) if they may have leaked",
        path,
        path,
    )


def secret_sealer(platform: str, state_dir: str | os.PathLike[str]) -> Sealer:
    """The sealer of the JWT secret: ``platform``'s key for the authentication enclave."""
    from teaclave.config.build import AUTHENTICATION
    from teaclave.tee.platforms import get_platform

    return Sealer(get_platform(platform, state_dir).sealing_key(AUTHENTICATION, SECRET_LABEL))


def load_or_create_secret(state_dir: str | os.PathLike[str], sealer: Sealer | None = None) -> bytes:
    """The signing secret in ``<state_dir>/jwt_secret``, created on first use.

    With a ``sealer`` (what the service uses) the file holds the secret sealed to the enclave
    identity; a file sealed by other code raises
    :class:`~teaclave.tee.errors.SealedByDifferentCode` (the code changed), and a plaintext file
    written before sealing existed is sealed in place (migration; a warning is logged). Without a
    sealer the file holds the 64 raw bytes (for tools and tests only).

    Creation never clobbers an existing secret, even when two processes race: the bytes are
    written to a private temporary file (mode 0600) which is then hard-linked to the final name;
    the loser of a race reads the winner's secret. A secret of the wrong length is refused.
    """
    directory = Path(state_dir)
    path = directory / SECRET_FILE
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        secret = os.urandom(SECRET_LEN)
        create_private_once(path, secret if sealer is None else sealer.seal(secret, SECRET_AAD))
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning("%s is readable by other users (mode %o); it should be 0600", path, mode)
    data = path.read_bytes()
    sealed = data.startswith(SEAL_MAGIC)
    if sealed and sealer is None:
        raise ValueError(f"{path}: the secret is sealed; opening it needs the enclave's sealer")
    secret = sealer.unseal(data, SECRET_AAD) if sealed and sealer is not None else data
    if len(secret) != SECRET_LEN:
        raise ValueError(f"{path}: expected {SECRET_LEN} bytes, found {len(secret)}")
    if sealer is not None and not sealed:
        _seal_legacy_secret(path, secret, sealer)
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
