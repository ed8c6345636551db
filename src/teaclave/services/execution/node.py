"""The worker node loop: heartbeat, pull, run, report (``spec/services.md`` §6.4).

Differences from Teaclave's node, same protocol:

* While Idle the heartbeat carries ``x-teaclave-wait-ms``: the scheduler holds it until a task
  arrives, so a staged task starts within milliseconds instead of up to 3 s later. While
  Executing the node heart-beats every ``heartbeat_wait_secs / 2`` without waiting.
* The result of a run is reported until the scheduler takes it or refuses it definitively;
  transient failures are retried with backoff (heart-beating meanwhile), never dropped.
* ``Stop`` abandons the running task (its invocation is flagged canceled and its result
  dropped) and the node goes Idle instead of exiting the process. A builtin cannot be
  interrupted and may finish in the background; process and WASM executors will be killed for
  real when they arrive.
* An unreachable scheduler is retried with backoff (logged once per outage); the node never
  exits on its own. ``stop()`` ends the loop at once (the call in flight is canceled).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from teaclave.config import RuntimeConfig
from teaclave.rpc.clients.scheduler import ExecutorCommand, ExecutorStatus, SchedulerClient
from teaclave.rpc.errors import RemoteError
from teaclave.rpc.tls import Identity, PeerVerifier
from teaclave.types.errors import StatusCode
from teaclave.types.task import StagedTask, TaskResult, TaskStatus
from teaclave.worker.task_runner import TaskRunner, error_text

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECS = 0.25
MIN_BACKOFF_SECS = 0.05
MAX_BACKOFF_SECS = 2.0

_TRANSIENT = frozenset(
    {
        StatusCode.UNAVAILABLE,
        StatusCode.DEADLINE_EXCEEDED,
        StatusCode.CANCELLED,
        StatusCode.ABORTED,
    }
)


def is_transient(exc: RemoteError) -> bool:
    """True for failures worth retrying (scheduler or its storage unreachable)."""
    return exc.code in _TRANSIENT


class Invocation:
    """One run of a staged task on its own thread; ``cancel`` drops its result."""

    def __init__(self, task: StagedTask, runner: TaskRunner, wake: threading.Event) -> None:
        self.task = task
        self.cancel = threading.Event()
        self.done = threading.Event()
        self.result: TaskResult | None = None
        self.report_attempts = 0
        self._runner = runner
        self._wake = wake
        self.thread = threading.Thread(target=self._run, name=f"task-{task.task_id}", daemon=True)

    def start(self) -> None:
        """Start the run."""
        self.thread.start()

    def _run(self) -> None:
        try:
            result = self._runner.run(self.task, self.cancel)
        except BaseException as exc:  # the runner never raises; belt and braces
            result = TaskResult.failure(error_text(exc))
        if not self.cancel.is_set():
            self.result = result
        self.done.set()
        self._wake.set()


class ExecutionNode:
    """An execution worker: a random executor id and the loop that serves the scheduler."""

    def __init__(
        self,
        config: RuntimeConfig,
        identity: Identity,
        verifier: PeerVerifier,
        runner: TaskRunner | None = None,
    ) -> None:
        self.config = config
        self.identity = identity
        self.verifier = verifier
        self.runner = runner if runner is not None else TaskRunner()
        self.executor_id = uuid.uuid4()
        self.heartbeat_wait = config.scheduler.heartbeat_wait_secs
        self.invocation: Invocation | None = None
        self._client: SchedulerClient | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._failing = False
        self._backoff = MIN_BACKOFF_SECS
        self._thread = threading.Thread(
            target=self._loop, name=f"execution-{self.executor_id}", daemon=True
        )

    @property
    def status(self) -> ExecutorStatus:
        """Executing while a run is in progress or its result is not yet reported."""
        return ExecutorStatus.IDLE if self.invocation is None else ExecutorStatus.EXECUTING

    def start(self) -> None:
        """Start the loop thread."""
        log.info("execution node %s starting", self.executor_id)
        self._thread.start()

    def is_alive(self) -> bool:
        """True while the loop thread runs."""
        return self._thread.is_alive()

    def stop(self, grace: float | None = None) -> None:
        """End the loop now (the RPC in flight is canceled; a running task is abandoned)."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()
        self._thread.join(max(grace or 0.0, 1.0))
        if self.invocation is not None:
            self.invocation.cancel.set()

    # ------------------------------------------------------------------ loop
    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    client = self._connect()
                    if self.invocation is None:
                        self._idle_step(client)
                    else:
                        self._executing_step(client, self.invocation)
                    self._reachable()
                except RemoteError as exc:
                    if self._stop.is_set():
                        break
                    self._unreachable(exc)
                except Exception:
                    log.exception("execution node %s: loop step failed", self.executor_id)
                    self._stop.wait(MAX_BACKOFF_SECS)
        finally:
            with self._lock:
                leftover, self._client = self._client, None
            if leftover is not None:
                leftover.close()
            log.info("execution node %s stopped", self.executor_id)

    def _connect(self) -> SchedulerClient:
        with self._lock:
            client = self._client
        if client is not None:
            return client
        client = SchedulerClient.connect(
            self.config, self.identity, self.verifier, timeout=CONNECT_TIMEOUT_SECS
        )
        with self._lock:
            if self._stop.is_set():
                client.close()
                raise RemoteError("execution node stopping", StatusCode.CANCELLED)
            self._client = client
        return client

    def _reachable(self) -> None:
        if self._failing:
            log.info("execution node %s: scheduler calls succeed again", self.executor_id)
            self._failing = False
        self._backoff = MIN_BACKOFF_SECS

    def _unreachable(self, exc: RemoteError) -> None:
        if is_transient(exc):
            if not self._failing:
                log.warning(
                    "execution node %s: scheduler call failed (%s); retrying with backoff",
                    self.executor_id,
                    exc.message,
                )
                self._failing = True
            with self._lock:
                client, self._client = self._client, None
            if client is not None:
                client.close()
        else:
            log.error("execution node %s: scheduler refused a call: %s", self.executor_id, exc)
        self._stop.wait(self._backoff)
        self._backoff = min(self._backoff * 2, MAX_BACKOFF_SECS)

    # ------------------------------------------------------------------ steps
    def _idle_step(self, client: SchedulerClient) -> None:
        started = time.monotonic()
        command = client.heartbeat(self.executor_id, ExecutorStatus.IDLE, self.heartbeat_wait)
        if command is ExecutorCommand.NEW_TASK:
            self._take_task(client)
            return
        elapsed = time.monotonic() - started
        if elapsed < self.heartbeat_wait / 2:
            # The scheduler answered at once (it does not hold calls): poll gently.
            self._stop.wait(self.heartbeat_wait - elapsed)

    def _take_task(self, client: SchedulerClient) -> None:
        try:
            task = client.pull_task(self.executor_id)
        except RemoteError as exc:
            if is_transient(exc):
                raise
            log.info("execution node %s: pull failed: %s", self.executor_id, exc.message)
            return
        if task is None:
            return
        try:
            client.update_task_status(
                task.task_id, TaskStatus.RUNNING, executor_id=self.executor_id
            )
        except RemoteError as exc:
            # Not started: the next Idle heartbeat hands the task back to the scheduler.
            log.warning(
                "execution node %s: cannot start task %s: %s",
                self.executor_id,
                task.task_id,
                exc.message,
            )
            if is_transient(exc):
                raise
            return
        invocation = Invocation(task, self.runner, self._wake)
        self.invocation = invocation
        log.info("execution node %s: running task %s", self.executor_id, task.task_id)
        invocation.start()

    def _executing_step(self, client: SchedulerClient, invocation: Invocation) -> None:
        if invocation.done.is_set() and invocation.report_attempts == 0:
            self._report(client, invocation)
            return
        command = client.heartbeat(self.executor_id, ExecutorStatus.EXECUTING)
        if command is ExecutorCommand.STOP:
            invocation.cancel.set()
            self.invocation = None
            log.info(
                "execution node %s: task %s stopped by the scheduler; abandoned",
                self.executor_id,
                invocation.task.task_id,
            )
            return
        if invocation.done.is_set():
            self._report(client, invocation)
            return
        self._wake.clear()
        if not invocation.done.is_set() and not self._stop.is_set():
            self._wake.wait(self.heartbeat_wait / 2)

    def _report(self, client: SchedulerClient, invocation: Invocation) -> None:
        invocation.report_attempts += 1
        result = invocation.result
        if result is None:  # canceled meanwhile
            self.invocation = None
            return
        try:
            client.update_task_result(invocation.task.task_id, result, executor_id=self.executor_id)
        except RemoteError as exc:
            if is_transient(exc):
                raise
            log.warning(
                "execution node %s: scheduler refused the result of task %s: %s",
                self.executor_id,
                invocation.task.task_id,
                exc.message,
            )
        self.invocation = None
