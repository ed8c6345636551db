"""The app half: ``TeeBinder`` owns one enclave and invokes commands on it."""

from __future__ import annotations

import contextlib
import importlib
import itertools
import json
import subprocess
import sys
import threading
from concurrent.futures import Future
from typing import Any, Literal, TypeVar

from teaclave.binder.commands import (
    ECallCommand,
    FinalizeEnclaveInput,
    FinalizeEnclaveOutput,
    InitEnclaveInput,
    InitEnclaveOutput,
    TeeServiceError,
)
from teaclave.binder.enclave import Enclave, decode_result, dispatch
from teaclave.binder.framing import read_frame, write_frame
from teaclave.config.build import SERVICE_NAMES

OutT = TypeVar("OutT")

Mode = Literal["in-process", "child-process"]


def enclave_module(package_name: str) -> str:
    """The module holding the enclave half of a service package.

    ``teaclave_storage_service`` → ``teaclave.services.storage.enclave``; any other dotted
    name is taken as the module itself.
    """
    for short, package in SERVICE_NAMES.items():
        if package == package_name:
            return f"teaclave.services.{short}.enclave"
    return package_name


class TeeBinder:
    """Creates an enclave for ``package_name`` (sending ``InitEnclave``) and talks to it.

    ``mode="in-process"`` loads the enclave module into this process; ``"child-process"``
    runs it in ``python -m teaclave.binder.child`` and exchanges frames over pipes.
    """

    def __init__(self, package_name: str, mode: Mode = "in-process") -> None:
        self.package_name = package_name
        self.mode = mode
        self.module = enclave_module(package_name)
        self._finalized = False
        self._gone = False
        self._child: subprocess.Popen[bytes] | None = None
        self._pending: dict[int, Future[bytes]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        if mode == "in-process":
            importlib.import_module(self.module)
            self._enclave = Enclave(package_name)
        else:
            self._child = subprocess.Popen(
                [sys.executable, "-m", "teaclave.binder.child", self.module],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            threading.Thread(target=self._read_replies, daemon=True).start()
        self.invoke(ECallCommand.INIT_ENCLAVE, InitEnclaveInput(), InitEnclaveOutput)

    def invoke(self, command: ECallCommand, payload: Any, out_type: type[OutT]) -> OutT:
        """Run ``command`` with ``payload`` in the enclave and return its decoded output.

        Raises ``TeeServiceError`` when the enclave reports an error.
        """
        data = json.dumps(payload.to_json()).encode()
        if self._child is None:
            result = dispatch(self.module, self._enclave, int(command), data)
        else:
            result = self._call_child(int(command), data)
        output: OutT = decode_result(result, out_type)
        return output

    def _call_child(self, command: int, data: bytes) -> bytes:
        assert self._child is not None and self._child.stdin is not None
        future: Future[bytes] = Future()
        with self._lock:
            if self._gone:
                raise TeeServiceError("SgxError", "enclave process is gone")
            request_id = next(self._ids)
            self._pending[request_id] = future
            try:
                write_frame(self._child.stdin, request_id, command, data)  # type: ignore[arg-type]
            except (OSError, ValueError):
                self._pending.pop(request_id, None)
                raise TeeServiceError("SgxError", "enclave process is gone") from None
        return future.result()

    def _read_replies(self) -> None:
        assert self._child is not None and self._child.stdout is not None
        while True:
            frame = read_frame(self._child.stdout)  # type: ignore[arg-type]
            if frame is None:
                break
            request_id, _, payload = frame
            with self._lock:
                future = self._pending.pop(request_id, None)
            if future is not None:
                future.set_result(payload)
        gone = json.dumps({"Err": {"kind": "SgxError", "message": "enclave process exited"}})
        with self._lock:
            self._gone = True
            pending, self._pending = self._pending, {}
        for future in pending.values():
            future.set_result(gone.encode())

    def wait_ready(self, timeout: float) -> bool:
        """In-process mode: wait until the enclave's service is listening."""
        if self._child is not None:
            raise TeeServiceError("ServiceError", "readiness is only observable in-process")
        return self._enclave.ready.wait(timeout)

    def finalize(self) -> None:
        """Send ``FinalizeEnclave`` (stops a running service) and release the enclave.

        Idempotent; a child enclave process that has already exited is just reaped.
        """
        if self._finalized:
            return
        self._finalized = True
        try:
            self.invoke(
                ECallCommand.FINALIZE_ENCLAVE, FinalizeEnclaveInput(), FinalizeEnclaveOutput
            )
        except TeeServiceError as exc:
            # A child enclave that already exited has nothing left to finalize.
            if self._child is None or exc.kind != "SgxError":
                raise
        finally:
            if self._child is not None:
                assert self._child.stdin is not None
                with contextlib.suppress(OSError):
                    self._child.stdin.close()
                try:
                    self._child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._child.kill()
                    self._child.wait()
