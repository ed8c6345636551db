"""User roles and their string forms (JWT ``role`` claim, ``role`` metadata)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class RoleKind(Enum):
    """The closed set of role kinds; two of them carry an attribute (organisation tag)."""

    PLATFORM_ADMIN = "PlatformAdmin"
    FUNCTION_OWNER = "FunctionOwner"
    DATA_OWNER_MANAGER = "DataOwnerManager"
    DATA_OWNER = "DataOwner"
    INVALID = "Invalid"


_WITH_ATTRIBUTE = (RoleKind.DATA_OWNER_MANAGER, RoleKind.DATA_OWNER)


@dataclass(frozen=True, slots=True)
class UserRole:
    """A role such as ``PlatformAdmin`` or ``DataOwner-bank1`` (kind plus attribute)."""

    kind: RoleKind
    attribute: str = ""

    @classmethod
    def from_request(cls, role: str, attribute: str) -> UserRole:
        """Build from a register/update request's ``role`` and ``attribute`` fields.

        Unknown role names (including ``""``) give the ``Invalid`` role, as in Teaclave.
        """
        try:
            kind = RoleKind(role)
        except ValueError:
            return cls(RoleKind.INVALID)
        if kind in _WITH_ATTRIBUTE:
            return cls(kind, attribute)
        return cls(kind)

    @classmethod
    def parse(cls, text: str) -> UserRole:
        """Parse the string form (``DataOwner-x``, ``DataOwnerManager-x``, ...)."""
        if text == RoleKind.PLATFORM_ADMIN.value:
            return cls(RoleKind.PLATFORM_ADMIN)
        if text == RoleKind.FUNCTION_OWNER.value:
            return cls(RoleKind.FUNCTION_OWNER)
        # "DataOwnerManager-" must be tested before "DataOwner-" would not match it anyway,
        # since "DataOwner-" requires the dash right after "DataOwner".
        for kind in _WITH_ATTRIBUTE:
            prefix = kind.value + "-"
            if text.startswith(prefix):
                return cls(kind, text[len(prefix) :])
        return cls(RoleKind.INVALID)

    def __str__(self) -> str:
        if self.kind in _WITH_ATTRIBUTE:
            return f"{self.kind.value}-{self.attribute}"
        return self.kind.value

    @property
    def api_role(self) -> str:
        """The part of the string form before the first dash, used by the API ACL."""
        return self.kind.value

    @property
    def is_platform_admin(self) -> bool:
        """True for ``PlatformAdmin``."""
        return self.kind is RoleKind.PLATFORM_ADMIN

    @property
    def is_function_owner(self) -> bool:
        """True for ``FunctionOwner``."""
        return self.kind is RoleKind.FUNCTION_OWNER

    @property
    def is_data_owner(self) -> bool:
        """True for both ``DataOwner`` and ``DataOwnerManager``."""
        return self.kind in _WITH_ATTRIBUTE

    @property
    def is_valid(self) -> bool:
        """False only for ``Invalid``."""
        return self.kind is not RoleKind.INVALID

    def debug_form(self) -> str:
        """Rust ``Debug`` form used in audit entries, e.g. ``DataOwner("bank1")``."""
        if self.kind in _WITH_ATTRIBUTE:
            return f'{self.kind.value}("{self.attribute}")'
        return self.kind.value
