"""The remaining non-numeric builtins run through the whole platform on Teaclave's fixtures."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from platform_harness import (
    TEACLAVE_FIXTURES,
    Platform,
    fetch_protected,
    root_of,
    served_platform,
    skip_without,
)

from teaclave.cli.file_server import FileServer
from teaclave.sdk import DataMap, FunctionArgument, FunctionInput, FunctionOutput, OwnerList

FUNCTIONS = TEACLAVE_FIXTURES / "functions"
needs_fixtures = skip_without(TEACLAVE_FIXTURES)
ZERO_KEY = bytes(16)
PASSWORD_URL = "data:text/plain;base64,c+mpvRfZ0fboR0j3rTgOGDBiubSzlCt9"
PASSWORD_CMAC = "e84748f7ad380e183062b9b4b3942b7d"
EXPOSED_CMAC = "a31dd0b7de0b6cc7e0dec1dcf7a46479"
RSA_KEY_CMAC = "620c16ab588ca638f3b0a2692ab078cf"
BANK_CMACS = {
    "bank_a.enc": "f6a4585a4903f8dea0ee90ac84a50dba",
    "bank_b.enc": "ab6065314fcbacd6971ff55d3821b51e",
    "bank_c.enc": "9d7dbe465806731a43008ab094c97688",
}
JOIN_CMACS = {
    "join0.csv.enc": "3f91d2744763445d265ea469debb74f0",
    "join1.csv.enc": "d1e5a520489c93d0254c8c22cdefab89",
}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, served: FileServer) -> Iterator[Platform]:
    with served_platform(tmp_path_factory.mktemp("state"), served) as running:
        yield running


def serve(server: FileServer, fixture: Path) -> str:
    """Copy a fixture into the file server's root; return its URL."""
    shutil.copy(fixture, root_of(server) / fixture.name)
    return server.url(fixture.name)


@needs_fixtures
def test_password_check_with_data_url_and_http_input(
    platform: Platform, served: FileServer
) -> None:
    owner, checker = platform.new_user(), platform.new_user()
    exposed_url = serve(served, FUNCTIONS / "password_check/exposed_passwords.txt.enc")
    with platform.frontend(owner) as a, platform.frontend(checker) as b:
        function_id = a.register_function(
            "builtin-password-check",
            "password check",
            "builtin",
            inputs=[FunctionInput("password", ""), FunctionInput("exposed_passwords", "")],
        )
        task_id = a.create_task(
            function_id,
            {},
            "builtin",
            inputs_ownership=[
                OwnerList("password", [owner]),
                OwnerList("exposed_passwords", [checker]),
            ],
        )
        password_id = a.register_input_file(
            PASSWORD_URL, "aes-gcm-128", ZERO_KEY, bytes(12), bytes.fromhex(PASSWORD_CMAC)
        )
        exposed_id = b.register_input_file(
            exposed_url, "teaclave-file-128", ZERO_KEY, b"", bytes.fromhex(EXPOSED_CMAC)
        )
        a.assign_data_to_task(task_id, [DataMap("password", password_id)], [])
        b.assign_data_to_task(task_id, [DataMap("exposed_passwords", exposed_id)], [])
        a.approve_task(task_id)
        b.approve_task(task_id)
        a.invoke_task(task_id)
        assert a.get_task_result(task_id, timeout=30) == b"true"


@needs_fixtures
def test_rsa_sign_with_another_users_key(platform: Platform, served: FileServer) -> None:
    key_owner, signer = platform.new_user(), platform.new_user()
    key_url = serve(served, FUNCTIONS / "rsa_sign/rsakey.enc")
    expected = (FUNCTIONS / "rsa_sign/expected_rsasign.txt").read_text().replace("\n", "")
    with platform.frontend(key_owner) as owner, platform.frontend(signer) as creator:
        function_id = creator.register_function(
            "builtin-rsa-sign",
            "rsa sign",
            "builtin",
            arguments=[FunctionArgument("data")],
            inputs=[FunctionInput("rsa_key", "")],
        )
        task_id = creator.create_task(
            function_id,
            {"data": "test data"},
            "builtin",
            inputs_ownership=[OwnerList("rsa_key", [key_owner])],
        )
        key_id = owner.register_input_file(
            key_url, "teaclave-file-128", ZERO_KEY, b"", bytes.fromhex(RSA_KEY_CMAC)
        )
        owner.assign_data_to_task(task_id, [DataMap("rsa_key", key_id)], [])
        owner.approve_task(task_id)
        creator.approve_task(task_id)
        creator.invoke_task(task_id)
        assert creator.get_task_result(task_id, timeout=30).decode() == expected


