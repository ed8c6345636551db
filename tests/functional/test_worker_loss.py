"""kill -9 of an execution worker process in the middle of a task: the task is retried.

The platform runs as ``teaclave up --workers 0``; the worker is a separate ``teaclave service
execution`` process. The task's input sits behind an HTTP endpoint that holds the download
open, so the worker is provably mid-task (Running, fetching) when it is killed. A second worker
then takes the retried task and finishes it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_processes import (  # the launcher fixture is shared from there
    ADMIN_PASSWORD,
    Endpoints,
    Launcher,
    launcher,  # noqa: F401
    write_config,
)

from teaclave.crypto.protected_fs import ProtectedFileWriter
from teaclave.sdk import (
    DataMap,
    FrontendService,
    FunctionArgument,
    FunctionInput,
    FunctionOutput,
    OwnerList,
    TaskStatus,
)


class HoldingServer:
    """GET serves files from a dict; the first GET of ``held`` blocks until released."""

    def __init__(self, files: dict[str, bytes], held: str) -> None:
        self.files = files
        self.held = held
        self.requested = threading.Event()
        self.release = threading.Event()
        self.uploads: dict[str, bytes] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                name = self.path.lstrip("/")
                if name == outer.held and not outer.requested.is_set():
                    outer.requested.set()
                    outer.release.wait(30)
                body = outer.files.get(name)
                if body is None:
                    self.send_error(HTTPStatus.NOT_FOUND)
                    return
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_PUT(self) -> None:
                length = int(self.headers["Content-Length"])
                outer.uploads[self.path.lstrip("/")] = self.rfile.read(length)
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.httpd.server_address[1])
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def protected(tmp: Path, name: str, lines: list[str], key: bytes) -> tuple[bytes, bytes]:
    path = tmp / name
    with ProtectedFileWriter(path, key) as writer:
        writer.write("".join(f"{line}\n" for line in lines).encode())
    return path.read_bytes(), writer.close()


@pytest.fixture
def holding(tmp_path: Path) -> Iterator[tuple[HoldingServer, dict[str, bytes]]]:
    key = bytes(16)
    a, cmac_a = protected(tmp_path, "a.enc", ["01", "02", "03"], key)
    b, cmac_b = protected(tmp_path, "b.enc", ["02", "03", "04"], key)
    server = HoldingServer({"a.enc": a, "b.enc": b}, held="a.enc")
    yield server, {"a.enc": cmac_a, "b.enc": cmac_b}
    server.close()


def start_platform(
    runner: Launcher, tmp_path: Path, server: HoldingServer, max_attempts: int | None = None
) -> tuple[Path, Endpoints]:
    """``teaclave up --workers 0`` allowed to reach ``server``; returns (config, endpoints)."""
    config = write_config(tmp_path)
    with config.open("a") as fh:
        fh.write(f'\n[file_agent]\nallowed_hosts = ["127.0.0.1:{server.port}"]\n')
    if max_attempts is not None:
        text = config.read_text()
        config.write_text(
            text.replace("[scheduler]\n", f"[scheduler]\nmax_attempts = {max_attempts}\n")
        )
    up = runner.up(config, "--workers", "0")
    endpoints = Endpoints.of(config)
    endpoints.wait_ready(up)
    return config, endpoints


def invoke_psi_task(client: FrontendService, server: HoldingServer, cmacs: dict[str, bytes]) -> str:
    """Register, assign and invoke a PSI task on the server's a.enc and b.enc; its task id."""
    function_id = client.register_function(
        "builtin-ordered-set-intersect",
        "psi",
        "builtin",
        arguments=[FunctionArgument("order")],
        inputs=[FunctionInput("input_data1", ""), FunctionInput("input_data2", "")],
        outputs=[FunctionOutput("output_result1", ""), FunctionOutput("output_result2", "")],
    )
    owners = ["admin"]
    task_id = client.create_task(
        function_id,
        {"order": "ascending"},
        "builtin",
        inputs_ownership=[OwnerList(n, owners) for n in ("input_data1", "input_data2")],
        outputs_ownership=[OwnerList(n, owners) for n in ("output_result1", "output_result2")],
    )
    inputs, outputs = [], []
    for index, name in enumerate(("a.enc", "b.enc"), 1):
        input_id = client.register_input_file(
            server.url(name), "teaclave-file-128", bytes(16), b"", cmacs[name]
        )
        output_id = client.register_output_file(
            server.url(f"out{index}.enc"), "teaclave-file-128", bytes(16), b""
        )
        inputs.append(DataMap(f"input_data{index}", input_id))
        outputs.append(DataMap(f"output_result{index}", output_id))
    client.assign_data_to_task(task_id, inputs, outputs)
    client.invoke_task(task_id)
    return task_id


@pytest.mark.slow
def test_kill_9_worker_mid_task_is_retried_on_another_worker(
    launcher: Launcher,  # noqa: F811
    tmp_path: Path,
    holding: tuple[HoldingServer, dict[str, bytes]],
) -> None:
    server, cmacs = holding
    config, endpoints = start_platform(launcher, tmp_path, server)
    first_worker = launcher.start("worker-1", "service", "execution", "--config", str(config))
    token = endpoints.login("admin", ADMIN_PASSWORD)
    with endpoints.frontend("admin", token) as client:
        task_id = invoke_psi_task(client, server, cmacs)
        assert server.requested.wait(20), first_worker.output()
        assert client.get_task(task_id)["status"] == TaskStatus.Running
        first_worker.kill_group()
        launcher.start("worker-2", "service", "execution", "--config", str(config))
        server.release.set()
        task = client.wait_task(task_id, timeout=60)
        assert task.status == TaskStatus.Finished, task.result.Err.reason
        assert task.result.Ok.return_value == b"2 common items"
        assert set(server.uploads) == {"out1.enc", "out2.enc"}


@pytest.mark.slow
def test_task_fails_with_reason_when_every_attempt_loses_its_worker(
    launcher: Launcher,  # noqa: F811
    tmp_path: Path,
    holding: tuple[HoldingServer, dict[str, bytes]],
) -> None:
    server, cmacs = holding
    config, endpoints = start_platform(launcher, tmp_path, server, max_attempts=1)
    worker = launcher.start("worker", "service", "execution", "--config", str(config))
    token = endpoints.login("admin", ADMIN_PASSWORD)
    with endpoints.frontend("admin", token) as client:
        task_id = invoke_psi_task(client, server, cmacs)
        assert server.requested.wait(20), worker.output()
        worker.kill_group()
        task = client.wait_task(task_id, timeout=60)
        assert task.status == TaskStatus.Failed
        assert "Executor Timeout" in task.result.Err.reason
