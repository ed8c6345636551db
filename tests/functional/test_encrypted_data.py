"""Encrypted data end to end: owners' files over HTTP, staging, protected runtime, outputs."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from platform_harness import (
    TEACLAVE_FIXTURES,
    Platform,
    fetch,
    fetch_protected,
    publish_encrypted,
    root_of,
    served_platform,
    skip_without,
)

from teaclave.cli.file_server import FileServer
from teaclave.crypto import aes_gcm
from teaclave.functions import register
from teaclave.sdk import (
    DataMap,
    FrontendService,
    FunctionArgument,
    FunctionInput,
    FunctionOutput,
    OwnerList,
    TaskStatus,
)
from teaclave.worker.runtime import Runtime

FIXTURES = TEACLAVE_FIXTURES
needs_fixtures = skip_without(FIXTURES)
PSI_CMACS = {
    "psi0.txt.enc": "92f686d4ac2ba6b4ffd93bc7ac5dbf58",
    "psi1.txt.enc": "8b3104972a6f0de949315e0b45d5dd66",
}


@register("test-copy")
def copy_function(arguments: dict[str, Any], runtime: Runtime) -> str:
    """Test-only builtin: copy input ``in`` to output ``out``."""
    with runtime.open_input("in") as src, runtime.create_output("out") as dst:
        data = src.read()
        dst.write(data)
    return f"copied {len(data)} bytes"


@pytest.fixture(scope="module")
def files_platform(
    tmp_path_factory: pytest.TempPathFactory, served: FileServer
) -> Iterator[Platform]:
    with served_platform(tmp_path_factory.mktemp("state"), served) as platform:
        yield platform


def copy_task(client: FrontendService, user: str) -> str:
    function_id = client.register_function(
        "test-copy",
        "copy",
        "builtin",
        inputs=[FunctionInput("in", "input")],
        outputs=[FunctionOutput("out", "output")],
    )
    return client.create_task(
        function_id,
        {},
        "builtin",
        inputs_ownership=[OwnerList("in", [user])],
        outputs_ownership=[OwnerList("out", [user])],
    )


@needs_fixtures
def test_teaclave_psi_fixtures(files_platform: Platform, served: FileServer) -> None:
    for name in PSI_CMACS:
        shutil.copy(FIXTURES / "functions/ordered_set_intersect" / name, root_of(served) / name)
    alice, bob = files_platform.new_user(), files_platform.new_user()
    with files_platform.frontend(alice) as a, files_platform.frontend(bob) as b:
        function_id = a.register_function(
            "builtin-ordered-set-intersect",
            "psi",
            "builtin",
            arguments=[FunctionArgument("order")],
            inputs=[FunctionInput("input_data1", ""), FunctionInput("input_data2", "")],
            outputs=[FunctionOutput("output_result1", ""), FunctionOutput("output_result2", "")],
        )
        task_id = a.create_task(
            function_id,
            {"order": "ascending"},
            "builtin",
            inputs_ownership=[OwnerList("input_data1", [alice]), OwnerList("input_data2", [bob])],
            outputs_ownership=[
                OwnerList("output_result1", [alice]),
                OwnerList("output_result2", [bob]),
            ],
        )
        key = bytes(16)
        out_a = f"psi-out-{alice}.enc"
        out_b = f"psi-out-{bob}.gcm"
        for index, (client, name) in enumerate(((a, "psi0.txt.enc"), (b, "psi1.txt.enc")), 1):
            input_id = client.register_input_file(
                served.url(name), "teaclave-file-128", key, b"", bytes.fromhex(PSI_CMACS[name])
            )
            if index == 1:
                output_id = client.register_output_file(
                    served.url(out_a), "teaclave-file-128", key, b""
                )
            else:
                output_id = client.register_output_file(
                    served.url(out_b), "aes-gcm-128", bytes(range(16)), bytes(12)
                )
            client.assign_data_to_task(
                task_id,
                [DataMap(f"input_data{index}", input_id)],
                [DataMap(f"output_result{index}", output_id)],
            )
        a.approve_task(task_id)
        b.approve_task(task_id)
        a.invoke_task(task_id)
        assert a.get_task_result(task_id, timeout=30) == b"3 common items"
        task = a.get_task_response(task_id)
        tags = dict(task.result.Ok.tags_map)
        assert fetch_protected(served, out_a, key, tags["output_result1"]) == b"0101010"
        plain = io.BytesIO()
        aes_gcm.decrypt_stream(
            io.BytesIO(fetch(served, out_b)),
            plain,
            bytes(range(16)),
            bytes(12),
            tags["output_result2"],
        )
        assert plain.getvalue() == b"01101"
        outputs = {m.data_name: m.data_id for m in task.assigned_outputs}
        assert bytes(b.get_output_file(outputs["output_result2"]).cmac) == tags["output_result2"]


@needs_fixtures
def test_aes_gcm_fixture_input(files_platform: Platform, served: FileServer) -> None:
    shutil.copy(
        FIXTURES / "functions/gbdt_training/train.aes_gcm_128",
        root_of(served) / "train.aes_gcm_128",
    )
    user = files_platform.new_user()
    with files_platform.frontend(user) as client:
        task_id = copy_task(client, user)
        input_id = client.register_input_file(
            served.url("train.aes_gcm_128"),
            "aes-gcm-128",
            bytes(16),
            bytes([1] * 12),
            bytes.fromhex("592f1e607649d89ff2aa8a2841a57cad"),
        )
        key = bytes(range(16))
        output_id = client.register_output_file(
            served.url(f"train-{user}.enc"), "teaclave-file-128", key, b""
        )
        client.assign_data_to_task(task_id, [DataMap("in", input_id)], [DataMap("out", output_id)])
        client.invoke_task(task_id)
        assert client.get_task_result(task_id, timeout=30) == b"copied 2400 bytes"
        assert (
            fetch_protected(served, f"train-{user}.enc", key)
            == (FIXTURES / "functions/gbdt_training/train.txt").read_bytes()
        )


def test_data_url_input_and_wrong_cmac(files_platform: Platform, served: FileServer) -> None:
    user = files_platform.new_user()
    with files_platform.frontend(user) as client:
        url = "data:text/plain;base64,c+mpvRfZ0fboR0j3rTgOGDBiubSzlCt9"
        for cmac, ok in (("e84748f7ad380e183062b9b4b3942b7d", True), ("00" * 16, False)):
            task_id = copy_task(client, user)
            input_id = client.register_input_file(
                url, "aes-gcm-128", bytes(16), bytes(12), bytes.fromhex(cmac)
            )
            out = f"pw-{user}-{ok}.enc"
            output_id = client.register_output_file(
                served.url(out), "teaclave-file-128", bytes(16), b""
            )
            client.assign_data_to_task(
                task_id, [DataMap("in", input_id)], [DataMap("out", output_id)]
            )
            client.invoke_task(task_id)
            task = client.wait_task(task_id, timeout=30)
            if ok:
                assert task.status == TaskStatus.Finished, task.result.Err.reason
            else:
                assert task.status == TaskStatus.Failed
                assert (
                    "in" in task.result.Err.reason and "mismatch" in task.result.Err.reason.lower()
                )
                assert not (root_of(served) / out).exists()


def test_fusion_output_feeds_a_second_task(files_platform: Platform, served: FileServer) -> None:
    alice, bob = files_platform.new_user(), files_platform.new_user()
    key = bytes(range(16))
    name = f"fusion-src-{alice}.enc"
    cmac = publish_encrypted(served, name, b"shared secret rows\n", key)
    with files_platform.frontend(alice) as a, files_platform.frontend(bob) as b:
        function_id = a.register_function(
            "test-copy",
            "copy",
            "builtin",
            inputs=[FunctionInput("in", "")],
            outputs=[FunctionOutput("out", "")],
        )
        first = a.create_task(
            function_id,
            {},
            "builtin",
            inputs_ownership=[OwnerList("in", [alice])],
            outputs_ownership=[OwnerList("out", [alice, bob])],
        )
        input_id = a.register_input_file(served.url(name), "teaclave-file-128", key, b"", cmac)
        fusion_id = a.register_fusion_output([alice, bob])
        a.assign_data_to_task(first, [DataMap("in", input_id)], [DataMap("out", fusion_id)])
        a.approve_task(first)
        b.approve_task(first)
        a.invoke_task(first)
        assert a.get_task_result(first, timeout=30) == b"copied 19 bytes"
        fused_input = a.register_input_from_output(fusion_id)
        assert fused_input == fusion_id.replace("output-", "input-")
        second = b.create_task(
            function_id,
            {},
            "builtin",
            inputs_ownership=[OwnerList("in", [alice, bob])],
            outputs_ownership=[OwnerList("out", [bob])],
        )
        out = f"fusion-result-{bob}.enc"
        output_id = b.register_output_file(served.url(out), "teaclave-file-128", key, b"")
        b.assign_data_to_task(second, [DataMap("in", fused_input)], [DataMap("out", output_id)])
        a.approve_task(second)
        b.approve_task(second)
        b.invoke_task(second)
        assert b.get_task_result(second, timeout=30) == b"copied 19 bytes"
        assert fetch_protected(served, out, key) == b"shared secret rows\n"


def test_ssrf_to_an_internal_endpoint_is_refused(files_platform: Platform) -> None:
    user = files_platform.new_user()
    storage = files_platform.config.internal_endpoints["storage"].target
    with files_platform.frontend(user) as client:
        task_id = copy_task(client, user)
        input_id = client.register_input_file(
            f"http://{storage}/secrets", "teaclave-file-128", bytes(16), b"", bytes(16)
        )
        output_id = client.register_output_file(
            "http://169.254.169.254/latest/out", "teaclave-file-128", bytes(16), b""
        )
        client.assign_data_to_task(task_id, [DataMap("in", input_id)], [DataMap("out", output_id)])
        client.invoke_task(task_id)
        task = client.wait_task(task_id, timeout=30)
        assert task.status == TaskStatus.Failed
        assert (
            "egress" in task.result.Err.reason.lower() or "denied" in task.result.Err.reason.lower()
        )


def test_function_that_forgets_an_output_fails(
    files_platform: Platform, served: FileServer
) -> None:
    user = files_platform.new_user()
    with files_platform.frontend(user) as client:
        function_id = client.register_function(
            "builtin-echo",
            "echo",
            "builtin",
            arguments=[FunctionArgument("message")],
            outputs=[FunctionOutput("out", "")],
        )
        task_id = client.create_task(
            function_id, {"message": "x"}, "builtin", outputs_ownership=[OwnerList("out", [user])]
        )
        output_id = client.register_output_file(
            served.url(f"never-{user}"), "teaclave-file-128", bytes(16), b""
        )
        client.assign_data_to_task(task_id, [], [DataMap("out", output_id)])
        client.invoke_task(task_id)
        task = client.wait_task(task_id, timeout=30)
        assert task.status == TaskStatus.Failed
        assert "did not create" in task.result.Err.reason
        assert not (root_of(served) / f"never-{user}").exists()


def test_raw_output_refused(files_platform: Platform) -> None:
    user = files_platform.new_user()
    with files_platform.frontend(user) as client, pytest.raises(Exception, match="raw"):
        client.register_output_file("http://127.0.0.1/x", "raw", b"", b"")
