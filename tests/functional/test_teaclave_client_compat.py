"""Apache Teaclave 0.6's own Python client stack (grpclib + unverified TLS) works against us.

``teaclave_client/echo_client.py`` is a client built the way Teaclave's SDK is (see its
docstring); it runs ``examples/python/builtin_echo.py``'s flow against a platform started as
``teaclave up --dev`` would (``authentication.dev = true``: Teaclave's admin/teaclave). The
grpclib stubs are generated at test time, and the client runs in a subprocess that never
imports ``teaclave``: the generated modules register the same proto file names as ours.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "grpclib", reason="grpclib (the HTTP/2 library of Teaclave's Python SDK) is not installed"
)

import teaclave.proto
from teaclave.services.embedded import EmbeddedPlatform, free_port_config

CLIENT = Path(__file__).parent / "teaclave_client" / "echo_client.py"
PROTO_DIR = Path(teaclave.proto.__file__).parent
CHEAP_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1}
MESSAGE = "Hello, Teaclave!"


def generate_stubs(out: Path) -> None:
    """``python -m grpc_tools.protoc --python_out --grpclib_python_out`` for our .proto files."""
    protos = sorted(p.name for p in PROTO_DIR.glob("*.proto"))
    assert "teaclave_frontend_service.proto" in protos
    env = dict(os.environ)
    # protoc finds the protoc-gen-grpclib_python plugin (installed with grpclib) on PATH.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            f"--python_out={out}",
            f"--grpclib_python_out={out}",
            *protos,
        ],
        cwd=PROTO_DIR,
        env=env,
        check=True,
        capture_output=True,
    )
    assert (out / "teaclave_frontend_service_grpc.py").exists()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Start a ``--dev`` platform, run the Teaclave-style client once, return its report."""
    stubs = tmp_path_factory.mktemp("grpclib_stubs")
    generate_stubs(stubs)
    state = tmp_path_factory.mktemp("compat_platform")
    config = free_port_config(
        state,
        authentication={"dev": True, "admin_password": "", **CHEAP_ARGON2},
        scheduler={"executor_timeout_secs": 2.0, "heartbeat_wait_secs": 0.2},
    )
    with EmbeddedPlatform(config, workers=1) as platform:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
        env["SGX_MODE"] = "SW"
        run = subprocess.run(
            [
                sys.executable,
                str(CLIENT),
                str(stubs),
                platform.authentication_address,
                platform.frontend_address,
                MESSAGE,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert run.returncode == 0, run.stdout + run.stderr
    data: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    data["_stubs"] = str(stubs)
    yield data


def test_client_never_imported_teaclave_and_used_generated_stubs(report: dict[str, Any]) -> None:
    assert report["imported_teaclave"] == []
    assert Path(report["stub_module"]).parent == Path(report["_stubs"])


def test_builtin_echo_example_flow_finishes(report: dict[str, Any]) -> None:
    assert report["function_id"].startswith("function-")
    assert report["task_id"].startswith("task-")
    assert report["status"] == 10  # Finished
    assert report["return_value"] == MESSAGE


def test_wrong_password_is_unauthenticated_with_teaclaves_text(report: dict[str, Any]) -> None:
    assert report["wrong_password"] == [16, "authentication failed"]


def test_unknown_method_is_unimplemented(report: dict[str, Any]) -> None:
    assert report["unknown_method"] == 12


def test_both_api_endpoints_negotiate_h2_over_modern_tls(report: dict[str, Any]) -> None:
    for endpoint in ("authentication", "frontend"):
        tls = report["tls"][endpoint]
        assert tls["alpn"] == "h2", endpoint
        assert tls["version"] in ("TLSv1.2", "TLSv1.3"), endpoint
        # With TLS 1.3 off, the SDK's ECDHE/DHE AEAD cipher list still finds a match.
        tls12 = tls["tls12"]
        assert (tls12["version"], tls12["alpn"]) == ("TLSv1.2", "h2"), endpoint
        assert tls12["cipher"].startswith(("ECDHE-", "DHE-")), tls12
        assert "GCM" in tls12["cipher"] or "CHACHA20" in tls12["cipher"], tls12
