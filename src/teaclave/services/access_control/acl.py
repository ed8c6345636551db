"""The API-level access-control table: which roles may call which frontend RPC.

Teaclave keeps this as a casbin RBAC policy (``policy.csv``: the groups ``rule_function_owner``
and ``rule_data_owner``) plus a matcher that lets ``PlatformAdmin`` do everything. Here it is
the table itself: API name (snake_case frontend RPC) → roles allowed besides PlatformAdmin.
APIs not listed (``query_audit_logs``, unknown names) are PlatformAdmin-only; the ``Invalid``
role and unknown roles may do nothing.
"""

from __future__ import annotations

from typing import Final

PLATFORM_ADMIN: Final = "PlatformAdmin"
FUNCTION_OWNER: Final = "FunctionOwner"
DATA_OWNER_MANAGER: Final = "DataOwnerManager"
DATA_OWNER: Final = "DataOwner"

_FO = frozenset({FUNCTION_OWNER})
_DATA = frozenset({DATA_OWNER_MANAGER, DATA_OWNER})
_ALL = _FO | _DATA

#: API → roles allowed (PlatformAdmin is always allowed and not listed).
API_ACL: Final[dict[str, frozenset[str]]] = {
    # functions
    "register_function": _FO,
    "update_function": _FO,
    "delete_function": _FO,
    "disable_function": _FO,
    "get_function": _ALL,
    "list_functions": _ALL,
    "get_function_usage_stats": _ALL,
    # data
    "register_input_file": _DATA,
    "register_output_file": _DATA,
    "update_input_file": _DATA,
    "update_output_file": _DATA,
    "register_fusion_output": _DATA,
    "register_input_from_output": _DATA,
    "get_input_file": _DATA,
    "get_output_file": _DATA,
    # tasks
    "create_task": _DATA,
    "get_task": _DATA,
    "assign_data": _DATA,
    "approve_task": _DATA,
    "invoke_task": _DATA,
    "cancel_task": _DATA,
    # query_audit_logs and anything else: PlatformAdmin only
}

#: Role kinds whose full string form carries an attribute (``DataOwner-bank1``).
_WITH_ATTRIBUTE: Final = frozenset({DATA_OWNER_MANAGER, DATA_OWNER})


def api_role(user_role: str) -> str:
    """The role name the table is keyed by: the part before the first ``-``.

    ``DataOwner-x`` → ``DataOwner``. A dash after a role without an attribute
    (``PlatformAdmin-x``) is not a role at all and yields ``""``.
    """
    kind, dash, _ = user_role.partition("-")
    if dash and kind not in _WITH_ATTRIBUTE:
        return ""
    return kind


def authorize_api(user_role: str, api: str) -> bool:
    """Whether a user with ``user_role`` (``DataOwner`` or ``DataOwner-x``) may call ``api``."""
    role = api_role(user_role)
    if role == PLATFORM_ADMIN:
        return True
    return role in API_ACL.get(api, frozenset())
