"""Helpers for the functional suite: platform configuration and logged-in clients."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from teaclave.config import RuntimeConfig
from teaclave.sdk import AuthenticationService, FrontendService
from teaclave.services.embedded import EmbeddedPlatform, free_port_config

ADMIN_PASSWORD = "functional-admin-password"
USER_PASSWORD = "test_password"

CHEAP_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1}


def platform_config(state_dir: Path, **overrides: dict[str, object]) -> RuntimeConfig:
    """Free ports, cheap password hashing, fast liveness and audit flushing."""
    sections: dict[str, dict[str, object]] = {
        "authentication": {"admin_password": ADMIN_PASSWORD, **CHEAP_ARGON2},
        "scheduler": {"executor_timeout_secs": 2.0, "heartbeat_wait_secs": 0.2},
        "frontend": {"audit_flush_secs": 0.1},
    }
    for section, values in overrides.items():
        sections.setdefault(section, {}).update(values)
    return free_port_config(state_dir, "127.0.0.1", **sections)


@dataclass
class Platform:
    """A running platform plus helpers to get logged-in clients."""

    platform: EmbeddedPlatform

    @property
    def config(self) -> RuntimeConfig:
        return self.platform.config

    def auth(self) -> AuthenticationService:
        return AuthenticationService(
            self.platform.authentication_address,
            self.platform.attestation_root_path,
            self.platform.enclave_info_path,
        ).connect()

    def admin_auth(self) -> AuthenticationService:
        client = self.auth()
        client.user_login("admin", ADMIN_PASSWORD)
        return client

    def frontend(self, user: str, password: str = USER_PASSWORD) -> FrontendService:
        with self.auth() as auth:
            token = auth.user_login(user, password)
        client = FrontendService(
            self.platform.frontend_address,
            self.platform.attestation_root_path,
            self.platform.enclave_info_path,
        )
        client.connect().metadata = {"id": user, "token": token}
        return client

    def new_user(
        self, role: str = "PlatformAdmin", attribute: str = "", prefix: str = "user"
    ) -> str:
        """Register a fresh user (by admin) and return its id."""
        user = f"{prefix}_{next(_counter)}"
        with self.admin_auth() as admin:
            admin.user_register(user, USER_PASSWORD, role, attribute)
        return user


_counter = itertools.count(1)
