"""The frontend's audit trail: one entry per call, buffered and saved to management."""

from __future__ import annotations

import logging
import threading
import time

from google.protobuf import empty_pb2

from teaclave.config.build import FRONTEND
from teaclave.proto import teaclave_common_pb2 as common_pb
from teaclave.proto import teaclave_management_service_pb2 as mgmt_pb
from teaclave.rpc.channel import ServiceClient
from teaclave.rpc.errors import RemoteError

log = logging.getLogger(__name__)

MAX_BUFFERED = 100_000


class AuditBuffer:
    """Collects ``Entry`` messages and flushes them to management ``SaveLogs`` periodically.

    Entries that cannot be saved stay buffered (up to ``MAX_BUFFERED``; the oldest are dropped
    beyond that, with an error logged) and are retried at the next flush.
    """

    def __init__(self, management: ServiceClient, interval_secs: float) -> None:
        self._management = management
        self._interval = interval_secs
        self._lock = threading.Lock()
        self._entries: list[common_pb.Entry] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="frontend-audit", daemon=True)
        self._thread.start()

    def add(self, ip: bytes, user: str, message: str, result: bool) -> None:
        """Record one call."""
        entry = common_pb.Entry(
            microsecond=time.time_ns() // 1000, ip=ip, user=user, message=message, result=result
        )
        with self._lock:
            self._entries.append(entry)
            if len(self._entries) > MAX_BUFFERED:
                dropped = len(self._entries) - MAX_BUFFERED
                del self._entries[:dropped]
                log.error("audit buffer full: dropped %d oldest entries", dropped)

    def flush(self) -> None:
        """Send everything buffered now."""
        with self._lock:
            batch, self._entries = self._entries, []
        if not batch:
            return
        try:
            self._management.call(
                "SaveLogs",
                mgmt_pb.SaveLogsRequest(logs=batch),
                empty_pb2.Empty,
                metadata={"id": FRONTEND},
                timeout=10.0,
            )
        except RemoteError as exc:
            log.warning("saving %d audit entries failed (%s); will retry", len(batch), exc)
            with self._lock:
                self._entries[:0] = batch

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def stop(self, grace: float | None = None) -> None:
        """Stop the flusher after a final flush."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()