@needs_fixtures
def test_private_join_and_compute_three_banks(platform: Platform, served: FileServer) -> None:
    organiser = platform.new_user()
    banks = [platform.new_user() for _ in BANK_CMACS]
    urls = [
        serve(served, FUNCTIONS / "private_join_and_compute/three_party_data" / name)
        for name in BANK_CMACS
    ]
    with platform.frontend(organiser) as config:
        function_id = config.register_function(
            "builtin-private-join-and-compute",
            "private join and compute",
            "builtin",
            arguments=[FunctionArgument("num_user")],
            inputs=[FunctionInput(f"input_data{i}", "") for i in range(3)],
            outputs=[FunctionOutput(f"output_data{i}", "") for i in range(3)],
        )
        task_id = config.create_task(
            function_id,
            {"num_user": 3},
            "builtin",
            inputs_ownership=[OwnerList(f"input_data{i}", [bank]) for i, bank in enumerate(banks)],
            outputs_ownership=[
                OwnerList(f"output_data{i}", [bank]) for i, bank in enumerate(banks)
            ],
        )
        keys = [bytes([i + 1]) * 16 for i in range(3)]
        outputs = [f"pjc-{bank}.enc" for bank in banks]
        for i, (bank, url, cmac) in enumerate(zip(banks, urls, BANK_CMACS.values(), strict=True)):
            with platform.frontend(bank) as client:
                input_id = client.register_input_file(
                    url, "teaclave-file-128", ZERO_KEY, b"", bytes.fromhex(cmac)
                )
                output_id = client.register_output_file(
                    served.url(outputs[i]), "teaclave-file-128", keys[i], b""
                )
                client.assign_data_to_task(
                    task_id,
                    [DataMap(f"input_data{i}", input_id)],
                    [DataMap(f"output_data{i}", output_id)],
                )
        for bank in banks:
            with platform.frontend(bank) as client:
                client.approve_task(task_id)
        config.approve_task(task_id)  # the creator is a participant too
        config.invoke_task(task_id)
        assert config.get_task_result(task_id, timeout=30) == b"3 users join the task in total."
        tags = dict(config.get_task_response(task_id).result.Ok.tags_map)
    results = [
        fetch_protected(served, outputs[i], keys[i], tags[f"output_data{i}"]) for i in range(3)
    ]
    assert results[0] == results[1] == results[2]
    assert set(results[0].decode().splitlines()) == {"c, 470000", "e, 5033000"}


@needs_fixtures
def test_ordered_set_join_encrypted_inputs(platform: Platform, served: FileServer) -> None:
    alice, bob = platform.new_user(), platform.new_user()
    urls = [serve(served, FUNCTIONS / "ordered_set_join" / name) for name in JOIN_CMACS]
    key = bytes(range(16))
    output = f"join-{alice}.enc"
    with platform.frontend(alice) as a, platform.frontend(bob) as b:
        function_id = a.register_function(
            "builtin-ordered-set-join",
            "join",
            "builtin",
            arguments=[
                FunctionArgument(k) for k in ("left_column", "right_column", "ascending", "drop")
            ],
            inputs=[FunctionInput("input_data1", ""), FunctionInput("input_data2", "")],
            outputs=[FunctionOutput("output_result", "")],
        )
        task_id = a.create_task(
            function_id,
            {"left_column": 0, "right_column": 0, "ascending": True, "drop": True},
            "builtin",
            inputs_ownership=[OwnerList("input_data1", [alice]), OwnerList("input_data2", [bob])],
            outputs_ownership=[OwnerList("output_result", [alice])],
        )
        ids = [
            client.register_input_file(url, "teaclave-file-128", ZERO_KEY, b"", bytes.fromhex(cmac))
            for client, url, cmac in zip((a, b), urls, JOIN_CMACS.values(), strict=True)
        ]
        output_id = a.register_output_file(served.url(output), "teaclave-file-128", key, b"")
        a.assign_data_to_task(
            task_id, [DataMap("input_data1", ids[0])], [DataMap("output_result", output_id)]
        )
        b.assign_data_to_task(task_id, [DataMap("input_data2", ids[1])], [])
        a.approve_task(task_id)
        b.approve_task(task_id)
        a.invoke_task(task_id)
        assert a.get_task_result(task_id, timeout=30) == b"120 records"
        tag = dict(a.get_task_response(task_id).result.Ok.tags_map)["output_result"]
    joined = fetch_protected(served, output, key, tag).decode()
    assert joined.strip() == (FUNCTIONS / "gbdt_training/train.txt").read_text().strip()


def test_online_decrypt_arguments_only(platform: Platform) -> None:
    user = platform.new_user()
    with platform.frontend(user) as client:
        keys = ("key", "nonce", "encrypted_data", "algorithm")
        function_id = client.register_function(
            "builtin_online_decrypt",
            "online decrypt",
            "builtin",
            arguments=[FunctionArgument(k) for k in keys],
        )
        task_id = client.create_task(
            function_id,
            {
                "key": "aqUdgZ0lJnuz9yiPkoDxM6ZcTcVVpd4KKLqzbHD88Lg=",
                "nonce": "AAECAwQFBgcICQoL",
                "encrypted_data": "CaZd8qSMMlBp8SjSXj2I4dQIuC9KkZ5DI/ATo1sWJw==",
                "algorithm": "aes256gcm",
            },
            "builtin",
        )
        client.invoke_task(task_id)
        assert client.get_task_result(task_id, timeout=30) == b"Hello Teaclave!"


@needs_fixtures
def test_face_detection_with_the_image_as_argument(platform: Platform) -> None:
    image = (FUNCTIONS / "face_detection/input.jpg").read_bytes()
    arguments = {
        "image": list(image),
        "min_face_size": 20,
        "score_thresh": 2.0,
        "pyramid_scale_factor": 0.8,
        "slide_window_step_x": 4,
        "slide_window_step_y": 4,
    }
    user = platform.new_user()
    with platform.frontend(user) as client:
        function_id = client.register_function(
            "builtin-face-detection",
            "face detection",
            "builtin",
            arguments=[FunctionArgument(k) for k in arguments],
        )
        task_id = client.create_task(function_id, arguments, "builtin")
        client.invoke_task(task_id)
        faces = json.loads(client.get_task_result(task_id, timeout=60))
    assert len(faces) >= 15
    for face in faces:
        box = face["bbox"]
        assert box["x"] + box["width"] <= 1666 and box["y"] + box["height"] <= 1136
        assert face["score"] >= 2.0
