"""Data registration RPCs (Teaclave's management_service functional tests, plus updates)."""

from __future__ import annotations

from teaclave.proto import teaclave_common_pb2 as common_pb
from teaclave.proto import teaclave_frontend_service_pb2 as fe
from teaclave.types.errors import StatusCode

MOCK_OUTPUT_1 = "output-00000000-0000-0000-0000-000000000001"
MOCK_OUTPUT_2 = "output-00000000-0000-0000-0000-000000000002"
MOCK_INPUT_2 = "input-00000000-0000-0000-0000-000000000002"
URL = "https://external-storage.com/filepath?presigned_token"


def test_register_input_file(mgmt, platform, helpers):
    request = fe.RegisterInputFileRequest(
        url=URL, cmac=b"deadbeefdeadbeef", crypto_info=helpers.crypto()
    )
    data_id = mgmt.call("RegisterInputFile", request).data_id
    assert data_id.startswith("input-")
    stored = platform.record(data_id)
    assert stored["url"] == URL
    assert stored["owner"] == {"uids": ["mock_user"]}
    assert bytes(stored["cmac"]["tag"]) == b"deadbeefdeadbeef"


def test_register_output_file(mgmt, platform, helpers):
    crypto = helpers.crypto("aes-gcm-128", b"\x90" * 16, b"\x89" * 12)
    request = fe.RegisterOutputFileRequest(url=URL, crypto_info=crypto)
    data_id = mgmt.call("RegisterOutputFile", request).data_id
    stored = platform.record(data_id)
    assert stored["cmac"] is None
    assert stored["crypto_info"] == {"AesGcm128": {"key": [0x90] * 16, "iv": [0x89] * 12}}


def test_register_fusion_output(mgmt, platform):
    data_id = mgmt.fusion_output("mock_user", ["mock_user", "mock_user_b"])
    stored = platform.record(data_id)
    assert stored["url"].startswith("fusion:///TEACLAVE_FUSION_BASE/")
    assert stored["url"].endswith(".fusion")
    assert len(stored["crypto_info"]["TeaclaveFile128"]["key"]) == 16
    assert stored["owner"] == {"uids": ["mock_user", "mock_user_b"]}

    request = fe.RegisterFusionOutputRequest(owner_list=["mock_user_c", "mock_user_b"])
    mgmt.fail(StatusCode.PERMISSION_DENIED, "RegisterFusionOutput", request, "mock_user")


def test_fusion_output_needs_two_distinct_owners(mgmt):
    request = fe.RegisterFusionOutputRequest(owner_list=["mock_user"])
    message = mgmt.fail(StatusCode.INVALID_ARGUMENT, "RegisterFusionOutput", request)
    assert message.startswith("owner_list: ")
    request = fe.RegisterFusionOutputRequest(owner_list=["mock_user", "mock_user"])
    assert "owner_list[1]" in mgmt.fail(
        StatusCode.INVALID_ARGUMENT, "RegisterFusionOutput", request
    )


def test_register_input_from_output(mgmt, platform):
    request = fe.RegisterInputFromOutputRequest(data_id=MOCK_OUTPUT_1)
    mgmt.fail(StatusCode.PERMISSION_DENIED, "RegisterInputFromOutput", request, "mock_user_c")

    not_written = mgmt.output_file("mock_user1")
    message = mgmt.fail(
        StatusCode.INVALID_ARGUMENT,
        "RegisterInputFromOutput",
        fe.RegisterInputFromOutputRequest(data_id=not_written),
        "mock_user1",
    )
    assert message.startswith("invalid output file")

    data_id = mgmt.call("RegisterInputFromOutput", request, "mock_user1").data_id
    assert data_id == "input-00000000-0000-0000-0000-000000000001"
    output, derived = platform.record(MOCK_OUTPUT_1), platform.record(data_id)
    for key in ("url", "cmac", "crypto_info", "owner", "uuid"):
        assert derived[key] == output[key]


def test_register_input_from_unknown_output(mgmt):
    request = fe.RegisterInputFromOutputRequest(
        data_id="output-00000000-0000-0000-0000-0000000000ff"
    )
    message = mgmt.fail(StatusCode.INVALID_ARGUMENT, "RegisterInputFromOutput", request)
    assert message.startswith("invalid data id: data_id: ")


