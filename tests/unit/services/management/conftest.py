"""A real storage service and a real management service on loopback, shared by this directory.

Tests talk to management as the frontend does (mutual TLS with the frontend identity, ``id``
and ``role`` metadata) and look at the storage service directly when they need to see what
was written.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message

from teaclave.binder import ECallCommand, StartServiceInput, StartServiceOutput, TeeBinder
from teaclave.config.build import FRONTEND, MANAGEMENT, STORAGE
from teaclave.config.runtime import RuntimeConfig, default_dict
from teaclave.proto import teaclave_common_pb2 as common_pb
from teaclave.proto import teaclave_frontend_service_pb2 as fe
from teaclave.rpc.apis import TeaclaveManagement
from teaclave.rpc.channel import ServiceClient, connect
from teaclave.rpc.clients.storage import StorageClient
from teaclave.rpc.errors import RemoteError
from teaclave.rpc.service import message_class
from teaclave.services.embedded import free_port
from teaclave.services.launcher import service_identity
from teaclave.services.management.mock_data import insert_mock_data
from teaclave.services.storage.service import DATABASE_FILE
from teaclave.types.errors import StatusCode

ADMIN = "PlatformAdmin"

_RESPONSES = {m.name: message_class(m.output_type) for m in TeaclaveManagement.methods}


def _start(name: str, config: RuntimeConfig) -> TeeBinder:
    tee = TeeBinder(name)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            tee.invoke(ECallCommand.START_SERVICE, StartServiceInput(config), StartServiceOutput)
        except BaseException as exc:
            failure.append(exc)

    threading.Thread(target=run, name=f"{name}-test", daemon=True).start()
    if not tee.wait_ready(15):
        raise RuntimeError(f"{name} did not start: {failure}")
    return tee


@dataclass
class Platform:
    """The running services plus ways to look at them."""

    config: RuntimeConfig
    state_dir: Path
    storage: StorageClient
    management_target: str

    def client(self, identity_name: str = FRONTEND) -> ServiceClient:
        identity, verifier = service_identity(self.config, identity_name)
        channel = connect(self.management_target, MANAGEMENT, verifier, identity)
        return ServiceClient(channel, TeaclaveManagement)

    def snapshot(self) -> tuple[list[Any], list[Any]]:
        """Every key-value row and queue element the storage service holds."""
        db = sqlite3.connect(f"file:{self.state_dir / DATABASE_FILE}?mode=ro", uri=True)
        try:
            kv = db.execute("SELECT key, value FROM kv ORDER BY key").fetchall()
            queue = db.execute("SELECT name, seq, value FROM queue ORDER BY name, seq").fetchall()
        finally:
            db.close()
        return kv, queue

    def drain(self, queue: bytes) -> list[bytes]:
        """Dequeue everything currently on ``queue``."""
        items = []
        while (item := self.storage.dequeue(queue)) is not None:
            items.append(item)
        return items

    def record(self, key: str) -> Any:
        return self.storage.get_json(key.encode())


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    state_dir = tmp_path_factory.mktemp("management-state")
    ports = {"storage": free_port(), "management": free_port()}
    config = RuntimeConfig.from_dict(default_dict(state_dir=str(state_dir), internal_ports=ports))
    tees = [_start(STORAGE, config)]
    try:
        tees.append(_start(MANAGEMENT, config))
        identity, verifier = service_identity(config, MANAGEMENT)
        storage = StorageClient.connect(config, identity, verifier)
        insert_mock_data(storage)
        yield Platform(config, state_dir, storage, config.internal_endpoints["management"].target)
        storage.close()
    finally:
        for tee in reversed(tees):
            tee.finalize()


class Management:
    """Calls management RPCs as a given user and role, like the frontend forwards them."""

    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    def call(
        self,
        rpc: str,
        request: Message,
        user: str | None = "mock_user",
        role: str | None = ADMIN,
    ) -> Any:
        metadata = {}
        if user is not None:
            metadata["id"] = user
        if role is not None:
            metadata["role"] = role
        return self.client.call(rpc, request, _RESPONSES[rpc], metadata=metadata, timeout=10)

    def fail(
        self,
        code: StatusCode,
        rpc: str,
        request: Message,
        user: str | None = "mock_user",
        role: str | None = ADMIN,
    ) -> str:
        """Call and expect the error ``code``; return its message."""
        with pytest.raises(RemoteError) as info:
            self.call(rpc, request, user, role)
        assert info.value.code is code, f"{rpc}: {info.value.code.name}: {info.value.message}"
        return info.value.message

    # ------------------------------------------------------------------ shortcuts
    def input_file(
        self, user: str, url: str = "https://host/in", cmac: bytes = b"\x01" * 16
    ) -> str:
        request = fe.RegisterInputFileRequest(url=url, cmac=cmac, crypto_info=crypto())
        return str(self.call("RegisterInputFile", request, user).data_id)

    def output_file(self, user: str, url: str = "https://host/out") -> str:
        request = fe.RegisterOutputFileRequest(url=url, crypto_info=crypto())
        return str(self.call("RegisterOutputFile", request, user).data_id)

    def fusion_output(self, user: str, owners: list[str]) -> str:
        request = fe.RegisterFusionOutputRequest(owner_list=owners)
        return str(self.call("RegisterFusionOutput", request, user).data_id)

    def function(self, user: str, role: str = ADMIN, **fields: Any) -> str:
        fields.setdefault("name", "mock_function")
        fields.setdefault("executor_type", "python")
        fields.setdefault("payload", b"def entrypoint(argv):\n    return ''\n")
        fields.setdefault("public", True)
        fields.setdefault("usage_quota", -1)
        request = fe.RegisterFunctionRequest(**fields)
        return str(self.call("RegisterFunction", request, user, role).function_id)

    def task(self, user: str, role: str = ADMIN, **fields: Any) -> str:
        fields.setdefault("executor", "mesapy")
        if isinstance(fields.get("function_arguments"), dict):
            fields["function_arguments"] = json.dumps(fields["function_arguments"])
        fields.setdefault("function_arguments", "{}")
        for key in ("inputs_ownership", "outputs_ownership"):
            if isinstance(fields.get(key), dict):
                fields[key] = owners(fields[key])
        request = fe.CreateTaskRequest(**fields)
        return str(self.call("CreateTask", request, user, role).task_id)

    def get_task(self, task_id: str, user: str = "mock_user") -> Any:
        return self.call("GetTask", fe.GetTaskRequest(task_id=task_id), user)


def crypto(schema: str = "teaclave-file-128", key: bytes = b"\x07" * 16, iv: bytes = b"") -> Any:
    return common_pb.FileCryptoInfo(schema=schema, key=key, iv=iv)


def owners(mapping: dict[str, list[str]]) -> list[Any]:
    return [fe.OwnerList(data_name=name, uids=uids) for name, uids in mapping.items()]


def data_maps(mapping: dict[str, str]) -> list[Any]:
    return [fe.DataMap(data_name=name, data_id=data_id) for name, data_id in mapping.items()]


@pytest.fixture(scope="session")
def mgmt(platform: Platform) -> Iterator[Management]:
    client = platform.client()
    yield Management(client)
    client.close()


@pytest.fixture(scope="session")
def helpers() -> Any:
    """Message builders shared by the test modules (conftest names cannot be imported)."""

    class Helpers:
        crypto = staticmethod(crypto)
        owners = staticmethod(owners)
        data_maps = staticmethod(data_maps)

    return Helpers
