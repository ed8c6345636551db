"""The SDK's own behaviour: trust anchors, credentials, the fixed Teaclave SDK bugs, waits."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from platform_harness import USER_PASSWORD, Platform

from teaclave.sdk import (
    AuthenticationService,
    FrontendService,
    FunctionArgument,
    TaskStatus,
    TeaclaveException,
)
from teaclave.tee import SimPlatform


def test_wrong_trust_anchor_is_refused(platform: Platform, tmp_path: Path) -> None:
    other = SimPlatform(tmp_path / "other")  # another state directory's simulated root
    anchor = tmp_path / "other.pem"
    anchor.write_bytes((tmp_path / "other" / "tee" / "sim_root_cert.pem").read_bytes())
    assert other.root_der
    client = AuthenticationService(
        platform.platform.authentication_address,
        anchor,
        platform.platform.enclave_info_path,
        timeout=1.0,
    )
    with pytest.raises(TeaclaveException, match="attestation refused"):
        client.connect()
    with pytest.raises(TeaclaveException):
        client.user_login("admin", "whatever")
    client.close()


def test_missing_trust_anchor_file(platform: Platform, tmp_path: Path) -> None:
    with pytest.raises(TeaclaveException, match="trust anchor"):
        FrontendService(
            platform.platform.frontend_address,
            tmp_path / "nope.pem",
            platform.platform.enclave_info_path,
        )


def test_calls_without_login_are_refused_client_side(platform: Platform) -> None:
    address, anchor = platform.platform.frontend_address, platform.platform.ca_cert_path
    info = platform.platform.enclave_info_path
    with (
        FrontendService(address, anchor, info) as client,
        pytest.raises(TeaclaveException, match="log in first"),
    ):
        client.list_functions("x")


def test_user_management_round_trip(platform: Platform) -> None:
    user = platform.new_user()
    with platform.admin_auth() as admin:
        admin.user_update(user, "new-password", "PlatformAdmin")  # Teaclave's SDK sent no metadata
        with platform.auth() as auth:
            auth.user_login(user, "new-password")
            with pytest.raises(TeaclaveException, match="authentication failed") as err:
                auth.user_login(user, USER_PASSWORD)
            assert err.value.code is grpc.StatusCode.UNAUTHENTICATED
        password = admin.reset_user_password(user)
        assert isinstance(password, str) and len(password) == 32
        with platform.auth() as auth:
            auth.login(user, password)
            auth.user_change_password("changed-again")
            auth.connect().user_login(user, "changed-again")
        assert user in admin.list_users("any-attribute-as-admin")
        admin.delete_user(user)
        with platform.auth() as auth, pytest.raises(TeaclaveException):
            auth.user_login(user, "changed-again")


def test_file_registration_round_trip(platform: Platform) -> None:
    user = platform.new_user()
    with platform.frontend(user) as client:
        input_id = client.register_input_file(
            "http://files.example/in.enc", "teaclave-file-128", [0] * 16, [], [1] * 16
        )
        assert input_id.startswith("input-")
        moved = client.update_input_file(input_id, "http://files.example/moved.enc")
        assert moved.startswith("input-") and moved != input_id
        info = client.get_input_file(moved)
        assert list(info.owner) == [user] and bytes(info.cmac) == bytes([1] * 16)
        output_id = client.register_output_file(
            "http://files.example/out.enc", "aes-gcm-128", bytes(16), bytes(12)
        )
        moved_output = client.update_output_file(output_id, "http://files.example/o2.enc")
        assert moved_output.startswith("output-") and moved_output != output_id
        assert bytes(client.get_output_file(moved_output).cmac) == b""
        with pytest.raises(TeaclaveException, match="invalid output file"):
            client.register_input_from_output(moved_output)
        other = platform.new_user()
        fusion_id = client.register_fusion_output([user, other])
        assert sorted(client.get_output_file(fusion_id).owner) == sorted([user, other])


def test_delete_function_really_deletes(platform: Platform) -> None:
    user = platform.new_user()
    with platform.frontend(user) as client:
        function_id = client.register_function("builtin-echo", "d", "builtin")
        client.delete_function(function_id)  # Teaclave's SDK called ListFunctions here
        with pytest.raises(TeaclaveException, match="invalid function id"):
            client.get_function(function_id)


def test_waits_have_timeouts(platform: Platform) -> None:
    user = platform.new_user()
    with platform.frontend(user) as client:
        function_id = client.register_function(
            "builtin-echo", "d", "builtin", arguments=[FunctionArgument("message")]
        )
        task_id = client.create_task(function_id, {"message": "never invoked"}, "builtin")
        with pytest.raises(TeaclaveException, match="still Created"):
            client.get_task_result(task_id, timeout=0.3)
        assert client.get_task(task_id)["status"] == TaskStatus.Created


def test_output_cmac_of_a_failed_task_raises_instead_of_looping(platform: Platform) -> None:
    user = platform.new_user()
    with platform.frontend(user) as client:
        function_id = client.register_function("builtin-does-not-exist", "d", "builtin")
        task_id = client.create_task(function_id, {}, "builtin")
        client.invoke_task(task_id)
        with pytest.raises(TeaclaveException, match="did not finish"):
            client.get_output_cmac_by_tag(task_id, "output", timeout=30)
