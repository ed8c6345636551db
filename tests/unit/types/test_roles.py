"""UserRole: request construction, string form, parsing and predicates (spec §2.1)."""

from __future__ import annotations

import pytest

from teaclave.types.roles import RoleKind, UserRole


@pytest.mark.parametrize(
    ("role", "attribute", "text"),
    [
        ("PlatformAdmin", "", "PlatformAdmin"),
        ("PlatformAdmin", "ignored", "PlatformAdmin"),
        ("FunctionOwner", "", "FunctionOwner"),
        ("DataOwnerManager", "bank1", "DataOwnerManager-bank1"),
        ("DataOwner", "bank1", "DataOwner-bank1"),
        ("DataOwner", "", "DataOwner-"),
        ("DataOwner", "a-b", "DataOwner-a-b"),
        ("", "", "Invalid"),
        ("Admin", "", "Invalid"),
        ("dataowner", "x", "Invalid"),
    ],
)
def test_from_request_and_string_form(role, attribute, text):
    parsed = UserRole.from_request(role, attribute)
    assert str(parsed) == text
    assert UserRole.parse(text) == parsed


@pytest.mark.parametrize(
    ("text", "kind", "attribute"),
    [
        ("PlatformAdmin", RoleKind.PLATFORM_ADMIN, ""),
        ("FunctionOwner", RoleKind.FUNCTION_OWNER, ""),
        ("DataOwner-x", RoleKind.DATA_OWNER, "x"),
        ("DataOwnerManager-x", RoleKind.DATA_OWNER_MANAGER, "x"),
        ("DataOwner", RoleKind.INVALID, ""),
        ("DataOwnerManager", RoleKind.INVALID, ""),
        ("PlatformAdmin-x", RoleKind.INVALID, ""),
        ("Invalid", RoleKind.INVALID, ""),
        ("", RoleKind.INVALID, ""),
    ],
)
def test_parse(text, kind, attribute):
    assert UserRole.parse(text) == UserRole(kind, attribute)


def test_api_role_is_the_part_before_the_first_dash():
    assert UserRole.parse("DataOwner-a-b").api_role == "DataOwner"
    assert UserRole.parse("DataOwnerManager-x").api_role == "DataOwnerManager"
    assert UserRole.parse("PlatformAdmin").api_role == "PlatformAdmin"


def test_predicates():
    admin, fo = UserRole.parse("PlatformAdmin"), UserRole.parse("FunctionOwner")
    dom, do, bad = (UserRole.parse(t) for t in ("DataOwnerManager-x", "DataOwner-x", "?"))
    assert admin.is_platform_admin and not fo.is_platform_admin
    assert fo.is_function_owner and not dom.is_function_owner
    assert dom.is_data_owner and do.is_data_owner
    assert not admin.is_data_owner and not fo.is_data_owner
    assert not bad.is_valid and do.is_valid
    assert dom != UserRole.parse("DataOwnerManager-y")
    assert do != UserRole.parse("DataOwnerManager-x")


def test_debug_form():
    assert UserRole.parse("DataOwner-bank1").debug_form() == 'DataOwner("bank1")'
    assert UserRole.parse("PlatformAdmin").debug_form() == "PlatformAdmin"
