"""A real embedded platform (all seven services + one worker on loopback TLS) for the suite."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from platform_harness import Platform, platform_config

from teaclave.cli.file_server import FileServer
from teaclave.sdk import FrontendService
from teaclave.services.embedded import EmbeddedPlatform


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    state = tmp_path_factory.mktemp("platform")
    with EmbeddedPlatform(platform_config(state), workers=1) as running:
        yield Platform(running)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FileServer]:
    """A test module's HTTP file server (its platform's inputs and uploaded outputs)."""
    with FileServer(tmp_path_factory.mktemp("files")) as server:
        yield server


@pytest.fixture
def user_frontend(platform: Platform) -> Iterator[Callable[..., FrontendService]]:
    """Factory: a fresh user's logged-in frontend client (closed after the test)."""
    opened: list[FrontendService] = []

    def make(role: str = "PlatformAdmin", attribute: str = "") -> FrontendService:
        client = platform.frontend(platform.new_user(role, attribute))
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()
