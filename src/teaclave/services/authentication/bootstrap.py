"""The first PlatformAdmin: created from configuration, never built in.

Teaclave creates ``admin``/``teaclave`` at every start. Here an account is created only when
the operator asks for one: ``admin_password`` (``--admin-password``, env
``TEACLAVE_ADMIN_PASSWORD``) creates ``admin`` with that password; ``dev`` creates Teaclave's
``admin``/``teaclave`` (for Teaclave's examples) with a loud warning. An existing ``admin`` is
never touched.
"""

from __future__ import annotations

import logging

from teaclave.config.runtime import AuthenticationConfig
from teaclave.services.authentication.passwords import PasswordHasher
from teaclave.services.authentication.user_db import UserDb, UserExists, UserInfo
from teaclave.types.roles import RoleKind, UserRole

log = logging.getLogger(__name__)

ADMIN_ID = "admin"
DEV_ADMIN_PASSWORD = "teaclave"

DEV_WARNING = """
**************************************************************************************
** DEVELOPMENT MODE: created the PlatformAdmin account "admin" with the well-known
** password "teaclave". It exists only so that Teaclave's examples run unchanged.
** Anybody who can reach the authentication endpoint can log in as this administrator.
** Never use --dev (authentication.dev = true) on a platform that holds real data.
**************************************************************************************"""

NO_ADMIN_WARNING = (
    "the user database has no PlatformAdmin, so nobody can register users. Create the "
    "first one by starting the authentication service with --admin-password PASSWORD "
    "(or TEACLAVE_ADMIN_PASSWORD=PASSWORD, or [authentication] admin_password), which creates "
    'the PlatformAdmin "admin"; for Teaclave\'s examples only, --dev creates admin/teaclave.'
)


def _create_admin(db: UserDb, hasher: PasswordHasher, password: str) -> bool:
    """Create ``admin`` as PlatformAdmin unless it exists; True if created."""
    if db.exists(ADMIN_ID):
        return False
    user = UserInfo(ADMIN_ID, UserRole(RoleKind.PLATFORM_ADMIN), hasher.hash(password))
    try:
        db.create(user)
    except UserExists:
        return False
    return True


def bootstrap_admin(db: UserDb, hasher: PasswordHasher, config: AuthenticationConfig) -> None:
    """Create the configured first administrator, or warn that there is none."""
    if config.admin_password and _create_admin(db, hasher, config.admin_password):
        log.info('created the PlatformAdmin "%s" from the configured admin password', ADMIN_ID)
    if config.dev and _create_admin(db, hasher, DEV_ADMIN_PASSWORD):
        log.warning(DEV_WARNING)
    if not any(user.role.is_platform_admin for user in db.list_users()):
        log.warning(NO_ADMIN_WARNING)
