"""``teaclave demo``: a private platform in a temporary directory and a real task through it."""

from __future__ import annotations

import secrets
import tempfile
import time
from typing import TextIO

from teaclave.sdk import AuthenticationService, FrontendService, FunctionArgument
from teaclave.services.embedded import EmbeddedPlatform, free_port_config


def run_demo(message: str, out: TextIO) -> int:
    """Start the platform on free ports, run builtin-echo as a registered user, stop."""

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    with tempfile.TemporaryDirectory(prefix="teaclave-demo-") as state_dir:
        admin_password = secrets.token_urlsafe(16)
        config = free_port_config(state_dir, authentication={"admin_password": admin_password})
        say(f"[demo] starting the platform in {state_dir}")
        say("[demo] TEE platform: sim (simulation, no hardware protection)")
        started = time.perf_counter()
        with EmbeddedPlatform(config, workers=1) as platform:
            say(f"[demo] seven services and one worker up in {time.perf_counter() - started:.2f} s")
            ca = platform.ca_cert_path
            with AuthenticationService(platform.authentication_address, ca) as auth:
                auth.connect().user_login("admin", admin_password)
                say("[demo] admin logged in")
                auth.user_register("alice", "alice-password", "PlatformAdmin", "")
                say("[demo] admin registered user 'alice'")
                token = auth.user_login("alice", "alice-password")
                say("[demo] alice logged in")
            with FrontendService(platform.frontend_address, ca) as frontend:
                frontend.metadata = {"id": "alice", "token": token}
                function_id = frontend.connect().register_function(
                    name="builtin-echo",
                    description="Native Echo Function",
                    executor_type="builtin",
                    arguments=[FunctionArgument("message")],
                )
                say(f"[demo] alice registered builtin-echo as {function_id}")
                task_id = frontend.create_task(
                    function_id=function_id,
                    function_arguments={"message": message},
                    executor="builtin",
                )
                say(f"[demo] alice created task {task_id}")
                t0 = time.perf_counter()
                frontend.invoke_task(task_id)
                say("[demo] alice invoked the task")
                result = frontend.get_task_result(task_id, timeout=30)
                elapsed = (time.perf_counter() - t0) * 1000
                say(f"[demo] task finished in {elapsed:.1f} ms; result: {result.decode()!r}")
        say("[demo] platform stopped")
    return 0
