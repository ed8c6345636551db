"""Client of the scheduler service (used by execution nodes).

Two optional metadata entries extend Teaclave's protocol without changing it:
``x-teaclave-wait-ms`` on ``Heartbeat`` lets the scheduler hold an idle executor's heartbeat
until a task arrives (long poll), and ``x-teaclave-executor-id`` on ``UpdateTaskStatus`` /
``UpdateTaskResult`` names the calling executor so the scheduler can refuse updates from an
executor the task is not assigned to.
"""

from __future__ import annotations

import uuid
from enum import IntEnum

from google.protobuf import empty_pb2

from teaclave.config import RuntimeConfig
from teaclave.config.build import SCHEDULER
from teaclave.proto import teaclave_common_pb2 as common_pb
from teaclave.proto import teaclave_scheduler_service_pb2 as pb
from teaclave.rpc.apis import TeaclaveScheduler
from teaclave.rpc.channel import CONNECT_TIMEOUT_SECS, ServiceClient, connect
from teaclave.rpc.context import WAIT_METADATA
from teaclave.rpc.errors import RemoteError
from teaclave.rpc.tls import Identity, PeerVerifier
from teaclave.types.errors import StatusCode
from teaclave.types.task import StagedTask, TaskResult, TaskStatus

#: Metadata naming the executor that sends a task update (teaclave-py extension).
EXECUTOR_ID_METADATA = "x-teaclave-executor-id"

#: Text of the scheduler's "nothing to pull" error (Teaclave's).
QUEUE_EMPTY = "task queue is empty"

CALL_TIMEOUT_SECS = 30.0


class ExecutorStatus(IntEnum):
    """``teaclave_common_proto.ExecutorStatus``."""

    IDLE = 0
    EXECUTING = 1


class ExecutorCommand(IntEnum):
    """``teaclave_common_proto.ExecutorCommand``."""

    NO_ACTION = 0
    STOP = 1
    NEW_TASK = 2


def task_result_to_proto(result: TaskResult) -> common_pb.TaskResult:
    """``TaskResult`` → wire message (``NotReady`` cannot be sent)."""
    if result.ok is not None:
        return common_pb.TaskResult(
            Ok=common_pb.TaskOutputs(
                return_value=result.ok.return_value,
                tags_map=dict(result.ok.tags_map),
                log=list(result.ok.log),
            )
        )
    if result.err is not None:
        return common_pb.TaskResult(Err=common_pb.TaskFailure(reason=result.err))
    raise ValueError("result: a NotReady result cannot be reported")


class SchedulerClient:
    """Heartbeats, task pulls and task updates against the scheduler service."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    @classmethod
    def connect(
        cls,
        config: RuntimeConfig,
        identity: Identity,
        verifier: PeerVerifier,
        *,
        timeout: float = CONNECT_TIMEOUT_SECS,
    ) -> SchedulerClient:
        """Connect to the scheduler endpoint of ``config`` as ``identity`` (wait ``timeout``)."""
        target = config.internal_endpoints["scheduler"].target
        channel = connect(target, SCHEDULER, verifier, identity, timeout=timeout)
        return cls(ServiceClient(channel, TeaclaveScheduler))

    def heartbeat(
        self,
        executor_id: uuid.UUID | str,
        status: ExecutorStatus,
        wait_secs: float = 0.0,
    ) -> ExecutorCommand:
        """Report ``status`` and return the scheduler's command.

        With ``wait_secs`` > 0 an idle executor's call may be held that long until a task
        arrives (long poll).
        """
        metadata = {WAIT_METADATA: str(int(wait_secs * 1000))} if wait_secs > 0 else None
        response = self._client.call(
            "Heartbeat",
            pb.HeartbeatRequest(executor_id=str(executor_id), status=int(status)),  # type: ignore[arg-type]
            pb.HeartbeatResponse,
            metadata=metadata,
            timeout=wait_secs + CALL_TIMEOUT_SECS,
        )
        try:
            return ExecutorCommand(response.command)
        except ValueError:
            return ExecutorCommand.NO_ACTION

    def pull_task(self, executor_id: uuid.UUID | str) -> StagedTask | None:
        """Take the next staged task for ``executor_id``; None when the queue is empty."""
        try:
            response = self._client.call(
                "PullTask",
                pb.PullTaskRequest(executor_id=str(executor_id)),
                pb.PullTaskResponse,
                timeout=CALL_TIMEOUT_SECS,
            )
        except RemoteError as exc:
            if exc.code is StatusCode.UNKNOWN and exc.message.startswith(QUEUE_EMPTY):
                return None
            raise
        return StagedTask.from_bytes(response.staged_task)

    def update_task_status(
        self,
        task_uuid: uuid.UUID | str,
        status: TaskStatus = TaskStatus.RUNNING,
        *,
        executor_id: uuid.UUID | str | None = None,
    ) -> None:
        """Report that the task is now ``status`` (the scheduler accepts only Running)."""
        self._client.call(
            "UpdateTaskStatus",
            pb.UpdateTaskStatusRequest(task_id=str(task_uuid), task_status=int(status)),  # type: ignore[arg-type]
            empty_pb2.Empty,
            metadata=self._executor_metadata(executor_id),
            timeout=CALL_TIMEOUT_SECS,
        )

    def update_task_result(
        self,
        task_uuid: uuid.UUID | str,
        result: TaskResult,
        *,
        executor_id: uuid.UUID | str | None = None,
    ) -> None:
        """Report the task's result (``Ok(outputs)`` or ``Err(reason)``)."""
        self._client.call(
            "UpdateTaskResult",
            pb.UpdateTaskResultRequest(task_id=str(task_uuid), result=task_result_to_proto(result)),
            empty_pb2.Empty,
            metadata=self._executor_metadata(executor_id),
            timeout=CALL_TIMEOUT_SECS,
        )

    def publish_task(self, staged_task: StagedTask | bytes) -> None:
        """Hand a staged task straight to the scheduler's queue (JSON bytes or a record)."""
        data = staged_task.to_bytes() if isinstance(staged_task, StagedTask) else staged_task
        self._client.call(
            "PublishTask",
            pb.PublishTaskRequest(staged_task=data),
            empty_pb2.Empty,
            timeout=CALL_TIMEOUT_SECS,
        )

    def subscribe(self) -> bool:
        """Teaclave's ``Subscribe`` (the scheduler answers UNIMPLEMENTED)."""
        response = self._client.call(
            "Subscribe", empty_pb2.Empty(), pb.SubscribeResponse, timeout=CALL_TIMEOUT_SECS
        )
        return bool(response.success)

    def close(self) -> None:
        """Close the channel (cancels calls in flight)."""
        self._client.close()

    @staticmethod
    def _executor_metadata(executor_id: uuid.UUID | str | None) -> dict[str, str] | None:
        return None if executor_id is None else {EXECUTOR_ID_METADATA: str(executor_id)}
