"""A real service started through its enclave (in-process TeeBinder) on a thread, for unit tests."""

from __future__ import annotations

import threading
import time

from teaclave.binder import ECallCommand, StartServiceInput, StartServiceOutput, TeeBinder
from teaclave.config.runtime import RuntimeConfig


class RunningService:
    """One service started with START_SERVICE on a thread; ``stop`` finalizes its enclave."""

    def __init__(self, package: str, config: RuntimeConfig, start_secs: float = 15) -> None:
        self.name = package
        self.config = config
        self.tee = TeeBinder(package)
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + start_secs
        while not self.tee.wait_ready(0.02):
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.tee.finalize()
                raise RuntimeError(f"{package} did not start: {self.errors}")

    def _run(self) -> None:
        """Serve until finalized; keep what START_SERVICE raised, if anything."""
        try:
            self.tee.invoke(
                ECallCommand.START_SERVICE, StartServiceInput(self.config), StartServiceOutput
            )
        except BaseException as exc:
            self.errors.append(exc)

    def stop(self) -> None:
        """Finalize the enclave; the service's thread must then end."""
        self.tee.finalize()
        self.thread.join(10)
        assert not self.thread.is_alive(), f"{self.name} did not stop"