def test_get_output_file(mgmt):
    data_id = mgmt.output_file("mock_user")
    response = mgmt.call("GetOutputFile", fe.GetOutputFileRequest(data_id=data_id))
    assert list(response.owner) == ["mock_user"]
    assert response.cmac == b""
    request = fe.GetOutputFileRequest(data_id=data_id)
    mgmt.fail(StatusCode.PERMISSION_DENIED, "GetOutputFile", request, "mock_another_user")

    response = mgmt.call(
        "GetOutputFile", fe.GetOutputFileRequest(data_id=MOCK_OUTPUT_1), "mock_user1"
    )
    assert sorted(response.owner) == ["frontend_user", "mock_user1"]
    assert response.cmac == bytes(16)


def test_get_input_file(mgmt):
    data_id = mgmt.input_file("mock_user", cmac=b"deadbeefdeadbeef")
    response = mgmt.call("GetInputFile", fe.GetInputFileRequest(data_id=data_id))
    assert list(response.owner) == ["mock_user"]
    assert response.cmac == b"deadbeefdeadbeef"
    request = fe.GetInputFileRequest(data_id=data_id)
    mgmt.fail(StatusCode.PERMISSION_DENIED, "GetInputFile", request, "mock_another_user")


def test_get_file_with_the_other_kind_of_id_is_invalid(mgmt):
    data_id = mgmt.input_file("mock_user")
    message = mgmt.fail(
        StatusCode.INVALID_ARGUMENT, "GetOutputFile", fe.GetOutputFileRequest(data_id=data_id)
    )
    assert message.startswith("invalid data id: data_id: ")


def test_update_input_file_creates_a_new_record(mgmt, platform):
    old_id = mgmt.input_file("mock_user", url="https://host/old")
    request = fe.UpdateInputFileRequest(data_id=old_id, url="https://host/new")
    new_id = mgmt.call("UpdateInputFile", request).data_id
    assert new_id != old_id
    old, new = platform.record(old_id), platform.record(new_id)
    assert old["url"] == "https://host/old"
    assert new["url"] == "https://host/new"
    assert (new["cmac"], new["crypto_info"], new["owner"]) == (
        old["cmac"],
        old["crypto_info"],
        old["owner"],
    )
    mgmt.fail(StatusCode.PERMISSION_DENIED, "UpdateInputFile", request, "mock_another_user")


def test_update_output_file_creates_a_new_record(mgmt, platform):
    old_id = mgmt.output_file("mock_user", url="https://host/old")
    request = fe.UpdateOutputFileRequest(data_id=old_id, url="https://host/new")
    new_id = mgmt.call("UpdateOutputFile", request).data_id
    assert new_id != old_id
    assert platform.record(new_id)["url"] == "https://host/new"
    assert platform.record(new_id)["cmac"] is None
    mgmt.fail(StatusCode.PERMISSION_DENIED, "UpdateOutputFile", request, "mock_another_user")


def test_update_shared_file_is_refused_even_to_an_owner(mgmt):
    request = fe.UpdateInputFileRequest(data_id=MOCK_INPUT_2, url="https://host/new")
    mgmt.fail(StatusCode.PERMISSION_DENIED, "UpdateInputFile", request, "mock_user2")


def test_outputs_cannot_be_raw(mgmt, platform):
    before = platform.snapshot()
    request = fe.RegisterOutputFileRequest(
        url=URL, crypto_info=common_pb.FileCryptoInfo(schema="raw")
    )
    message = mgmt.fail(StatusCode.INVALID_ARGUMENT, "RegisterOutputFile", request)
    assert message.startswith("crypto_info.schema: ")
    assert platform.snapshot() == before


def test_raw_inputs_are_allowed(mgmt, helpers):
    request = fe.RegisterInputFileRequest(
        url=URL, cmac=bytes(16), crypto_info=common_pb.FileCryptoInfo(schema="raw")
    )
    assert mgmt.call("RegisterInputFile", request).data_id.startswith("input-")
