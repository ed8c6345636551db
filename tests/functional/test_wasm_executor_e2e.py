"""The WebAssembly executor through the whole platform: encrypted inputs over HTTP, a two-party
WAMR task (the millionaire problem), its encrypted output, and failures reported as failures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime
from platform_harness import Platform, fetch_protected, publish_encrypted, served_platform

from teaclave.cli.file_server import FileServer
from teaclave.sdk import (
    DataMap,
    FrontendService,
    FunctionArgument,
    FunctionInput,
    FunctionOutput,
    OwnerList,
    TaskStatus,
)

PAYLOADS = Path(__file__).resolve().parents[1] / "unit/executors/wasm_payloads"
DEADLINE_SECS = 2.0


@pytest.fixture(scope="module")
def wasm_platform(
    tmp_path_factory: pytest.TempPathFactory, served: FileServer
) -> Iterator[Platform]:
    with served_platform(
        tmp_path_factory.mktemp("wasm-state"),
        served,
        executor={"deadline_secs": DEADLINE_SECS, "wasm_heap_mib": 20},
    ) as platform:
        yield platform


def single_user_task(client: FrontendService, payload: bytes) -> str:
    function_id = client.register_function(
        "entrypoint", "wasm", "wamr", payload=payload, arguments=[FunctionArgument("n")]
    )
    return client.create_task(function_id, {"n": "1"}, "wamr")


def test_millionaire_with_encrypted_files(wasm_platform: Platform, served: FileServer) -> None:
    alice, bob = wasm_platform.new_user(), wasm_platform.new_user()
    key_a, key_b, key_out = bytes(range(16)), bytes(range(16, 32)), bytes(16)
    cmac_a = publish_encrypted(served, f"a-{alice}.enc", b"4211037", key_a)
    cmac_b = publish_encrypted(served, f"b-{bob}.enc", b"1008611\n", key_b)
    payload = wasmtime.wat2wasm((PAYLOADS / "millionaire.wat").read_text())
    with wasm_platform.frontend(alice) as a, wasm_platform.frontend(bob) as b:
        function_id = a.register_function(
            "wamr-millionaire",
            "which party is richer",
            "wamr",
            payload=bytes(payload),
            arguments=[
                FunctionArgument("input_file_id1"),
                FunctionArgument("input_file_id2"),
                FunctionArgument("output_file_id"),
            ],
            inputs=[FunctionInput("pf_in_a", "A's fortune"), FunctionInput("pf_in_b", "B's")],
            outputs=[FunctionOutput("pf_out", "the richer party")],
        )
        task_id = a.create_task(
            function_id,
            {"input_file_id1": "pf_in_a", "input_file_id2": "pf_in_b", "output_file_id": "pf_out"},
            "wamr",
            inputs_ownership=[OwnerList("pf_in_a", [alice]), OwnerList("pf_in_b", [bob])],
            outputs_ownership=[OwnerList("pf_out", [alice])],
        )
        in_a = a.register_input_file(
            served.url(f"a-{alice}.enc"), "teaclave-file-128", key_a, b"", cmac_a
        )
        out = a.register_output_file(
            served.url(f"result-{alice}.enc"), "teaclave-file-128", key_out, b""
        )
        a.assign_data_to_task(task_id, [DataMap("pf_in_a", in_a)], [DataMap("pf_out", out)])
        in_b = b.register_input_file(
            served.url(f"b-{bob}.enc"), "teaclave-file-128", key_b, b"", cmac_b
        )
        b.assign_data_to_task(task_id, [DataMap("pf_in_b", in_b)], [])
        a.approve_task(task_id)
        b.approve_task(task_id)
        a.invoke_task(task_id)
        assert a.get_task_result(task_id, timeout=30) == b"7"
        tag = dict(a.get_task_response(task_id).result.Ok.tags_map)["pf_out"]
    assert fetch_protected(served, f"result-{alice}.enc", key_out, tag) == b"pf_in_a"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("unreachable", "trap: unreachable"),
        (
            "(loop $forever (br $forever)) (i32.const 0)",
            f"deadline of {DEADLINE_SECS:g} s exceeded",
        ),
    ],
)
def test_failing_payloads_fail_the_task(wasm_platform: Platform, body: str, reason: str) -> None:
    payload = wasmtime.wat2wasm(
        f'(module (memory (export "memory") 1)'
        f' (func (export "entrypoint") (param i32 i32) (result i32) {body}))'
    )
    with wasm_platform.frontend(wasm_platform.new_user()) as client:
        task_id = single_user_task(client, bytes(payload))
        client.invoke_task(task_id)
        task = client.wait_task(task_id, timeout=30)
        assert task.status == TaskStatus.Failed
        assert reason in task.result.Err.reason


def test_wasi_payload_is_refused(wasm_platform: Platform) -> None:
    payload = wasmtime.wat2wasm((PAYLOADS / "wasi_hello.wat").read_text())
    with wasm_platform.frontend(wasm_platform.new_user()) as client:
        task_id = single_user_task(client, bytes(payload))
        client.invoke_task(task_id)
        task = client.wait_task(task_id, timeout=30)
        assert task.status == TaskStatus.Failed
        assert "import not allowed: wasi_snapshot_preview1.fd_write" in task.result.Err.reason
