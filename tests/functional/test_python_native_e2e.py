"""The native Python executor (``cpython``) through the whole platform: a Python function with
numpy over an encrypted input fetched by HTTP, an encrypted output, its log, and a hostile
payload failing its task while the platform keeps serving."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pytest
from platform_harness import Platform, fetch, publish_encrypted, served_platform

from teaclave.cli.file_server import FileServer
from teaclave.config.runtime import ExecutorConfig
from teaclave.crypto import aes_gcm
from teaclave.executors.python_native import NativePythonExecutor, SandboxUnavailable
from teaclave.sdk import (
    DataMap,
    FrontendService,
    FunctionArgument,
    FunctionInput,
    FunctionOutput,
    OwnerList,
    TaskStatus,
)

DEADLINE_SECS = 3.0

COLUMN_STATS = b"""
import numpy as np
from teaclave import open

def entrypoint(argv):
    args = dict(zip(argv[::2], argv[1::2]))
    with open("samples", "rb") as samples:
        data = np.loadtxt(samples, delimiter=",", ndmin=2)
    means = data.mean(axis=0)
    spread = data.std(axis=0)
    with open("stats", "wb") as stats:
        for mean, std in zip(means, spread):
            stats.write("%.*f,%.*f\\n" % (int(args["digits"]), mean, int(args["digits"]), std))
    print("columns:", data.shape[1])
    return "%d rows, %d columns" % data.shape
"""


@pytest.fixture(scope="module")
def sandbox_available() -> None:
    try:
        NativePythonExecutor(ExecutorConfig(deadline_secs=DEADLINE_SECS))
    except SandboxUnavailable as exc:
        pytest.skip(f"native Python sandbox unavailable on this machine: {exc}")


@pytest.fixture(scope="module")
def cpython_platform(
    tmp_path_factory: pytest.TempPathFactory, served: FileServer, sandbox_available: None
) -> Iterator[Platform]:
    with served_platform(
        tmp_path_factory.mktemp("cpython-state"),
        served,
        executor={"deadline_secs": DEADLINE_SECS, "memory_mib": 512},
    ) as platform:
        yield platform


def no_file_task(client: FrontendService, source: bytes) -> str:
    function_id = client.register_function(
        "py-no-files", "python without files", "python", payload=source
    )
    return client.create_task(function_id, {}, "cpython")


def test_numpy_function_over_encrypted_files(
    cpython_platform: Platform, served: FileServer
) -> None:
    rng = np.random.default_rng(11)
    samples = rng.normal(loc=[1.0, -2.0, 5.0], scale=[0.5, 1.0, 2.0], size=(500, 3))
    text = io.StringIO()
    np.savetxt(text, samples, delimiter=",")
    user = cpython_platform.new_user()
    in_key, out_key, out_iv = bytes(range(16)), bytes(range(1, 17)), bytes(range(12))
    cmac = publish_encrypted(served, f"samples-{user}.enc", text.getvalue().encode(), in_key)
    with cpython_platform.frontend(user) as client:
        function_id = client.register_function(
            "py-column-stats",
            "column means and deviations with numpy",
            "python",
            payload=COLUMN_STATS,
            arguments=[FunctionArgument("digits"), FunctionArgument("save_log")],
            inputs=[FunctionInput("samples", "CSV of floats")],
            outputs=[FunctionOutput("stats", "mean,std per column")],
        )
        task_id = client.create_task(
            function_id,
            {"digits": 6, "save_log": "true"},
            "cpython",
            inputs_ownership=[OwnerList("samples", [user])],
            outputs_ownership=[OwnerList("stats", [user])],
        )
        input_id = client.register_input_file(
            served.url(f"samples-{user}.enc"), "teaclave-file-128", in_key, b"", cmac
        )
        output_id = client.register_output_file(
            served.url(f"stats-{user}.gcm"), "aes-gcm-128", out_key, out_iv
        )
        client.assign_data_to_task(
            task_id, [DataMap("samples", input_id)], [DataMap("stats", output_id)]
        )
        client.invoke_task(task_id)
        assert client.get_task_result(task_id, timeout=60) == b"500 rows, 3 columns"
        task = client.get_task_response(task_id)
        assert list(task.result.Ok.log) == ["[INFO teaclave_function::cpython] columns: 3"]
        tag = dict(task.result.Ok.tags_map)["stats"]
    plain = io.BytesIO()
    aes_gcm.decrypt_stream(
        io.BytesIO(fetch(served, f"stats-{user}.gcm")), plain, out_key, out_iv, tag
    )
    stats = np.loadtxt(io.StringIO(plain.getvalue().decode()), delimiter=",")
    assert np.allclose(stats[:, 0], samples.mean(axis=0), atol=1e-6)
    assert np.allclose(stats[:, 1], samples.std(axis=0), atol=1e-6)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (b"def entrypoint(argv):\n    return str(1 / 0)\n", "ZeroDivisionError: division by zero"),
        (
            b"def entrypoint(argv):\n    return open('/etc/passwd').read()\n",
            "PermissionError: [Errno 13] Permission denied: '/etc/passwd'",
        ),
        (
            b"import socket\n"
            b"def entrypoint(argv):\n    socket.create_connection(('127.0.0.1', 1))\n",
            "PermissionError: [Errno 1] Operation not permitted",
        ),
        (
            b"def entrypoint(argv):\n    while True:\n        pass\n",
            f"deadline of {DEADLINE_SECS:g} s exceeded",
        ),
    ],
)
def test_failing_and_hostile_payloads_fail_their_task(
    cpython_platform: Platform, source: bytes, reason: str
) -> None:
    with cpython_platform.frontend(cpython_platform.new_user()) as client:
        task_id = no_file_task(client, source)
        client.invoke_task(task_id)
        task = client.wait_task(task_id, timeout=60)
        assert TaskStatus(task.status) is TaskStatus.Failed
        assert reason in task.result.Err.reason
        # The platform still serves: the next Python task succeeds.
        healthy = no_file_task(client, b"def entrypoint(argv):\n    return 'still here'\n")
        client.invoke_task(healthy)
        assert client.get_task_result(healthy, timeout=60) == b"still here"
