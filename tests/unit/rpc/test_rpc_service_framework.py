"""@teaclave_service, status mapping, unknown methods and message limits over real TLS servers."""

from __future__ import annotations

import json
import logging

import grpc
import pytest
from google.protobuf import empty_pb2
from rpc_probe import MANAGEMENT, STORAGE, Pki, ProbeService, raw_client

from teaclave.config.build import MAX_MESSAGE_SIZE
from teaclave.proto import teaclave_storage_service_pb2 as pb
from teaclave.rpc import CallContext, ServiceSpec, teaclave_service
from teaclave.rpc.apis import (
    TeaclaveAccessControl,
    TeaclaveAuthenticationApi,
    TeaclaveFrontend,
    TeaclaveManagement,
    TeaclaveScheduler,
    TeaclaveStorage,
)
from teaclave.rpc.channel import ServiceClient
from teaclave.rpc.context import WAIT_METADATA
from teaclave.rpc.errors import RemoteError, from_rpc_error, to_grpc_code
from teaclave.rpc.server import grpc_options
from teaclave.rpc.service import INTERNAL_MESSAGE, service_spec, snake_case
from teaclave.types.errors import StatusCode, TeaclaveError

pytestmark = pytest.mark.timeout(30)


# ---------------------------------------------------------------------- the decorator
def test_decorator_records_the_spec():
    spec = service_spec(ProbeService())
    assert spec == ServiceSpec(STORAGE, TeaclaveStorage, spec.error)
    assert spec.error.__name__ == "ProbeError"
    assert spec.full_name == "teaclave_storage_service_proto.TeaclaveStorage"


def test_decorator_refuses_a_class_missing_an_rpc():
    with pytest.raises(TypeError) as err:

        @teaclave_service(STORAGE, TeaclaveStorage)
        class Incomplete:
            def get(self, request: object, ctx: CallContext) -> object: ...
            def put(self, request: object, ctx: CallContext) -> object: ...
            def delete(self, request: object, ctx: CallContext) -> object: ...
            def enqueue(self, request: object, ctx: CallContext) -> object: ...
            def dequeue(self, request: object, ctx: CallContext) -> object: ...

    message = str(err.value)
    assert message.startswith(
        "Incomplete does not implement teaclave_storage_service_proto.TeaclaveStorage"
    )
    assert "get_keys_by_prefix (GetKeysByPrefix)" in message


def test_decorator_lists_every_missing_rpc_and_ignores_non_callables():
    with pytest.raises(TypeError) as err:

        @teaclave_service(STORAGE, TeaclaveStorage)
        class Bad:
            get = "not a method"

    message = str(err.value)
    for rpc in ("Get", "Put", "Delete", "Enqueue", "Dequeue", "GetKeysByPrefix"):
        assert f"{snake_case(rpc)} ({rpc})" in message


def test_service_spec_refuses_an_undecorated_instance():
    class Plain:
        pass

    with pytest.raises(TypeError, match="Plain is not decorated with @teaclave_service"):
        service_spec(Plain())


@pytest.mark.parametrize(
    ("rpc", "method"),
    [
        ("Get", "get"),
        ("GetKeysByPrefix", "get_keys_by_prefix"),
        ("UserLogin", "user_login"),
        ("RegisterInputFromOutput", "register_input_from_output"),
        ("QueryAuditLogs", "query_audit_logs"),
    ],
)
def test_snake_case(rpc: str, method: str):
    assert snake_case(rpc) == method


def test_every_teaclave_rpc_has_a_distinct_python_name():
    for api in (
        TeaclaveAuthenticationApi,
        TeaclaveFrontend,
        TeaclaveManagement,
        TeaclaveAccessControl,
        TeaclaveScheduler,
        TeaclaveStorage,
    ):
        names = [snake_case(m.name) for m in api.methods]
        assert len(set(names)) == len(names)
        assert all(n.isidentifier() and n == n.lower() for n in names)


