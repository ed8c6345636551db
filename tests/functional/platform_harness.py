"""Helpers for the functional suite: platform configuration, logged-in clients, served files."""

from __future__ import annotations

import itertools
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from teaclave.cli.file_server import FileServer
from teaclave.config import RuntimeConfig
from teaclave.crypto.protected_fs import ProtectedFileReader, ProtectedFileWriter
from teaclave.sdk import AuthenticationService, FrontendService
from teaclave.services.embedded import EmbeddedPlatform, free_port_config

ADMIN_PASSWORD = "functional-admin-password"
USER_PASSWORD = "test_password"

CHEAP_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1}

TEACLAVE_FIXTURES = Path(__file__).resolve().parents[2] / "../shared/fixtures/teaclave"


def skip_without(fixtures: Path) -> pytest.MarkDecorator:
    """Skip where Teaclave's fixtures (``fixtures``, a part of them) are not checked out."""
    return pytest.mark.skipif(
        not fixtures.exists(), reason="Teaclave fixtures not found at ../shared/fixtures/teaclave"
    )


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


@contextmanager
def served_platform(
    state_dir: Path, server: FileServer, **overrides: dict[str, object]
) -> Iterator[Platform]:
    """A one-worker platform whose file agent may fetch from and upload to ``server``."""
    config = platform_config(
        state_dir,
        file_agent={"allowed_hosts": [f"127.0.0.1:{server.port}"], "timeout_secs": 5.0},
        **overrides,
    )
    with EmbeddedPlatform(config, workers=1) as running:
        yield Platform(running)


def root_of(server: FileServer) -> Path:
    """The directory ``server`` serves."""
    return Path(server.httpd.RequestHandlerClass.root)  # type: ignore[attr-defined]


def fetch(server: FileServer, name: str) -> bytes:
    """Download ``name`` from ``server`` over HTTP."""
    with urllib.request.urlopen(server.url(name)) as response:
        return bytes(response.read())


def publish_encrypted(server: FileServer, name: str, data: bytes, key: bytes) -> bytes:
    """Encrypt ``data`` as a teaclave-file-128 served as ``name``; return its cmac."""
    with ProtectedFileWriter(root_of(server) / name, key) as writer:
        writer.write(data)
    return writer.close()


def fetch_protected(server: FileServer, name: str, key: bytes, tag: bytes | None = None) -> bytes:
    """Download the teaclave-file-128 ``name`` and decrypt it (checking ``tag`` when given)."""
    local = root_of(server) / "check" / name
    local.parent.mkdir(exist_ok=True)
    local.write_bytes(fetch(server, name))
    with ProtectedFileReader(local, key, expected_tag=tag) as reader:
        return reader.read()
