"""``teaclave demo``: a private platform and a real two-party private set intersection.

Two data owners, Alice and Bob, each hold a customer list they will not show the other. Each
hashes and sorts it, encrypts it with a key only they know (``teaclave-file-128``), puts it on
a file server, and registers it with the platform together with where the result should go.
The platform's ``builtin-ordered-set-intersect`` runs once both have approved; each owner
then fetches and decrypts a result only they can read, learning which of their own customers
the other party also has — and nothing else.
"""

from __future__ import annotations

import hashlib
import secrets
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import TextIO

from teaclave.cli.file_server import FileServer
from teaclave.crypto.protected_fs import ProtectedFileReader, ProtectedFileWriter
from teaclave.sdk import (
    AuthenticationService,
    DataMap,
    FrontendService,
    FunctionArgument,
    FunctionInput,
    FunctionOutput,
    OwnerList,
)
from teaclave.services.embedded import EmbeddedPlatform, free_port_config

CUSTOMERS = {
    "alice": [
        "ann@example.org",
        "carl@example.org",
        "dora@example.org",
        "emil@example.org",
        "fay@example.org",
        "gus@example.org",
    ],
    "bob": [
        "bea@example.org",
        "carl@example.org",
        "emil@example.org",
        "hal@example.org",
        "gus@example.org",
    ],
}


def _hashed(emails: list[str]) -> list[tuple[str, str]]:
    """(hex SHA-256, email) pairs sorted by hash: what each owner encrypts."""
    return sorted((hashlib.sha256(e.encode()).hexdigest(), e) for e in emails)


def run_demo(message: str, out: TextIO) -> int:
    """Run the two-party PSI demo end to end; ``message`` is echoed by a first, tiny task."""

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    with tempfile.TemporaryDirectory(prefix="teaclave-demo-") as tmp:
        root = Path(tmp)
        admin_password = secrets.token_urlsafe(16)
        config = free_port_config(
            root / "state",
            authentication={"admin_password": admin_password},
            file_agent={"allowed_hosts": ["127.0.0.1"]},
        )
        shared = root / "files"
        shared.mkdir()
        say("[demo] starting the platform (TEE platform: sim — simulation, no hardware protection)")
        started = time.perf_counter()
        with EmbeddedPlatform(config, workers=1) as platform, FileServer(shared) as files:
            say(f"[demo] seven services and one worker up in {time.perf_counter() - started:.2f} s")
            say(f"[demo] the data owners' file server: http://127.0.0.1:{files.port}/")
            ca, info = platform.attestation_root_path, platform.enclave_info_path
            tokens: dict[str, str] = {}
            with AuthenticationService(platform.authentication_address, ca, info) as auth:
                auth.connect().user_login("admin", admin_password)
                for user in ("alice", "bob"):
                    auth.user_register(user, f"{user}-password", "DataOwner", user)
                with AuthenticationService(platform.authentication_address, ca, info) as login:
                    for user in ("alice", "bob"):
                        tokens[user] = login.user_login(user, f"{user}-password")
                admin_token = auth.metadata["token"] if auth.metadata else ""
            say("[demo] admin registered data owners alice and bob; both logged in")

            def client(user: str, token: str) -> FrontendService:
                frontend = FrontendService(platform.frontend_address, ca, info).connect()
                frontend.metadata = {"id": user, "token": token}
                return frontend

            admin = client("admin", admin_token)
            echo_id = admin.register_function(
                "builtin-echo",
                "Native Echo Function",
                "builtin",
                arguments=[FunctionArgument("message")],
            )
            echo_task = admin.create_task(echo_id, {"message": message}, "builtin")
            admin.invoke_task(echo_task)
            echoed = admin.get_task_result(echo_task, 30).decode()
            say(f"[demo] warm-up builtin-echo task finished; result: {echoed!r}")
            function_id = admin.register_function(
                name="builtin-ordered-set-intersect",
                description="Private set intersection of two sorted hash lists",
                executor_type="builtin",
                arguments=[FunctionArgument("order")],
                inputs=[
                    FunctionInput("input_data1", "alice's list"),
                    FunctionInput("input_data2", "bob's list"),
                ],
                outputs=[
                    FunctionOutput("output_result1", "alice's result"),
                    FunctionOutput("output_result2", "bob's result"),
                ],
            )
            say(f"[demo] admin registered builtin-ordered-set-intersect as {function_id}")
            alice, bob = client("alice", tokens["alice"]), client("bob", tokens["bob"])
            task_id = alice.create_task(
                function_id,
                {"order": "ascending"},
                "builtin",
                inputs_ownership=[
                    OwnerList("input_data1", ["alice"]),
                    OwnerList("input_data2", ["bob"]),
                ],
                outputs_ownership=[
                    OwnerList("output_result1", ["alice"]),
                    OwnerList("output_result2", ["bob"]),
                ],
            )
            say(f"[demo] alice created task {task_id}")
            keys: dict[str, bytes] = {}
            for index, (user, frontend) in enumerate((("alice", alice), ("bob", bob)), 1):
                keys[user] = secrets.token_bytes(16)
                name = f"{user}_customers.txt.enc"
                lines = "".join(f"{h}\n" for h, _ in _hashed(CUSTOMERS[user])).encode()
                with ProtectedFileWriter(shared / name, keys[user]) as writer:
                    writer.write(lines)
                cmac = writer.close()
                input_id = frontend.register_input_file(
                    files.url(name), "teaclave-file-128", keys[user], b"", cmac
                )
                output_id = frontend.register_output_file(
                    files.url(f"{user}_result.enc"), "teaclave-file-128", keys[user], b""
                )
                frontend.assign_data_to_task(
                    task_id,
                    [DataMap(f"input_data{index}", input_id)],
                    [DataMap(f"output_result{index}", output_id)],
                )
                say(
                    f"[demo] {user} encrypted {len(CUSTOMERS[user])} hashed customers "
                    f"(cmac {cmac.hex()}), registered and assigned them"
                )
            for user, frontend in (("alice", alice), ("bob", bob)):
                frontend.approve_task(task_id)
                say(f"[demo] {user} approved the task")
            t0 = time.perf_counter()
            alice.invoke_task(task_id)
            summary = alice.get_task_result(task_id, timeout=60).decode()
            say(f"[demo] task finished in {(time.perf_counter() - t0) * 1000:.0f} ms: {summary!r}")
            for user in ("alice", "bob"):
                name = f"{user}_result.enc"
                local = root / name
                with urllib.request.urlopen(files.url(name)) as response:
                    local.write_bytes(response.read())
                with ProtectedFileReader(local, keys[user]) as reader:
                    marks = reader.read().decode()
                mine = _hashed(CUSTOMERS[user])
                common = [
                    email for (_, email), mark in zip(mine, marks, strict=True) if mark == "1"
                ]
                say(
                    f"[demo] {user} decrypted the result: {marks} → shared customers: "
                    f"{', '.join(common)}"
                )
            for frontend in (admin, alice, bob):
                frontend.close()
        say("[demo] platform stopped")
    return 0
