"""Helpers to run the real storage service (through TeeBinder) on free loopback ports."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from teaclave.binder import ECallCommand, StartServiceInput, StartServiceOutput, TeeBinder
from teaclave.binder.binder import Mode
from teaclave.config import RuntimeConfig
from teaclave.config.build import MANAGEMENT, STORAGE
from teaclave.config.runtime import default_dict
from teaclave.rpc.apis import TeaclaveStorage
from teaclave.rpc.channel import ServiceClient, connect
from teaclave.rpc.clients.storage import StorageClient
from teaclave.services.embedded import free_port
from teaclave.services.launcher import service_identity


def storage_config(state_dir: Path, port: int | None = None) -> RuntimeConfig:
    return RuntimeConfig.from_dict(
        default_dict(
            host="127.0.0.1",
            state_dir=str(state_dir),
            internal_ports={"storage": port or free_port()},
        )
    )


@dataclass
class RunningStorage:
    """A started storage enclave, its config and the outcome of its StartService call."""

    tee: TeeBinder
    config: RuntimeConfig
    thread: threading.Thread
    outcome: list[object] = field(default_factory=list)
    clients: list[StorageClient | ServiceClient] = field(default_factory=list)

    def client(self, identity_name: str = MANAGEMENT) -> StorageClient:
        """A typed client presenting ``identity_name``."""
        identity, verifier = service_identity(self.config, identity_name)
        client = StorageClient.connect(self.config, identity, verifier)
        self.clients.append(client)
        return client

    def raw(self, identity_name: str = MANAGEMENT) -> ServiceClient:
        """A generic client (errors come back as RemoteError with the status)."""
        identity, verifier = service_identity(self.config, identity_name)
        channel = connect(
            self.config.internal_endpoints["storage"].target, STORAGE, verifier, identity
        )
        client = ServiceClient(channel, TeaclaveStorage)
        self.clients.append(client)
        return client

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        self.clients.clear()
        self.tee.finalize()
        self.thread.join(10)
        assert not self.thread.is_alive(), "StartService did not return after finalize"


def start_storage(config: RuntimeConfig, mode: Mode = "in-process") -> RunningStorage:
    tee = TeeBinder(STORAGE, mode=mode)
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(
                tee.invoke(
                    ECallCommand.START_SERVICE, StartServiceInput(config), StartServiceOutput
                )
            )
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if mode == "in-process":
        deadline = time.monotonic() + 10
        while not tee.wait_ready(0.02) and thread.is_alive():  # ready, or failed to start
            assert time.monotonic() < deadline, "storage service did not start"
    return RunningStorage(tee, config, thread, outcome)
