"""Real authentication services on loopback TLS (started through TeeBinder) and clients."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import empty_pb2
from service_runner import RunningService

from teaclave.config.build import AUTHENTICATION, FRONTEND
from teaclave.config.runtime import RuntimeConfig, default_dict
from teaclave.proto import teaclave_authentication_service_pb2 as pb
from teaclave.rpc.apis import TeaclaveAuthenticationApi
from teaclave.rpc.channel import ServiceClient, connect
from teaclave.rpc.clients.authentication import AuthenticationInternalClient
from teaclave.services.embedded import free_port
from teaclave.services.launcher import service_identity

ADMIN_PASSWORD = "unit-admin-password"
PASSWORD = "test_password"
CHEAP_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1}


def auth_config(state_dir: Path, **authentication: Any) -> RuntimeConfig:
    """Fresh ports for both authentication endpoints, cheap argon2, given overrides."""
    raw = default_dict(
        host="127.0.0.1",
        state_dir=str(state_dir),
        api_ports={"authentication": free_port(), "frontend": free_port()},
        internal_ports={"authentication": free_port()},
    )
    raw["authentication"] = {**CHEAP_ARGON2, **authentication}
    return RuntimeConfig.from_dict(raw)


class Api:
    """A user-facing client of the API endpoint (one-way attested TLS, no client identity)."""

    def __init__(self, config: RuntimeConfig) -> None:
        _, verifier = service_identity(config, FRONTEND)
        target = config.api_endpoints["authentication"].target
        self.channel = connect(target, AUTHENTICATION, verifier, None, timeout=10)
        self.client = ServiceClient(self.channel, TeaclaveAuthenticationApi)

    def call(self, rpc: str, request: Any, response: Any, **metadata: str) -> Any:
        return self.client.call(rpc, request, response, metadata=metadata, timeout=10)

    def login(self, user_id: str, password: str = PASSWORD) -> str:
        return str(
            self.call(
                "UserLogin",
                pb.UserLoginRequest(id=user_id, password=password),
                pb.UserLoginResponse,
            ).token
        )

    def as_user(self, user_id: str, token: str) -> dict[str, str]:
        return {"id": user_id, "token": token}

    def register(
        self,
        cred: dict[str, str],
        user_id: str,
        role: str,
        attribute: str = "",
        password: str = PASSWORD,
    ) -> None:
        request = pb.UserRegisterRequest(
            id=user_id, password=password, role=role, attribute=attribute
        )
        self.call("UserRegister", request, empty_pb2.Empty, **cred)

    def update(
        self,
        cred: dict[str, str],
        user_id: str,
        role: str,
        attribute: str = "",
        password: str = PASSWORD,
    ) -> None:
        request = pb.UserUpdateRequest(
            id=user_id, password=password, role=role, attribute=attribute
        )
        self.call("UserUpdate", request, empty_pb2.Empty, **cred)

    def change_password(self, cred: dict[str, str], password: str) -> None:
        request = pb.UserChangePasswordRequest(password=password)
        self.call("UserChangePassword", request, empty_pb2.Empty, **cred)

    def reset_password(self, cred: dict[str, str], user_id: str) -> str:
        request = pb.ResetUserPasswordRequest(id=user_id)
        return str(
            self.call("ResetUserPassword", request, pb.ResetUserPasswordResponse, **cred).password
        )

    def delete(self, cred: dict[str, str], user_id: str) -> None:
        self.call("DeleteUser", pb.DeleteUserRequest(id=user_id), empty_pb2.Empty, **cred)

    def list_users(self, cred: dict[str, str], attribute: str) -> list[str]:
        request = pb.ListUsersRequest(id=attribute)
        return list(self.call("ListUsers", request, pb.ListUsersResponse, **cred).ids)

    def close(self) -> None:
        self.client.close()


class AuthPlatform:
    """One running authentication service plus clients and user helpers."""

    ADMIN_PASSWORD = ADMIN_PASSWORD
    PASSWORD = PASSWORD

    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config
        self.service = RunningService(AUTHENTICATION, config)
        self.api = Api(config)
        identity, verifier = service_identity(config, FRONTEND)
        self.internal = AuthenticationInternalClient.connect(config, identity, verifier)
        self._ids = itertools.count(1)
        self.closed = False

    @property
    def state_dir(self) -> Path:
        return Path(self.config.state_dir)

    def admin(self) -> dict[str, str]:
        password = self.config.authentication.admin_password or "teaclave"
        return {"id": "admin", "token": self.api.login("admin", password)}

    def new_user(self, role: str, attribute: str = "", prefix: str = "user") -> dict[str, str]:
        """Register a fresh user (by admin), log it in and return its credential."""
        user_id = f"{prefix}_{next(self._ids)}"
        self.api.register(self.admin(), user_id, role, attribute)
        return {"id": user_id, "token": self.api.login(user_id)}

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.api.close()
        self.internal.close()
        self.service.stop()


@pytest.fixture(scope="module")
def auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthPlatform]:
    """A running service (admin bootstrapped with ADMIN_PASSWORD) shared by a test module."""
    platform = AuthPlatform(
        auth_config(tmp_path_factory.mktemp("auth"), admin_password=ADMIN_PASSWORD)
    )
    yield platform
    platform.close()


@pytest.fixture
def start_auth(tmp_path: Path) -> Iterator[Callable[..., AuthPlatform]]:
    """Start services on ``tmp_path`` (or a given state dir) with config overrides."""
    started: list[AuthPlatform] = []

    def start(state_dir: Path | None = None, **authentication: Any) -> AuthPlatform:
        platform = AuthPlatform(auth_config(state_dir or tmp_path, **authentication))
        started.append(platform)
        return platform

    yield start
    for platform in started:
        platform.close()
