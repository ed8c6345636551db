"""Python functions (executor_type python, executor mesapy) through the whole platform.

Teaclave's MesaPy scenarios over gRPC/TLS with encrypted data over HTTP: the echo example,
the two-party data fusion of ``mesapy_data_fusion.rs`` (AES-GCM inputs, fusion output, then
a word-count task over the fused data that needs both owners' approval), a failing payload,
and the dead-loop cancel example.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mesapy_payloads import DATA_FUSION, DEADLOOP, MESAPY_ECHO
from platform_harness import Platform, root_of, served_platform

from teaclave.cli.file_server import FileServer
from teaclave.crypto import aes_gcm
from teaclave.sdk import (
    DataMap,
    FunctionArgument,
    FunctionInput,
    FunctionOutput,
    OwnerList,
    TaskStatus,
    TeaclaveException,
)

# Teaclave's mesapy_data_fusion.rs word-count payload, ported to Python 3 in one place: lines
# read in "rb" mode are bytes, so the query is encoded before searching.
WORD_LINE_COUNT = """
def readlines(fid):
    lines = None
    with teaclave_open(fid, "rb") as f:
        lines = f.readlines()
    return lines

def entrypoint(argv):
    fid = "InputData"
    assert len(argv) == 2
    assert argv[0] == "query"
    word = argv[1].encode()
    cnt = 0
    for line in readlines(fid):
        if word in line:
            cnt += 1
    return "%s" % cnt