# ---------------------------------------------------------------------- status mapping
@pytest.fixture
def client(pki: Pki, start_server, clients: list[ServiceClient]) -> ServiceClient:
    _, port = start_server()
    made = raw_client(pki, f"127.0.0.1:{port}", pki.identity(MANAGEMENT))
    clients.append(made)
    return made


def get(client: ServiceClient, key: bytes, **kwargs: object) -> bytes:
    return client.call("Get", pb.GetRequest(key=key), pb.GetResponse, **kwargs).value  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("key", "code", "message"),
    [
        (b"invalid", StatusCode.INVALID_ARGUMENT, "key: not acceptable"),
        (b"denied", StatusCode.PERMISSION_DENIED, "permission denied"),
        (b"missing", StatusCode.NOT_FOUND, "key not found: missing"),
        (b"precondition", StatusCode.FAILED_PRECONDITION, "failed to invoke task: task is Staged"),
        (b"own", StatusCode.ABORTED, "probe says no"),
        (b"explicit", StatusCode.ALREADY_EXISTS, "explicit code"),
    ],
)
def test_teaclave_errors_keep_their_code_and_message(
    client: ServiceClient, key: bytes, code: StatusCode, message: str
):
    with pytest.raises(RemoteError) as err:
        get(client, key)
    assert err.value.code is code
    assert err.value.message == message
    assert err.value.method == "Get"


def test_unexpected_exception_is_hidden_behind_internal(
    client: ServiceClient, caplog: pytest.LogCaptureFixture
):
    with (
        caplog.at_level(logging.ERROR, logger="teaclave.rpc.service"),
        pytest.raises(RemoteError) as err,
    ):
        get(client, b"crash")
    assert err.value.code is StatusCode.INTERNAL
    assert err.value.message == INTERNAL_MESSAGE == "service internal error"
    assert "secret" not in err.value.message
    assert any("Get failed" in r.getMessage() for r in caplog.records)  # logged server-side
    assert get(client, b"still-there") == b"still-there"


def test_wrong_response_type_is_internal(client: ServiceClient):
    with pytest.raises(RemoteError) as err:
        get(client, b"wrong")
    assert err.value.code is StatusCode.INTERNAL
    assert err.value.message == "service internal error"


def test_successful_calls_of_every_rpc(client: ServiceClient):
    assert get(client, b"k") == b"k"
    assert client.call("Put", pb.PutRequest(key=b"k", value=b"v"), empty_pb2.Empty) == (
        empty_pb2.Empty()
    )
    assert client.call("Dequeue", pb.DequeueRequest(key=b"q"), pb.DequeueResponse).value == b"q"
    keys = client.call(
        "GetKeysByPrefix", pb.GetKeysByPrefixRequest(prefix=b"p"), pb.GetKeysByPrefixResponse
    )
    assert list(keys.keys) == [b"p"]


def test_client_refuses_a_mismatched_response_type(client: ServiceClient):
    with pytest.raises(TypeError, match="Get returns GetResponse, not DequeueResponse"):
        client.call("Get", pb.GetRequest(key=b"k"), pb.DequeueResponse)


def test_unknown_method_is_unimplemented(client: ServiceClient):
    stub = client.channel.unary_unary(
        "/teaclave_storage_service_proto.TeaclaveStorage/InvalidRequest",
        request_serializer=pb.GetRequest.SerializeToString,
        response_deserializer=pb.GetResponse.FromString,
    )
    with pytest.raises(grpc.RpcError) as err:
        stub(pb.GetRequest(key=b"k"), timeout=5)
    assert err.value.code() is grpc.StatusCode.UNIMPLEMENTED
    assert from_rpc_error(err.value).code is StatusCode.UNIMPLEMENTED
    other_service = client.channel.unary_unary(
        "/teaclave_frontend_service_proto.TeaclaveFrontend/GetTask",
        request_serializer=pb.GetRequest.SerializeToString,
        response_deserializer=pb.GetResponse.FromString,
    )
    with pytest.raises(grpc.RpcError) as err2:
        other_service(pb.GetRequest(key=b"k"), timeout=5)
    assert err2.value.code() is grpc.StatusCode.UNIMPLEMENTED


