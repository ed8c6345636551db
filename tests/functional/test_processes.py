"""The platform as real OS processes: crashes (SIGKILL), restarts, one service per process, signals.

Every process is ``python -m teaclave.cli ...`` in its own session (process group) with a
``runtime.config.toml`` in Teaclave's layout on free ports; readiness is observed through the
SDK (or the ``Press Ctrl-C`` line), never by sleeping.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from teaclave.config import RuntimeConfig
from teaclave.sdk import (
    AuthenticationService,
    FrontendService,
    FunctionArgument,
    TaskStatus,
    TeaclaveException,
)
from teaclave.services.embedded import free_port

ADMIN_PASSWORD = "process-admin-password"
USER_PASSWORD = "process-user-password"
HOST = "127.0.0.1"
INTERNAL = ("authentication", "management", "storage", "access_control", "execution", "scheduler")
#: ``teaclave service`` names in dependency order (execution is started separately).
SERVICES = ("storage", "authentication", "access_control", "management", "scheduler", "frontend")
READY_SECS = 30.0
TASK_SECS = 20.0
EXIT_SECS = 10.0


# ---------------------------------------------------------------------- configuration
def write_config(directory: Path, *, admin_password: str = ADMIN_PASSWORD) -> Path:
    """Write ``runtime.config.toml`` (Teaclave's layout + our sections) on free ports."""
    api = {name: free_port(HOST) for name in ("authentication", "frontend")}
    internal = {name: free_port(HOST) for name in INTERNAL}
    lines = ["[api_endpoints]"]
    lines += [f'{n} = {{ listen_address = "{HOST}:{p}" }}' for n, p in api.items()]
    lines += ["", "[internal_endpoints]"]
    lines += [
        f'{n} = {{ listen_address = "{HOST}:{p}", advertised_address = "https://{HOST}:{p}" }}'
        for n, p in internal.items()
    ]
    lines += [
        "",
        "[audit]",
        'enclave_info = { path = "enclave_info.toml" }',
        "auditor_signatures = []",
        "",
        "[mount]",
        'fusion_base_dir = "state/fusion_data"',
        "",
        "[state]",
        'dir = "state"',
        "",
        "[authentication]",
        f'admin_password = "{admin_password}"',
        "argon2_time_cost = 1",
        "argon2_memory_kib = 8",
        "argon2_parallelism = 1",
        "",
        "[scheduler]",
        "executor_timeout_secs = 2.0",
        "heartbeat_wait_secs = 0.2",
        "",
        "[frontend]",
        "audit_flush_secs = 0.1",
    ]
    path = directory / "runtime.config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------------- processes
def cli_env() -> dict[str, str]:
    """The environment minus anything that would override the test's configuration."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TEACLAVE__", "AS_")) and k != "TEACLAVE_ADMIN_PASSWORD"
    }
    env["TEACLAVE_ENCLAVE_MODE"] = "in-process"
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Proc:
    """One ``teaclave`` process (leader of its own process group) and its output file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill_group(self) -> None:
        """SIGKILL the whole process group (a child-process enclave dies with it)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(EXIT_SECS)

    def signal_and_wait(self, sig: signal.Signals, timeout: float = EXIT_SECS) -> int:
        """Send ``sig`` to the process itself and return its exit status."""
        self.popen.send_signal(sig)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} still running {timeout} s after {sig.name}:\n{self.output()}")

    def wait_for_line(self, text: str, timeout: float = READY_SECS) -> None:
        """Wait until the process printed ``text`` (fails at once if it exits)."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if not self.alive():
                pytest.fail(f"{self.name} exited ({self.popen.returncode}):\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name} did not print {text!r} in {timeout} s:\n{self.output()}")
            time.sleep(0.02)


@dataclass
class Launcher:
    """Starts ``teaclave`` processes in ``directory``; the fixture kills leftovers."""

    directory: Path
    procs: list[Proc] = field(default_factory=list)
    _count: int = 0

    def start(self, name: str, *args: str) -> Proc:
        self._count += 1
        log = self.directory / f"{self._count:02d}-{name.replace(' ', '_')}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "teaclave.cli", *args],
                cwd=self.directory,
                env=cli_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def up(self, config: Path, *args: str) -> Proc:
        return self.start("up", "up", "--config", str(config), *args)

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.alive():
                proc.kill_group()


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    runner = Launcher(tmp_path)
    try:
        yield runner
    finally:
        runner.cleanup()


# ---------------------------------------------------------------------- clients
@dataclass
class Endpoints:
    """Where the SDK reaches a platform started from a config file."""

    config: RuntimeConfig

    @classmethod
    def of(cls, path: Path) -> Endpoints:
        return cls(RuntimeConfig.from_toml(path))

    @property
    def ca(self) -> Path:
        """The evidence root SDK clients trust (the sim root of the state directory)."""
        return self.config.state_path / "tee" / "sim_root_cert.pem"

    @property
    def enclave_info(self) -> Path:
        """The development enclave_info the services provision in the state directory."""
        return self.config.state_path / "tee" / "enclave_info.toml"

    def auth(self, timeout: float = 10.0) -> AuthenticationService:
        target = self.config.api_endpoints["authentication"].target
        return AuthenticationService(target, self.ca, self.enclave_info, timeout=timeout).connect()

    def frontend(self, user: str, token: str, timeout: float = 10.0) -> FrontendService:
        target = self.config.api_endpoints["frontend"].target
        client = FrontendService(target, self.ca, self.enclave_info, timeout=timeout).connect()
        client.metadata = {"id": user, "token": token}
        return client

    def login(self, user: str, password: str) -> str:
        with self.auth() as auth:
            return auth.user_login(user, password)

    def wait_ready(self, *procs: Proc, timeout: float = READY_SECS) -> None:
        """Retry short SDK connects to both API endpoints until they answer."""
        deadline = time.monotonic() + timeout
        pending: list[tuple[type[AuthenticationService | FrontendService], str]] = [
            (AuthenticationService, self.config.api_endpoints["authentication"].target),
            (FrontendService, self.config.api_endpoints["frontend"].target),
        ]
        while pending:
            for proc in procs:
                if not proc.alive():
                    pytest.fail(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.output()}")
            client_type, target = pending[0]
            try:
                with client_type(target, self.ca, self.enclave_info, timeout=0.5) as client:
                    client.connect()
                pending.pop(0)
            except TeaclaveException as exc:  # no CA file yet, or not listening yet
                if time.monotonic() > deadline:
                    logs = "\n".join(f"--- {p.name}\n{p.output()}" for p in procs)
                    pytest.fail(f"platform not ready in {timeout} s: {exc}\n{logs}")
                time.sleep(0.05)


def register_echo(frontend: FrontendService) -> str:
    return frontend.register_function(
        name="builtin-echo",
        description="Native Echo Function",
        executor_type="builtin",
        arguments=[FunctionArgument("message")],
    )


def create_echo_task(frontend: FrontendService, function_id: str, message: str) -> str:
    return frontend.create_task(
        function_id=function_id, function_arguments={"message": message}, executor="builtin"
    )


def run_echo(frontend: FrontendService, function_id: str, message: str) -> str:
    """Create, invoke and wait for an echo task; returns the task id."""
    task_id = create_echo_task(frontend, function_id, message)
    frontend.invoke_task(task_id)
    assert frontend.get_task_result(task_id, timeout=TASK_SECS) == message.encode()
    return task_id


# ---------------------------------------------------------------------- tests
@pytest.mark.slow
def test_everything_survives_kill_9(tmp_path: Path, launcher: Launcher) -> None:
    cfg = write_config(tmp_path)
    ends = Endpoints.of(cfg)
    first = launcher.up(cfg, "--workers", "1")
    ends.wait_ready(first)
    with ends.auth() as admin:
        admin.user_login("admin", ADMIN_PASSWORD)
        admin.user_register("alice", USER_PASSWORD, "PlatformAdmin", "")
    token = ends.login("alice", USER_PASSWORD)
    with ends.frontend("alice", token) as alice:
        function_id = register_echo(alice)
        finished = run_echo(alice, function_id, "before the crash")
        waiting = create_echo_task(alice, function_id, "after the crash")
        assert alice.get_task_response(waiting).status == TaskStatus.Created

    first.kill_group()
    assert first.popen.returncode == -signal.SIGKILL

    second = launcher.up(cfg, "--workers", "1")
    ends.wait_ready(second)
    # The token issued before the crash still works: the JWT secret is persistent.
    with ends.frontend("alice", token) as alice:
        function = alice.get_function(function_id)
        assert (function.name, function.owner) == ("builtin-echo", "alice")
        done = alice.get_task_response(finished)
        assert done.status == TaskStatus.Finished
        assert done.result.Ok.return_value == b"before the crash"
        assert alice.get_task_response(waiting).status == TaskStatus.Created
        assert set(alice.list_functions("alice")["registered_functions"]) == {function_id}
        alice.invoke_task(waiting)
        assert alice.get_task_result(waiting, timeout=TASK_SECS) == b"after the crash"
    with ends.auth() as admin:
        admin.user_login("admin", ADMIN_PASSWORD)
        assert {"admin", "alice"} <= set(admin.list_users("any"))
    assert second.signal_and_wait(signal.SIGTERM) == 0


@pytest.mark.slow
def test_staged_task_survives_a_crash(tmp_path: Path, launcher: Launcher) -> None:
    cfg = write_config(tmp_path)
    ends = Endpoints.of(cfg)
    first = launcher.up(cfg, "--workers", "0")
    ends.wait_ready(first)
    token = ends.login("admin", ADMIN_PASSWORD)
    with ends.frontend("admin", token) as admin:
        task_id = create_echo_task(admin, register_echo(admin), "staged across a crash")
        admin.invoke_task(task_id)
        assert admin.get_task_response(task_id).status == TaskStatus.Staged

    first.kill_group()

    second = launcher.up(cfg, "--workers", "1")
    ends.wait_ready(second)
    with ends.frontend("admin", token) as admin:
        assert admin.get_task_result(task_id, timeout=TASK_SECS) == b"staged across a crash"
    assert second.signal_and_wait(signal.SIGTERM) == 0


@pytest.mark.slow
def test_one_service_per_process(tmp_path: Path, launcher: Launcher) -> None:
    cfg = write_config(tmp_path)
    ends = Endpoints.of(cfg)
    child_mode = ("storage",)  # this one's enclave runs in a child process
    services = [
        launcher.start(
            name,
            "service",
            name,
            "--config",
            str(cfg),
            *(("--enclave-mode", "child-process") if name in child_mode else ()),
        )
        for name in SERVICES
    ]
    worker = launcher.start("execution", "service", "execution", "--config", str(cfg))
    ends.wait_ready(*services, worker)
    token = ends.login("admin", ADMIN_PASSWORD)
    with ends.frontend("admin", token) as admin:
        function_id = register_echo(admin)
        run_echo(admin, function_id, "first worker")

        worker.kill_group()
        replacement = launcher.start(
            "execution-2",
            "service",
            "execution",
            "--config",
            str(cfg),
            "--enclave-mode",
            "child-process",
        )
        run_echo(admin, function_id, "second worker")

    # Clean shutdown: each process exits 0 soon after SIGTERM (workers first, storage last).
    for proc in [replacement, *reversed(services)]:
        started = time.monotonic()
        status = proc.signal_and_wait(signal.SIGTERM, timeout=EXIT_SECS)
        assert status == 0, f"{proc.name} exited {status}:\n{proc.output()}"
        assert time.monotonic() - started < EXIT_SECS


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_up_stops_cleanly_on_signal(
    sig: signal.Signals, tmp_path: Path, launcher: Launcher
) -> None:
    cfg = write_config(tmp_path)
    ends = Endpoints.of(cfg)
    proc = launcher.up(cfg, "--workers", "1")
    proc.wait_for_line("Press Ctrl-C to stop.")
    ends.wait_ready(proc)
    assert proc.signal_and_wait(sig) == 0
    output = proc.output()
    assert "stopping..." in output
    assert output.rstrip().endswith("stopped.")


@pytest.mark.slow
def test_up_stops_cleanly_on_a_signal_during_start(tmp_path: Path, launcher: Launcher) -> None:
    cfg = write_config(tmp_path)
    proc = launcher.up(cfg, "--workers", "2")
    # The handler is installed before the services start; a signal while they start (here: as
    # soon as the CA exists) must still lead to a clean stop.
    ca = Endpoints.of(cfg).ca
    deadline = time.monotonic() + READY_SECS
    while not ca.exists() and proc.alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.signal_and_wait(signal.SIGTERM) == 0, proc.output()
    assert proc.output().rstrip().endswith("stopped.")


@pytest.mark.slow
def test_second_up_on_busy_ports_fails_naming_the_address(
    tmp_path: Path, launcher: Launcher
) -> None:
    cfg = write_config(tmp_path)
    ends = Endpoints.of(cfg)
    first = launcher.up(cfg, "--workers", "0")
    first.wait_for_line("Press Ctrl-C to stop.")

    second = launcher.up(cfg, "--workers", "0")
    try:
        status = second.popen.wait(READY_SECS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"second up did not exit:\n{second.output()}")
    assert status != 0
    output = second.output()
    # Storage starts first, so its address is the first one found busy.
    storage = ends.config.internal_endpoints["storage"].listen_address
    assert f"cannot listen on {storage}" in output, output
    assert "already in use" in output
    assert "Press Ctrl-C" not in output

    # The first platform is unharmed.
    ends.wait_ready(first)
    assert ends.login("admin", ADMIN_PASSWORD)
    assert first.signal_and_wait(signal.SIGINT) == 0