"""

# The fusion fixtures of Teaclave (tests/fixtures/fusion): plaintext, key, IV, expected cmac.
PARTY_A = (b"u1_hello\nu1_teaclave", bytes(15) + b"\x01", bytes.fromhex("123456781234567812345678"))
PARTY_B = (
    b"u2_welcome\nu2_to\nu2_teaclave",
    bytes(31) + b"\x02",
    bytes.fromhex("012345670123456701234567"),
)
CMAC_A = "e8afd048b339fc835733e16c761a301c"
CMAC_B = "75d7cf7a7843dee709e29ba0dcb865d2"


@pytest.fixture(scope="module")
def python_platform(
    tmp_path_factory: pytest.TempPathFactory,
    served: FileServer,
    python_wasi_cache: Path,
) -> Iterator[Platform]:
    with served_platform(
        tmp_path_factory.mktemp("state"),
        served,
        executor={"cache_dir": str(python_wasi_cache), "deadline_secs": 60.0},
    ) as platform:
        yield platform


def serve(server: FileServer, name: str, data: bytes) -> str:
    (root_of(server) / name).write_bytes(data)
    return server.url(name)


def test_mesapy_echo(python_platform: Platform) -> None:
    user = python_platform.new_user()
    with python_platform.frontend(user) as client:
        function_id = client.register_function(
            "mesapy-echo",
            "An echo function implemented in Python",
            "python",
            payload=MESAPY_ECHO.encode(),
            arguments=[FunctionArgument("message")],
        )
        task_id = client.create_task(function_id, {"message": "Hello, Teaclave!"}, "mesapy")
        client.assign_data_to_task(task_id, [], [])
        client.approve_task(task_id)
        client.invoke_task(task_id)
        # The first Python run of a fresh machine also compiles the interpreter (~5 s).
        assert client.get_task_result(task_id, timeout=120) == b"Hello, Teaclave!"


def test_data_fusion_of_two_parties(python_platform: Platform, served: FileServer) -> None:
    user1, user2 = python_platform.new_user(), python_platform.new_user()
    encrypted_a = aes_gcm.encrypt(PARTY_A[1], PARTY_A[2], PARTY_A[0])
    encrypted_b = aes_gcm.encrypt(PARTY_B[1], PARTY_B[2], PARTY_B[0])
    assert encrypted_a[-16:].hex() == CMAC_A  # the same files as Teaclave's fixtures
    assert encrypted_b[-16:].hex() == CMAC_B
    url_a = serve(served, f"input1-{user1}.enc", encrypted_a)
    url_b = serve(served, f"input2-{user2}.enc", encrypted_b)
    with python_platform.frontend(user1) as c1, python_platform.frontend(user2) as c2:
        fusion_fn = c1.register_function(
            "mesapy_data_fusion_demo",
            "Mesapy Data Fusion Function",
            "python",
            payload=DATA_FUSION.encode(),
            inputs=[
                FunctionInput("InPartyA", "Input from party A"),
                FunctionInput("InPartyB", "Input from party B"),
            ],
            outputs=[FunctionOutput("OutFusionData", "Output fusion data")],
        )
        task_id = c1.create_task(
            fusion_fn,
            {},
            "mesapy",
            inputs_ownership=[OwnerList("InPartyA", [user1]), OwnerList("InPartyB", [user2])],
            outputs_ownership=[OwnerList("OutFusionData", [user1, user2])],
        )
        input1 = c1.register_input_file(
            url_a, "aes-gcm-128", PARTY_A[1], PARTY_A[2], bytes.fromhex(CMAC_A)
        )
        fusion_output = c1.register_fusion_output([user1, user2])
        c1.assign_data_to_task(
            task_id, [DataMap("InPartyA", input1)], [DataMap("OutFusionData", fusion_output)]
        )
        input2 = c2.register_input_file(
            url_b, "aes-gcm-256", PARTY_B[1], PARTY_B[2], bytes.fromhex(CMAC_B)
        )
        c2.assign_data_to_task(task_id, [DataMap("InPartyB", input2)], [])
        c1.approve_task(task_id)
        c2.approve_task(task_id)
        c1.invoke_task(task_id)
        assert c1.get_task_result(task_id, timeout=120) == b"Mixed 5 lines of data"
        assert c2.get_task_response(task_id).status == TaskStatus.Finished

        fusion_input = c2.register_input_from_output(fusion_output)
        wlc_fn = c2.register_function(
            "wlc",
            "Mesapy Word Line Count Function",
            "python",
            payload=WORD_LINE_COUNT.encode(),
            arguments=[FunctionArgument("query", "", allow_overwrite=True)],
            inputs=[FunctionInput("InputData", "Lines of Data")],
        )
        wlc_task = c2.create_task(
            wlc_fn,
            {"query": "teaclave"},
            "mesapy",
            inputs_ownership=[OwnerList("InputData", [user1, user2])],
        )
        c2.assign_data_to_task(wlc_task, [DataMap("InputData", fusion_input)], [])
        c2.approve_task(wlc_task)
        with pytest.raises(TeaclaveException):
            c2.invoke_task(wlc_task)
        c1.approve_task(wlc_task)
        c2.invoke_task(wlc_task)
        # The fused data is "u1_hello\nu1_teaclaveu2_welcome\nu2_to\nu2_teaclave".
        assert c2.get_task_result(wlc_task, timeout=60) == b"2"


def test_a_failing_payload_fails_the_task(python_platform: Platform) -> None:
    user = python_platform.new_user()
    with python_platform.frontend(user) as client:
        function_id = client.register_function(
            "mesapy-divide",
            "divides by zero",
            "python",
            payload=b"def entrypoint(argv):\n    return str(1 / 0)\n",
        )
        task_id = client.create_task(function_id, {}, "mesapy")
        client.invoke_task(task_id)
        task = client.wait_task(task_id, timeout=120)
        assert task.status == TaskStatus.Failed
        assert task.result.Err.reason == (
            "ZeroDivisionError: division by zero (payload.py, line 2, in entrypoint)"
        )


def test_mesapy_deadloop_cancel(python_platform: Platform) -> None:
    user = python_platform.new_user()
    with python_platform.frontend(user) as client:
        deadloop = client.register_function(
            "mesapy-deadloop", "loops forever", "python", payload=DEADLOOP.encode()
        )
        task_id = client.create_task(deadloop, {}, "mesapy")
        client.invoke_task(task_id)
        deadline = time.monotonic() + 60
        while client.get_task_response(task_id).status != TaskStatus.Running:
            assert time.monotonic() < deadline, "the task never started running"
            time.sleep(0.05)
        client.cancel_task(task_id)
        task = client.wait_task(task_id, timeout=30)
        assert task.status == TaskStatus.Canceled

        # The worker is free again: the next Python task runs at once.
        echo = client.register_function(
            "mesapy-echo",
            "echo",
            "python",
            payload=MESAPY_ECHO.encode(),
            arguments=[FunctionArgument("message")],
        )
        echo_task = client.create_task(echo, {"message": "after cancel"}, "mesapy")
        client.invoke_task(echo_task)
        assert client.get_task_result(echo_task, timeout=30) == b"after cancel"
