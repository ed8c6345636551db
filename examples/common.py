"""Helpers shared by the example scripts: settings, users, encrypted files, task results.

Every example talks to a running platform (``teaclave up --dev --allow-host 127.0.0.1``)
through the client SDK, exactly as a remote user would. Connection settings come from the
environment:

* ``TEACLAVE_AUTH_ADDR`` (default ``localhost:7776``) and ``TEACLAVE_FRONTEND_ADDR``
  (``localhost:7777``): the two user-facing endpoints;
* ``TEACLAVE_CA`` (``teaclave_state/tee/sim_root_cert.pem``): the attestation root the
  endpoints' evidence must chain to, and ``TEACLAVE_ENCLAVE_INFO`` (default: the
  ``enclave_info.toml`` next to it): the measurements the endpoints must have;
* ``TEACLAVE_ADMIN`` / ``TEACLAVE_ADMIN_PASSWORD`` (``admin`` / ``teaclave``, the account
  ``--dev`` creates): the PlatformAdmin that registers the examples' users;
* ``TEACLAVE_FILE_HOST`` (``127.0.0.1``): where the data owners' file server listens; the
  platform's workers must be allowed to reach it (``--allow-host``).
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
import tempfile
import time
import traceback
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import NoReturn

from teaclave.cli.file_server import FileServer
from teaclave.crypto import aes_gcm
from teaclave.crypto.protected_fs import ProtectedFileReader, ProtectedFileWriter
from teaclave.sdk import AuthenticationService, FrontendService, TaskStatus, TeaclaveException

#: Password of every user the examples register (Teaclave's examples use one too).
USER_PASSWORD = "teaclave-example-password"
#: How long an example waits for one task to end.
TASK_TIMEOUT_SECS = 120.0
#: The repository root (``examples/..``); Teaclave's fixtures, when present, are beside it.
REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT.parent / "shared" / "fixtures" / "teaclave"
#: The prefix of the platform's error when a task's executor cannot run on its machine.
UNAVAILABLE = "function not available"

__all__ = [
    "REPO_ROOT",
    "SETTINGS",
    "USER_PASSWORD",
    "DataServer",
    "ExampleFailure",
    "Settings",
    "Skip",
    "TaskStatus",
    "admin_auth",
    "check",
    "data_url",
    "fixture",
    "login",
    "new_key",
    "output_tags",
    "register_users",
    "run",
    "step",
    "task_result",
    "wait_for_status",
]


class ExampleFailure(Exception):
    """The example did not get what it expected (exit status 1)."""


class Skip(Exception):
    """The platform cannot run this example (e.g. its executor is unavailable); exit 0."""


@dataclass(frozen=True)
class Settings:
    """Where the platform is and who administers it."""

    auth_address: str
    frontend_address: str
    ca_cert: Path
    enclave_info: Path
    admin: str
    admin_password: str
    file_host: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``env`` (default ``os.environ``); defaults suit ``teaclave up --dev``."""
        env = os.environ if env is None else env
        ca_cert = Path(env.get("TEACLAVE_CA") or "teaclave_state/tee/sim_root_cert.pem")
        return cls(
            auth_address=env.get("TEACLAVE_AUTH_ADDR", "localhost:7776"),
            frontend_address=env.get("TEACLAVE_FRONTEND_ADDR", "localhost:7777"),
            ca_cert=ca_cert,
            enclave_info=Path(
                env.get("TEACLAVE_ENCLAVE_INFO") or ca_cert.parent / "enclave_info.toml"
            ),
            admin=env.get("TEACLAVE_ADMIN", "admin"),
            admin_password=env.get("TEACLAVE_ADMIN_PASSWORD", "teaclave"),
            file_host=env.get("TEACLAVE_FILE_HOST", "127.0.0.1"),
        )


SETTINGS = Settings.from_env()


# ---------------------------------------------------------------------- output and control
def step(text: str) -> None:
    """Print one step of the example."""
    print(f"--> {text}", flush=True)


def check(condition: bool, what: str) -> None:
    """Fail the example with ``what`` unless ``condition`` holds."""
    if not condition:
        raise ExampleFailure(what)


