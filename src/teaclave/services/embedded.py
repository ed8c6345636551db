"""The embedded platform: all seven services and N execution workers in one process.

This is what ``teaclave up`` and ``teaclave demo`` run, and what the test-suite and the
benchmarks start. Each service still has its own enclave (``TeeBinder``), its own attested
TLS endpoint and its own RA-TLS identity, and services talk only over gRPC, exactly as in a
one-service-per-process deployment.

On start, a ``sim`` platform without ``[audit] enclave_info`` provisions the development audit
material of its state directory (two dev auditor keys, the sim measurements of all seven
services, their signatures; see :func:`teaclave.services.launcher.provision_dev_audit`). SDK
clients trust :attr:`EmbeddedPlatform.attestation_root_path` (the sim root certificate) and
check the measurements of :attr:`EmbeddedPlatform.enclave_info_path`.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from teaclave.binder import ECallCommand, StartServiceInput, StartServiceOutput, TeeBinder
from teaclave.binder.commands import TeeServiceError
from teaclave.config import RuntimeConfig
from teaclave.config.build import (
    ACCESS_CONTROL,
    AUTHENTICATION,
    EXECUTION,
    FRONTEND,
    MANAGEMENT,
    SCHEDULER,
    STORAGE,
)
from teaclave.config.runtime import default_dict
from teaclave.services.launcher import AuditMaterial, audit_material
from teaclave.tee import get_platform
from teaclave.tee.sim_quote import SIM_ROOT_CERT_FILE

log = logging.getLogger(__name__)

#: Start order: upstreams first, so dependants find them listening.
START_ORDER = (STORAGE, AUTHENTICATION, ACCESS_CONTROL, MANAGEMENT, SCHEDULER, FRONTEND)
START_TIMEOUT_SECS = 60.0


class PlatformStartError(RuntimeError):
    """A service of the embedded platform failed to start."""


_ISSUED_PORTS: set[int] = set()
_PORT_LOCK = threading.Lock()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``.

    Chosen below the kernel's ephemeral range, so that the source port of some outgoing
    connection cannot take it between now and the moment a service binds it, and never the
    same port twice in one process.
    """
    low = 20000
    high = max(low + 1000, _ephemeral_low())
    with _PORT_LOCK:
        for _ in range(500):
            port = random.randrange(low, high)
            if port in _ISSUED_PORTS:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    continue
            _ISSUED_PORTS.add(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_port_config(
    state_dir: str | Path, host: str = "127.0.0.1", **overrides: Any
) -> RuntimeConfig:
    """A configuration with every endpoint on a free port of ``host``.

    ``overrides`` are merged into the TOML-shaped document by section, e.g.
    ``scheduler={"executor_timeout_secs": 2.0}``.
    """
    raw = default_dict(
        host=host,
        state_dir=str(state_dir),
        api_ports={"authentication": free_port(host), "frontend": free_port(host)},
        internal_ports={
            name: free_port(host)
            for name in (
                "authentication",
                "management",
                "storage",
                "access_control",
                "execution",
                "scheduler",
            )
        },
    )
    for section, values in overrides.items():
        raw.setdefault(section, {}).update(values)
    return RuntimeConfig.from_dict(raw)


@dataclass
class _Running:
    name: str
    binder: TeeBinder
    thread: threading.Thread
    error: list[BaseException] = field(default_factory=list)


class EmbeddedPlatform:
    """Start and stop the whole platform in this process.

    >>> with EmbeddedPlatform(config, workers=2) as platform:  # doctest: +SKIP
    ...     print(platform.frontend_address)
    """

    def __init__(self, config: RuntimeConfig, workers: int = 1) -> None:
        if workers < 0:
            raise ValueError("workers: must be >= 0")
        self.config = config
        self.workers = workers
        self._running: list[_Running] = []
        self._lock = threading.Lock()
        self._audit: AuditMaterial | None = None

    # ------------------------------------------------------------------ addresses
    @property
    def authentication_address(self) -> str:
        """``host:port`` of the authentication API."""
        return self.config.api_endpoints["authentication"].target

    @property
    def frontend_address(self) -> str:
        """``host:port`` of the frontend API."""
        return self.config.api_endpoints["frontend"].target

    @property
    def attestation_root_path(self) -> Path:
        """The root the SDK trusts for service evidence (``sim``: the simulated root)."""
        return Path(self.config.state_dir) / "tee" / SIM_ROOT_CERT_FILE

    @property
    def ca_cert_path(self) -> Path:
        """Kept for callers of the pre-attestation API: the same as ``attestation_root_path``."""
        return self.attestation_root_path

    @property
    def audit(self) -> AuditMaterial:
        """The audit material in use (available after :meth:`start`)."""
        if self._audit is None:
            raise RuntimeError("audit material: start the platform first")
        return self._audit

    @property
    def enclave_info_path(self) -> Path:
        """The enclave_info the services (and SDK clients) accept."""
        return self.audit.enclave_info

    @property
    def auditor_public_key_paths(self) -> tuple[Path, ...]:
        """The auditors' public keys (PEM) that signed enclave_info."""
        return self.audit.auditor_keys

    @property
    def signature_paths(self) -> tuple[Path, ...]:
        """The auditor signatures over enclave_info."""
        return self.audit.signatures

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> EmbeddedPlatform:
        """Provision attestation material, start every service in dependency order and wait.

        Fails loudly when the configured TEE platform is missing.
        """
        Path(self.config.state_dir).mkdir(parents=True, exist_ok=True)
        platform = get_platform(self.config.attestation.platform, self.config.state_dir)
        self._audit = audit_material(self.config, platform)
        try:
            for name in START_ORDER:
                self._start_one(name, name)
            for index in range(self.workers):
                self.add_worker(index)
        except BaseException:
            self.stop()
            raise
        return self

    def add_worker(self, index: int | None = None) -> None:
        """Start one more execution worker."""
        label = f"{EXECUTION}#{len(self._running) if index is None else index}"
        self._start_one(EXECUTION, label)

    def _start_one(self, package: str, label: str) -> None:
        binder = TeeBinder(package)
        running = _Running(label, binder, threading.Thread())

        def serve() -> None:
            try:
                binder.invoke(
                    ECallCommand.START_SERVICE, StartServiceInput(self.config), StartServiceOutput
                )
            except TeeServiceError as exc:
                running.error.append(exc)

        running.thread = threading.Thread(target=serve, name=f"start-{label}", daemon=True)
        with self._lock:
            self._running.append(running)
        running.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECS
        while not binder.wait_ready(0.01):
            if not running.thread.is_alive():
                break
            if time.monotonic() > deadline:
                raise PlatformStartError(
                    f"{label} failed to start: not ready after {START_TIMEOUT_SECS:g} s"
                )
        if running.error or not running.thread.is_alive():
            reason = running.error[0] if running.error else "stopped during start"
            raise PlatformStartError(f"{label} failed to start: {reason}")

    def stop(self) -> None:
        """Stop every service, the last started first."""
        with self._lock:
            running, self._running = self._running, []
        for item in reversed(running):
            try:
                item.binder.finalize()
            except TeeServiceError as exc:
                log.warning("finalizing %s: %s", item.name, exc)
            item.thread.join(timeout=10)

    def __enter__(self) -> EmbeddedPlatform:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
