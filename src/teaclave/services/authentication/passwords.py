"""Password hashing with argon2id (argon2-cffi), parameters from ``[authentication]``.

Hashes are argon2's self-describing encoded strings (``$argon2id$v=19$m=...,t=...,p=...$...``),
so a hash made under old parameters still verifies and ``needs_rehash`` tells when to upgrade
it. Hashing is deliberately slow: callers must never hold a database lock around it.
"""

from __future__ import annotations

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from teaclave.config.runtime import AuthenticationConfig


class PasswordHasher:
    """Hash and verify passwords with argon2id under one parameter set."""

    def __init__(self, config: AuthenticationConfig) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=config.argon2_time_cost,
            memory_cost=config.argon2_memory_kib,
            parallelism=config.argon2_parallelism,
            type=argon2.Type.ID,
        )
        # Verified against when the user does not exist, so that an unknown id costs as much
        # time as a wrong password and login timing does not reveal which ids exist.
        self._dummy_hash = self._hasher.hash("teaclave-py timing equaliser")

    def hash(self, password: str) -> str:
        """The encoded argon2id hash of ``password`` (fresh random salt)."""
        return self._hasher.hash(password)

    def verify(self, encoded: str, password: str) -> bool:
        """True if ``password`` matches ``encoded``; False for a mismatch or a corrupt hash."""
        try:
            return self._hasher.verify(encoded, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def burn(self, password: str) -> None:
        """Spend the time of one verification without a user (unknown-id logins)."""
        self.verify(self._dummy_hash, password)

    def needs_rehash(self, encoded: str) -> bool:
        """True if ``encoded`` was made with other parameters than the configured ones."""
        try:
            return self._hasher.check_needs_rehash(encoded)
        except (InvalidHashError, ValueError):
            return True