# ---------------------------------------------------------------------- message limits
def test_oversized_request_is_resource_exhausted_and_the_server_keeps_serving(
    pki: Pki, start_server, clients: list[ServiceClient]
):
    service, port = start_server()
    target = f"127.0.0.1:{port}"
    # A client allowed to send more than the server accepts: the server refuses it.
    loose = raw_client(
        pki,
        target,
        pki.identity(MANAGEMENT),
        options=[
            ("grpc.max_send_message_length", 3 * MAX_MESSAGE_SIZE),
            ("grpc.ssl_target_name_override", STORAGE),
        ],
    )
    normal = raw_client(pki, target, pki.identity(MANAGEMENT))
    clients.extend([loose, normal])
    big = pb.PutRequest(key=b"k", value=bytes(MAX_MESSAGE_SIZE + 1))
    with pytest.raises(RemoteError) as err:
        loose.call("Put", big, empty_pb2.Empty, timeout=10)
    assert err.value.code is StatusCode.RESOURCE_EXHAUSTED
    # Our own clients stop such a request before sending it, with the same status.
    with pytest.raises(RemoteError) as err2:
        normal.call("Put", big, empty_pb2.Empty, timeout=10)
    assert err2.value.code is StatusCode.RESOURCE_EXHAUSTED
    assert service.sizes == []
    # A request just under the limit passes, and the server is still healthy.
    fits = pb.PutRequest(key=b"k", value=bytes(MAX_MESSAGE_SIZE - 64))
    loose.call("Put", fits, empty_pb2.Empty, timeout=10)
    assert service.sizes == [MAX_MESSAGE_SIZE - 64]
    assert get(normal, b"alive") == b"alive"


def test_grpc_options_carry_the_limit_both_ways():
    assert dict(grpc_options()) == {
        "grpc.max_receive_message_length": MAX_MESSAGE_SIZE,
        "grpc.max_send_message_length": MAX_MESSAGE_SIZE,
    }
    assert dict(grpc_options(10))["grpc.max_send_message_length"] == 10


# ---------------------------------------------------------------------- call context
def test_call_context_sees_metadata_and_the_verified_peer(client: ServiceClient):
    info = json.loads(
        get(
            client,
            b"context",
            metadata={"id": "alice", "token": "t0k", "role": "DataOwner-x", WAIT_METADATA: "1500"},
        )
    )
    assert info["user_id"] == "alice"
    assert info["token"] == "t0k"
    assert info["role"] == "DataOwner-x"
    assert info["peer_identity"] == MANAGEMENT
    assert info["peer"].startswith("ipv4:127.0.0.1:")
    assert info["client_ip"] == (bytes(12) + bytes([127, 0, 0, 1])).hex()
    assert info["wait_secs"] == 1.5
    assert info["active"] is True


def test_client_metadata_is_merged_with_per_call_metadata(
    pki: Pki, start_server, clients: list[ServiceClient]
):
    _, port = start_server()
    base = raw_client(pki, f"127.0.0.1:{port}", pki.identity(MANAGEMENT))
    clients.append(base)
    client = ServiceClient(base.channel, TeaclaveStorage, {"id": "alice", "token": "a"})
    info = json.loads(get(client, b"context", metadata={"token": "b"}))
    assert (info["user_id"], info["token"], info["role"]) == ("alice", "b", "")


def test_to_grpc_code_covers_every_status():
    for code in StatusCode:
        assert to_grpc_code(code).value[0] == int(code)


def test_remote_error_is_a_teaclave_error():
    err = RemoteError("x", StatusCode.NOT_FOUND, "Get")
    assert isinstance(err, TeaclaveError)
    assert (err.code, err.message, err.method, str(err)) == (StatusCode.NOT_FOUND, "x", "Get", "x")
