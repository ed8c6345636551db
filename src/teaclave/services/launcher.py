"""What every service shares: identities, the standard enclave, and the app launcher."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from teaclave.binder import (
    ECallCommand,
    Enclave,
    FinalizeEnclaveInput,
    FinalizeEnclaveOutput,
    InitEnclaveInput,
    InitEnclaveOutput,
    StartServiceInput,
    StartServiceOutput,
    TeeBinder,
    TeeServiceError,
)
from teaclave.binder.enclave import register_table
from teaclave.config import RuntimeConfig
from teaclave.rpc.tls import Identity, PlatformCa, PlatformCaVerifier

log = logging.getLogger(__name__)


class Stoppable(Protocol):
    """Anything a service starts and must stop at finalization (servers, loops)."""

    def stop(self, grace: float | None) -> Any:
        """Stop; ``grace`` seconds for in-flight work."""
        ...


StartFn = Callable[[RuntimeConfig, Enclave], Sequence[Stoppable]]


def service_identity(config: RuntimeConfig, name: str) -> tuple[Identity, PlatformCaVerifier]:
    """Issue ``name`` a fresh TLS identity from the platform CA and return the verifier."""
    ca = PlatformCa.load_or_create(config.state_dir)
    return ca.issue(name), PlatformCaVerifier(ca.cert_pem)


def run_service(enclave: Enclave, config: RuntimeConfig, start: StartFn) -> None:
    """Start the service, mark the enclave ready, block until finalized, then stop it."""
    handles = list(start(config, enclave))
    enclave.resources["handles"] = handles
    enclave.ready.set()
    try:
        enclave.stop.wait()
    finally:
        for handle in reversed(handles):
            try:
                stopped = handle.stop(1.0)
                if isinstance(stopped, threading.Event):  # grpc.Server.stop: wait for in-flight
                    stopped.wait(5.0)
            except Exception:
                log.exception("stopping %r failed", handle)


def standard_enclave(module: str, start: StartFn) -> None:
    """Register Init/Start/Finalize handlers for the enclave module ``module``."""

    def init(_: InitEnclaveInput, enclave: Enclave) -> InitEnclaveOutput:
        return InitEnclaveOutput()

    def start_service(request: StartServiceInput, enclave: Enclave) -> StartServiceOutput:
        run_service(enclave, request.config, start)
        return StartServiceOutput()

    def finalize(_: FinalizeEnclaveInput, enclave: Enclave) -> FinalizeEnclaveOutput:
        enclave.stop.set()
        return FinalizeEnclaveOutput()

    register_table(
        module,
        {
            ECallCommand.INIT_ENCLAVE: (InitEnclaveInput, InitEnclaveOutput, init),
            ECallCommand.START_SERVICE: (StartServiceInput, StartServiceOutput, start_service),
            ECallCommand.FINALIZE_ENCLAVE: (FinalizeEnclaveInput, FinalizeEnclaveOutput, finalize),
        },
    )


def launch(package_name: str, argv: Sequence[str] | None = None) -> int:
    """The untrusted app of one service: load config, bind the enclave, serve until a signal.

    Exit status 0 after a clean stop, 1 if the service failed to start or stopped by itself.
    """
    parser = argparse.ArgumentParser(prog=package_name)
    parser.add_argument("--config", default="runtime.config.toml", help="runtime config file")
    parser.add_argument(
        "--enclave-mode",
        choices=["in-process", "child-process"],
        default=os.environ.get("TEACLAVE_ENCLAVE_MODE", "in-process"),
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("TEACLAVE_LOG", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = RuntimeConfig.from_toml(args.config)
    tee = TeeBinder(package_name, mode=args.enclave_mode)
    done = threading.Event()
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            tee.invoke(ECallCommand.START_SERVICE, StartServiceInput(config), StartServiceOutput)
        except TeeServiceError as exc:
            failure.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=serve, name=f"{package_name}-start", daemon=True)
    thread.start()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    tee.finalize()
    thread.join(timeout=10)
    if failure:
        log.error("%s: %s", package_name, failure[0])
        return 1
    return 0
