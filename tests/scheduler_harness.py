"""Real storage + scheduler (+ execution) services on free loopback ports, in tmp state dirs.

A storage client with the management identity plays management (task and staged-task records,
queues), a ``SchedulerClient`` with the execution identity plays a fake worker.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from service_runner import RunningService

from teaclave.config.build import EXECUTION, MANAGEMENT, SCHEDULER, STORAGE
from teaclave.config.runtime import RuntimeConfig, default_dict
from teaclave.rpc.clients.scheduler import SchedulerClient
from teaclave.rpc.clients.storage import StorageClient
from teaclave.services.embedded import free_port
from teaclave.services.launcher import service_identity
from teaclave.types.files import CryptoSchema, FileCrypto, OutputFile
from teaclave.types.function import Executor, ExecutorType
from teaclave.types.ids import FUNCTION_PREFIX, ExternalId
from teaclave.types.task import StagedOutput, StagedTask, TaskState, TaskStatus

USER = "mock_user"


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class Platform:
    """Services of one test, their config, and the clients that play management and workers."""

    def __init__(self, state_dir: Path, **scheduler: Any) -> None:
        settings = {"executor_timeout_secs": 1.0, "heartbeat_wait_secs": 0.2, "max_attempts": 2}
        settings.update(scheduler)
        raw = default_dict(
            state_dir=str(state_dir),
            api_ports={"authentication": free_port(), "frontend": free_port()},
            internal_ports={
                "storage": free_port(),
                "scheduler": free_port(),
                "execution": free_port(),
                "management": free_port(),
                "authentication": free_port(),
                "access_control": free_port(),
            },
        )
        raw["scheduler"] = settings
        self.config = RuntimeConfig.from_dict(raw)
        self.services: dict[str, list[RunningService]] = {}
        self.clients: list[Any] = []
        self._management: StorageClient | None = None

    # ---------------------------------------------------------------- services
    def start(self, name: str) -> RunningService:
        service = RunningService(name, self.config, start_secs=30)
        self.services.setdefault(name, []).append(service)
        return service

    def stop(self, service: RunningService) -> None:
        service.stop()
        self.services[service.name].remove(service)

    def start_core(self) -> None:
        self.start(STORAGE)
        self.start(SCHEDULER)

    def close(self) -> None:
        for client in self.clients:
            client.close()
        for name in (EXECUTION, SCHEDULER, STORAGE):
            for service in reversed(self.services.get(name, [])):
                service.stop()

    # ---------------------------------------------------------------- clients
    @property
    def management(self) -> StorageClient:
        if self._management is None:
            identity, verifier = service_identity(self.config, MANAGEMENT)
            self._management = StorageClient.connect(self.config, identity, verifier)
            self.clients.append(self._management)
        return self._management

    def scheduler_client(self, identity_name: str = EXECUTION) -> SchedulerClient:
        identity, verifier = service_identity(self.config, identity_name)
        client = SchedulerClient.connect(self.config, identity, verifier)
        self.clients.append(client)
        return client

    # ---------------------------------------------------------------- records
    def task(self, task_id: uuid.UUID) -> TaskState:
        value = self.management.get_json(f"task-{task_id}".encode())
        assert value is not None, f"no record for task {task_id}"
        return TaskState.from_json(value)

    def staged_record(self, task_id: uuid.UUID) -> bytes | None:
        return self.management.get(f"stagedtask-{task_id}".encode())

    def wait_status(
        self, task_id: uuid.UUID, *statuses: TaskStatus, timeout: float = 10.0
    ) -> TaskState:
        def check() -> TaskState | None:
            task = self.task(task_id)
            return task if task.status in statuses else None

        return wait_for(check, timeout, f"task {task_id} to be {[s.serde_name for s in statuses]}")

    def stage(
        self,
        arguments: dict[str, Any] | None = None,
        *,
        function_name: str = "builtin-echo",
        executor: Executor = Executor.BUILTIN,
        executor_type: ExecutorType = ExecutorType.BUILTIN,
        record: bool = True,
        enqueue: bool = True,
        status: TaskStatus = TaskStatus.STAGED,
        output: bool = False,
    ) -> StagedTask:
        """Play management's InvokeTask: stagedtask record, Staged task record, enqueue."""
        arguments = {"message": "Hello, Teaclave!"} if arguments is None else arguments
        function_id = uuid.uuid4()
        task = TaskState(
            task_id=uuid.uuid4(),
            creator=USER,
            function_id=ExternalId(FUNCTION_PREFIX, function_id),
            function_owner=USER,
            function_arguments=dict(arguments),
            executor=executor,
            inputs_ownership={},
            outputs_ownership={},
            participants=frozenset({USER}),
            status=status,
        )
        staged = StagedTask(
            task_id=task.task_id,
            function_id=function_id,
            user_id=USER,
            executor=executor,
            executor_type=executor_type,
            function_name=function_name,
            function_arguments=dict(arguments),
            function_payload=b"",
        )
        if output:
            out = OutputFile(
                url="file:///tmp/teaclave-test-output",
                crypto=FileCrypto(CryptoSchema.TEACLAVE_FILE_128, bytes(16)),
                owner=frozenset({USER}),
            )
            self.management.put_json(out.external_id.key, out.to_json())
            task.outputs_ownership = {"output": frozenset({USER})}
            task.assigned_outputs = {"output": out}
            staged.output_data = {"output": StagedOutput(out.url, out.crypto)}
        if record:
            self.management.put(f"stagedtask-{task.task_id}".encode(), staged.to_bytes())
            self.management.put_json(f"task-{task.task_id}".encode(), task.to_json())
        if enqueue:
            self.management.enqueue(b"staged-task", staged.to_bytes())
        return staged

    def cancel(self, task_id: uuid.UUID) -> None:
        """Play management's late CancelTask: enqueue the TaskState on ``cancel_queue``."""
        self.management.enqueue(
            b"cancel_queue", self.management.get(f"task-{task_id}".encode()) or b""
        )


def pull(worker: SchedulerClient, executor_id: uuid.UUID, timeout: float = 10.0) -> StagedTask:
    """Pull until the scheduler has the task in its queue."""
    return wait_for(lambda: worker.pull_task(executor_id), timeout, "a task to pull")


def take(platform: Platform, worker: SchedulerClient, **stage: Any) -> tuple[StagedTask, uuid.UUID]:
    """Stage a task, pull it as a fresh executor and start it (Running)."""
    staged = platform.stage(**stage)
    executor_id = uuid.uuid4()
    assert pull(worker, executor_id).task_id == staged.task_id
    worker.update_task_status(staged.task_id, executor_id=executor_id)
    return staged, executor_id


@pytest.fixture
def make_platform(tmp_path: Path) -> Iterator[Callable[..., Platform]]:
    platforms: list[Platform] = []

    def make(**scheduler: Any) -> Platform:
        platform = Platform(tmp_path / f"state{len(platforms)}", **scheduler)
        platforms.append(platform)
        return platform

    yield make
    for platform in platforms:
        platform.close()


@pytest.fixture
def platform(make_platform: Callable[..., Platform]) -> Platform:
    platform = make_platform()
    platform.start_core()
    return platform
