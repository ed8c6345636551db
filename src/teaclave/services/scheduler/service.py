"""``TeaclaveScheduler``: the RPCs execution nodes call, and ``start_service``.

The logic lives in ``core.Scheduler``; this layer validates requests (ids must be UUID text,
``UpdateTaskStatus`` accepts only Running, results must be Ok or Err) and converts messages.
The caller of a task update is named by the optional ``x-teaclave-executor-id`` metadata; when
present it must be the executor the task is assigned to, when absent (Teaclave's own clients)
the task must at least be assigned to some executor. ``Subscribe`` answers UNIMPLEMENTED
instead of panicking.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

import grpc
from google.protobuf import empty_pb2

from teaclave.binder import Enclave
from teaclave.config import INBOUND, RuntimeConfig
from teaclave.config.build import SCHEDULER
from teaclave.proto import teaclave_common_pb2 as common_pb
from teaclave.proto import teaclave_scheduler_service_pb2 as pb
from teaclave.rpc import CallContext, teaclave_service
from teaclave.rpc.apis import TeaclaveScheduler
from teaclave.rpc.clients.scheduler import EXECUTOR_ID_METADATA, ExecutorStatus
from teaclave.rpc.clients.storage import StorageClient
from teaclave.rpc.server import serve
from teaclave.services.launcher import Stoppable, service_identity
from teaclave.services.scheduler.core import Scheduler
from teaclave.types.errors import DecodeError, InvalidArgument, StatusCode, TeaclaveError
from teaclave.types.files import parse_tag
from teaclave.types.task import StagedTask, TaskOutputs, TaskResult, TaskStatus

log = logging.getLogger(__name__)

#: Server threads: held heartbeats take one each (see ``core.MAX_HELD_CALLS``).
MAX_WORKERS = 64


class SchedulerError(TeaclaveError):
    """Errors of the scheduler service."""


def parse_uuid(text: str, field: str) -> uuid.UUID:
    """A hyphenated UUID or ``InvalidArgument`` naming ``field``."""
    try:
        value = uuid.UUID(text)
    except ValueError:
        raise InvalidArgument(f"invalid {field}: {text!r} is not a UUID") from None
    if str(value) != text.lower():
        raise InvalidArgument(f"invalid {field}: {text!r} is not a hyphenated UUID")
    return value


def caller_executor(ctx: CallContext) -> uuid.UUID | None:
    """The executor named by the ``x-teaclave-executor-id`` metadata, if sent."""
    text = ctx.metadata.get(EXECUTOR_ID_METADATA)
    return None if text is None else parse_uuid(text, EXECUTOR_ID_METADATA)


def task_result_from_proto(message: common_pb.TaskResult) -> TaskResult:
    """Wire ``TaskResult`` → domain; NotReady and malformed tags are refused."""
    kind = message.WhichOneof("result")
    if kind == "Ok":
        ok = message.Ok
        tags = {
            name: parse_tag(tag, f"result.tags_map[{name}]") for name, tag in ok.tags_map.items()
        }
        return TaskResult.success(
            TaskOutputs(return_value=ok.return_value, tags_map=tags, log=list(ok.log))
        )
    if kind == "Err":
        return TaskResult.failure(message.Err.reason)
    raise InvalidArgument("result: neither Ok nor Err is set")


@teaclave_service(SCHEDULER, TeaclaveScheduler, SchedulerError)
class SchedulerService:
    """The scheduler's RPCs over a ``Scheduler``."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def publish_task(self, request: pb.PublishTaskRequest, ctx: CallContext) -> empty_pb2.Empty:
        """Queue a staged task given as JSON."""
        try:
            staged = StagedTask.from_bytes(request.staged_task)
        except DecodeError as exc:
            raise InvalidArgument(f"staged_task: {exc}") from None
        except (ValueError, TypeError, AttributeError) as exc:
            raise InvalidArgument(f"staged_task: not a staged task ({exc})") from None
        reason = self.scheduler.accept(staged)
        if reason is not None:
            raise InvalidArgument(f"staged_task: task {staged.task_id} not queued: {reason}")
        return empty_pb2.Empty()

    def subscribe(self, request: empty_pb2.Empty, ctx: CallContext) -> pb.SubscribeResponse:
        """Not part of the protocol in practice (Teaclave's server panics): UNIMPLEMENTED."""
        raise SchedulerError(
            "Subscribe is not implemented: executors poll with Heartbeat and PullTask",
            StatusCode.UNIMPLEMENTED,
        )

    def pull_task(self, request: pb.PullTaskRequest, ctx: CallContext) -> pb.PullTaskResponse:
        """Hand the queue head to the calling executor."""
        executor_id = parse_uuid(request.executor_id, "executor_id")
        staged = self.scheduler.pull(executor_id)
        return pb.PullTaskResponse(staged_task=staged.to_bytes())

    def update_task_status(
        self, request: pb.UpdateTaskStatusRequest, ctx: CallContext
    ) -> empty_pb2.Empty:
        """The executor started the task: Staged → Running (the only accepted status)."""
        task_id = parse_uuid(request.task_id, "task_id")
        if int(request.task_status) != int(TaskStatus.RUNNING):
            try:
                name = TaskStatus(request.task_status).serde_name
            except ValueError:
                name = str(request.task_status)
            raise InvalidArgument(f"task_status: only Running can be reported, got {name}")
        self.scheduler.start_running(task_id, caller_executor(ctx))
        return empty_pb2.Empty()

    def update_task_result(
        self, request: pb.UpdateTaskResultRequest, ctx: CallContext
    ) -> empty_pb2.Empty:
        """Store the result of a Running task: Ok → Finished, Err → Failed."""
        task_id = parse_uuid(request.task_id, "task_id")
        result = task_result_from_proto(request.result)
        self.scheduler.complete(task_id, result, caller_executor(ctx))
        return empty_pb2.Empty()

    def heartbeat(self, request: pb.HeartbeatRequest, ctx: CallContext) -> pb.HeartbeatResponse:
        """Record the executor's status; answer NewTask, Stop or NoAction (maybe after a wait)."""
        executor_id = parse_uuid(request.executor_id, "executor_id")
        try:
            status = ExecutorStatus(request.status)
        except ValueError:
            raise InvalidArgument(f"status: unknown executor status {request.status}") from None
        command = self.scheduler.heartbeat(executor_id, status, ctx.wait_secs, ctx.is_active)
        return pb.HeartbeatResponse(command=int(command))  # type: ignore[arg-type]


