"""A real access-control service on loopback TLS (started through TeeBinder)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from service_runner import RunningService

from teaclave.config.build import ACCESS_CONTROL, FRONTEND
from teaclave.config.runtime import RuntimeConfig, default_dict
from teaclave.rpc.clients.access_control import AccessControlClient
from teaclave.services.embedded import free_port
from teaclave.services.launcher import service_identity


class AccessControlPlatform(RunningService):
    """The running service, its config and a factory of clients with a given identity."""

    def __init__(self, config: RuntimeConfig) -> None:
        super().__init__(ACCESS_CONTROL, config)

    def client(self, identity_name: str = FRONTEND) -> AccessControlClient:
        identity, verifier = service_identity(self.config, identity_name)
        return AccessControlClient.connect(self.config, identity, verifier)


@pytest.fixture(scope="module")
def access_control(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AccessControlPlatform]:
    state_dir = tmp_path_factory.mktemp("access_control")
    raw = default_dict(
        host="127.0.0.1",
        state_dir=str(state_dir),
        api_ports={"authentication": free_port(), "frontend": free_port()},
        internal_ports={"access_control": free_port()},
    )
    platform = AccessControlPlatform(RuntimeConfig.from_dict(raw))
    yield platform
    platform.stop()


@pytest.fixture(scope="module")
def frontend_client(access_control: AccessControlPlatform) -> Iterator[AccessControlClient]:
    client = access_control.client()
    yield client
    client.close()


@pytest.fixture
def make_client(
    access_control: AccessControlPlatform,
) -> Iterator[Callable[[str], AccessControlClient]]:
    clients: list[AccessControlClient] = []

    def make(identity_name: str = FRONTEND) -> AccessControlClient:
        client = access_control.client(identity_name)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
