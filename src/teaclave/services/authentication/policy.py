"""Who may manage which accounts (Teaclave's table, with the UserUpdate quirk fixed).

===================  ======================  ===========================  ============
caller               UserRegister: new role  UserUpdate / Reset / Delete  ListUsers
===================  ======================  ===========================  ============
PlatformAdmin        any                     any account (any new role)   all accounts
DataOwnerManager(x)  DataOwner(x)            DataOwner(x) accounts        id == x only
                                             (update: to DataOwner(x))
FunctionOwner        DataOwnerManager(any)   denied                       denied
DataOwner, Invalid   denied                  denied                       denied
===================  ======================  ===========================  ============

Divergence: Teaclave lets a DataOwnerManager(x) update *any* account into DataOwner(x)
(resetting its password on the way); here the target must already be a DataOwner(x).
"""

from __future__ import annotations

from teaclave.types.roles import RoleKind, UserRole


def may_register(caller: UserRole, new_role: UserRole) -> bool:
    """Whether ``caller`` may create an account with ``new_role``."""
    if caller.is_platform_admin:
        return True
    if caller.kind is RoleKind.DATA_OWNER_MANAGER:
        return new_role == UserRole(RoleKind.DATA_OWNER, caller.attribute)
    if caller.is_function_owner:
        return new_role.kind is RoleKind.DATA_OWNER_MANAGER
    return False


def may_update_to(caller: UserRole, new_role: UserRole) -> bool:
    """Whether ``caller`` may update some account to ``new_role`` (target not yet known)."""
    if caller.is_platform_admin:
        return True
    if caller.kind is RoleKind.DATA_OWNER_MANAGER:
        return new_role == UserRole(RoleKind.DATA_OWNER, caller.attribute)
    return False


def may_manage(caller: UserRole, target_role: UserRole) -> bool:
    """Whether ``caller`` may update, reset or delete an account with ``target_role``."""
    if caller.is_platform_admin:
        return True
    if caller.kind is RoleKind.DATA_OWNER_MANAGER:
        return target_role == UserRole(RoleKind.DATA_OWNER, caller.attribute)
    return False


def may_list(caller: UserRole, attribute: str) -> bool:
    """Whether ``caller`` may list users for ``attribute`` (``ListUsersRequest.id``)."""
    if caller.is_platform_admin:
        return True
    if caller.kind is RoleKind.DATA_OWNER_MANAGER:
        return caller.attribute == attribute
    return False


def listed_by(caller: UserRole, attribute: str, role: UserRole) -> bool:
    """Whether an account with ``role`` is in ``caller``'s ListUsers answer for ``attribute``.

    PlatformAdmin sees everybody; a DataOwnerManager(x) sees exactly the DataOwner(x) accounts
    (other managers of x are not listed), as in Teaclave.
    """
    if caller.is_platform_admin:
        return True
    return role == UserRole(RoleKind.DATA_OWNER, attribute)