class _SchedulerHandle:
    """Stops the endpoint, the scheduler's threads and its storage connection, in order."""

    def __init__(self, server: grpc.Server, scheduler: Scheduler, storage: StorageClient) -> None:
        self.server = server
        self.scheduler = scheduler
        self.storage = storage

    def stop(self, grace: float | None) -> None:
        done = self.server.stop(grace)
        self.scheduler.stop(grace)
        done.wait((grace or 0.0) + 1.0)
        self.storage.close()


def start_service(config: RuntimeConfig, enclave: Enclave) -> Sequence[Stoppable]:
    """Connect to storage, recover staged tasks, start the threads and serve the endpoint."""
    identity, verifier = service_identity(config, SCHEDULER)
    storage = StorageClient.connect(config, identity, verifier)
    try:
        scheduler = Scheduler(config.scheduler, storage)
        scheduler.recover_at_start()
        scheduler.start()
        try:
            server, _ = serve(
                SchedulerService(scheduler),
                config.internal_endpoints["scheduler"].listen_address,
                identity,
                verifier,
                inbound=INBOUND["scheduler"],
                max_workers=MAX_WORKERS,
            )
        except BaseException:
            scheduler.stop(0)
            raise
    except BaseException:
        storage.close()
        raise
    return [_SchedulerHandle(server, scheduler, storage)]