def run(main: Callable[[], None]) -> NoReturn:
    """Run ``main`` and exit: 0 on success or skip, 1 on failure (with the reason)."""
    try:
        main()
    except Skip as exc:
        print(f"skipped: {exc}", flush=True)
        sys.exit(0)
    except ExampleFailure as exc:
        print(f"FAILED: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    except TeaclaveException as exc:
        code = f" ({exc.code.name})" if exc.code is not None else ""
        print(f"FAILED: {exc.message}{code}", file=sys.stderr, flush=True)
        sys.exit(1)
    except Exception:
        traceback.print_exc()
        sys.exit(1)
    sys.exit(0)


def fixture(relative: str) -> Path | None:
    """A file of Teaclave's fixtures (``../shared/fixtures/teaclave``) if it exists."""
    path = FIXTURES / relative
    return path if path.is_file() else None


# ---------------------------------------------------------------------- users and clients
def admin_auth(settings: Settings = SETTINGS) -> AuthenticationService:
    """An authentication client logged in as the platform administrator."""
    auth = AuthenticationService(
        settings.auth_address, settings.ca_cert, settings.enclave_info
    ).connect()
    auth.user_login(settings.admin, settings.admin_password)
    return auth


def register_users(
    users: Sequence[str],
    role: str = "PlatformAdmin",
    attribute: str = "",
    password: str = USER_PASSWORD,
    settings: Settings = SETTINGS,
) -> None:
    """Register ``users`` (as the admin); users that already exist are kept as they are.

    Like Teaclave's examples, every user is a ``PlatformAdmin`` unless told otherwise, so that
    the examples show the task workflow rather than the role rules (spec §5.2).
    """
    with admin_auth(settings) as auth:
        for user in users:
            try:
                auth.user_register(user, password, role, attribute)
            except TeaclaveException as exc:
                if "user id exist" not in exc.message:
                    raise
    step(f"registered users {', '.join(users)} ({role})")


def login(
    user: str, password: str = USER_PASSWORD, settings: Settings = SETTINGS
) -> FrontendService:
    """A frontend client with ``user``'s fresh credentials."""
    with AuthenticationService(
        settings.auth_address, settings.ca_cert, settings.enclave_info
    ).connect() as auth:
        token = auth.user_login(user, password)
    frontend = FrontendService(
        settings.frontend_address, settings.ca_cert, settings.enclave_info
    ).connect()
    frontend.metadata = {"id": user, "token": token}
    return frontend


# ---------------------------------------------------------------------- tasks
def wait_for_status(
    client: FrontendService, task_id: str, wanted: TaskStatus, timeout: float = 60.0
) -> None:
    """Poll until the task reaches ``wanted``.

    Fails if the task ends in another status first; a missing executor raises :class:`Skip`.
    """
    deadline = time.monotonic() + timeout
    ended = {TaskStatus.Finished, TaskStatus.Failed, TaskStatus.Canceled}
    while True:
        status = TaskStatus(client.get_task_response(task_id).status)
        if status is wanted:
            return
        if status in ended:
            task = client.get_task_response(task_id)
            reason = task.result.Err.reason if task.result.HasField("Err") else ""
            if reason.startswith(UNAVAILABLE):
                raise Skip(reason)
            raise ExampleFailure(
                f"task {task_id} ended {status.name} ({reason}), never {wanted.name}"
            )
        if time.monotonic() > deadline:
            raise ExampleFailure(f"task {task_id} still {status.name} after {timeout} s")
        time.sleep(0.05)


def task_result(client: FrontendService, task_id: str, timeout: float = TASK_TIMEOUT_SECS) -> str:
    """Wait for the task; its result text. A missing executor raises :class:`Skip`."""
    task = client.wait_task(task_id, timeout)
    status = TaskStatus(task.status)
    if status is TaskStatus.Finished and task.result.HasField("Ok"):
        return bytes(task.result.Ok.return_value).decode()
    reason = task.result.Err.reason if task.result.HasField("Err") else "no result"
    if reason.startswith(UNAVAILABLE):
        raise Skip(reason)
    raise ExampleFailure(f"task {task_id} ended {status.name}: {reason}")


def output_tags(client: FrontendService, task_id: str) -> dict[str, bytes]:
    """The tags (cmacs) of a finished task's outputs, by output name."""
    task = client.get_task_response(task_id)
    return {name: bytes(tag) for name, tag in task.result.Ok.tags_map.items()}


# ---------------------------------------------------------------------- data
def data_url(content: bytes) -> str:
    """A ``data:`` URL carrying ``content`` (the platform accepts only this form)."""
    return "data:text/plain;base64," + base64.b64encode(content).decode()


class DataServer:
    """The data owners' HTTP file server (GET/PUT) over a fresh temporary directory.

    Owners encrypt their files into it before registering their URLs, and the platform PUTs
    the encrypted outputs back into it; the owners then download and decrypt them. Use it as a
    context manager.
    """

    def __init__(self, host: str = SETTINGS.file_host) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="teaclave-example-")
        self.root = Path(self._tmp.name) / "served"
        self.root.mkdir()
        self.downloads = Path(self._tmp.name) / "downloads"
        self.downloads.mkdir()
        self.server = FileServer(self.root, host=host)

    def __enter__(self) -> DataServer:
        self.server.__enter__()
        step(f"data owners' file server at http://{self.server.host}:{self.server.port}/")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.__exit__(exc_type, exc, tb)
        self._tmp.cleanup()

    def url(self, name: str) -> str:
        """The URL of ``name`` on this server (where an output will be PUT, for outputs)."""
        return self.server.url(name)

    def publish_protected(self, name: str, plain: bytes, key: bytes) -> tuple[str, bytes]:
        """Encrypt ``plain`` as ``teaclave-file-128`` under ``key``; (URL, cmac)."""
        with ProtectedFileWriter(self.root / name, key) as writer:
            writer.write(plain)
        cmac = writer.close()
        return self.url(name), cmac

    def publish_aes_gcm(self, name: str, plain: bytes, key: bytes, iv: bytes) -> tuple[str, bytes]:
        """Encrypt ``plain`` as ``aes-gcm-128``/``-256`` (by key length); (URL, cmac = tag)."""
        sealed = aes_gcm.encrypt(key, iv, plain)
        (self.root / name).write_bytes(sealed)
        return self.url(name), sealed[-16:]

    def _download(self, name: str) -> Path:
        local = self.downloads / secrets.token_hex(4) / name
        local.parent.mkdir()
        with urllib.request.urlopen(self.url(name), timeout=30) as response:
            local.write_bytes(response.read())
        return local

    def fetch_protected(self, name: str, key: bytes, tag: bytes) -> bytes:
        """Download output ``name`` and decrypt it, checking it has the task's ``tag``."""
        with ProtectedFileReader(self._download(name), key, expected_tag=tag) as reader:
            return reader.read()

    def fetch_aes_gcm(self, name: str, key: bytes, iv: bytes, tag: bytes) -> bytes:
        """Download an ``aes-gcm`` output and decrypt it, checking the task's ``tag``."""
        return aes_gcm.decrypt(key, iv, self._download(name).read_bytes(), expected_tag=tag)


def new_key() -> bytes:
    """A fresh 128-bit key, as a data owner would pick for ``teaclave-file-128``."""
    return secrets.token_bytes(16)
