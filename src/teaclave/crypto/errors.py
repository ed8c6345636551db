"""Errors of the ``teaclave.crypto`` layer.

Every failure to read an encrypted file is a specific subclass of :class:`CryptoError` whose
message names what failed (which node, which field, expected versus actual values), so a caller
can map any of them to one user-facing error without losing the detail.

Programming errors in the arguments (a key or IV of the wrong size, an unknown scheme name) are
plain :class:`ValueError`, never a :class:`CryptoError`.
"""

from __future__ import annotations

__all__ = ["CryptoError", "FormatError", "IntegrityError", "NameMismatch", "TagMismatch"]


class CryptoError(Exception):
    """Base class: an encrypted file could not be produced or accepted."""


class TagMismatch(CryptoError):
    """The file's tag (GCM tag / protected-FS root GMAC) differs from the expected one."""

    def __init__(self, expected: bytes, actual: bytes, what: str = "tag") -> None:
        super().__init__(f"{what} mismatch: expected {expected.hex()}, got {actual.hex()}")
        self.expected = expected
        self.actual = actual


class IntegrityError(CryptoError):
    """Authentication of a node or ciphertext failed.

    Causes: a flipped bit, a swapped or replayed node, or a wrong key. The message names the
    node, e.g. ``"data node 3 (physical 5)"``.
    """


class NameMismatch(CryptoError):
    """The file name stored in a protected file differs from the expected one."""

    def __init__(self, expected: bytes, actual: bytes) -> None:
        super().__init__(
            f"protected file name mismatch: the file stores {actual!r}, expected {expected!r}"
            " (a teaclave-file-128 file must keep the base name it was encrypted under)"
        )
        self.expected = expected
        self.actual = actual


class FormatError(CryptoError):
    """Not a file of this format: bad magic/header fields, bad sizes, truncated or extended."""
