"""UserRole: request construction, string form and parsing (spec §2.1)."""

from __future__ import annotations

import pytest

from teaclave.types.roles import RoleKind, UserRole


@pytest.mark.parametrize(
    ("role", "attribute", "expected"),
    [
        ("PlatformAdmin", "ignored", UserRole(RoleKind.PLATFORM_ADMIN)),
        ("FunctionOwner", "ignored", UserRole(RoleKind.FUNCTION_OWNER)),
        ("DataOwnerManager", "bank", UserRole(RoleKind.DATA_OWNER_MANAGER, "bank")),
        ("DataOwner", "bank", UserRole(RoleKind.DATA_OWNER, "bank")),
        ("DataOwner", "", UserRole(RoleKind.DATA_OWNER, "")),
        ("", "x", UserRole(RoleKind.INVALID)),
        ("Invalid", "", UserRole(RoleKind.INVALID)),
        ("platformadmin", "", UserRole(RoleKind.INVALID)),
        ("DataOwner-bank", "", UserRole(RoleKind.INVALID)),
    ],
)
def test_from_request(role: str, attribute: str, expected: UserRole):
    assert UserRole.from_request(role, attribute) == expected


@pytest.mark.parametrize(
    ("role", "text"),
    [
        (UserRole(RoleKind.PLATFORM_ADMIN), "PlatformAdmin"),
        (UserRole(RoleKind.FUNCTION_OWNER), "FunctionOwner"),
        (UserRole(RoleKind.DATA_OWNER_MANAGER, "x"), "DataOwnerManager-x"),
        (UserRole(RoleKind.DATA_OWNER, "x"), "DataOwner-x"),
        (UserRole(RoleKind.DATA_OWNER, ""), "DataOwner-"),
        (UserRole(RoleKind.DATA_OWNER_MANAGER, ""), "DataOwnerManager-"),
        (UserRole(RoleKind.DATA_OWNER, "a-b"), "DataOwner-a-b"),
        (UserRole(RoleKind.INVALID), "Invalid"),
    ],
)
def test_string_form_and_parse_round_trip(role: UserRole, text: str):
    assert str(role) == text
    assert UserRole.parse(text) == role


def test_data_owner_manager_is_not_mistaken_for_data_owner():
    manager = UserRole.parse("DataOwnerManager-x")
    assert manager.kind is RoleKind.DATA_OWNER_MANAGER
    assert manager.attribute == "x"
    # "DataOwnerManager-x" does start with "DataOwner" but not with "DataOwner-".
    owner = UserRole.parse("DataOwner-Manager-x")
    assert owner.kind is RoleKind.DATA_OWNER
    assert owner.attribute == "Manager-x"


@pytest.mark.parametrize(
    "text",
    ["", "DataOwner", "DataOwnerManager", "PlatformAdmin-x", "platformadmin", " DataOwner-x"],
)
def test_anything_else_parses_as_invalid(text: str):
    role = UserRole.parse(text)
    assert role.kind is RoleKind.INVALID
    assert not role.is_valid


def test_request_round_trips_through_the_string_form():
    for role, attribute in [
        ("PlatformAdmin", ""),
        ("FunctionOwner", ""),
        ("DataOwnerManager", "org"),
        ("DataOwner", "org"),
        ("DataOwner", ""),
    ]:
        built = UserRole.from_request(role, attribute)
        assert UserRole.parse(str(built)) == built
        assert built.api_role == role


def test_predicates():
    admin = UserRole.parse("PlatformAdmin")
    owner = UserRole.parse("FunctionOwner")
    data = UserRole.parse("DataOwner-a")
    manager = UserRole.parse("DataOwnerManager-a")
    assert admin.is_platform_admin and not admin.is_data_owner and not admin.is_function_owner
    assert owner.is_function_owner and not owner.is_platform_admin and not owner.is_data_owner
    assert data.is_data_owner and manager.is_data_owner
    assert not manager.is_platform_admin
    assert all(r.is_valid for r in (admin, owner, data, manager))


def test_api_role_is_the_part_before_the_dash():
    assert UserRole.parse("DataOwner-x").api_role == "DataOwner"
    assert UserRole.parse("DataOwnerManager-x").api_role == "DataOwnerManager"
    assert UserRole.parse("PlatformAdmin").api_role == "PlatformAdmin"


def test_debug_form_matches_rust_debug_output():
    assert UserRole.parse("DataOwner-bank1").debug_form() == 'DataOwner("bank1")'
    assert UserRole.parse("DataOwnerManager-").debug_form() == 'DataOwnerManager("")'
    assert UserRole.parse("PlatformAdmin").debug_form() == "PlatformAdmin"
