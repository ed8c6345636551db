"""Who may reach which endpoint: the internal one is mutual TLS for the frontend only."""

from __future__ import annotations

import grpc
import pytest

from teaclave.config.build import AUTHENTICATION, EXECUTION, FRONTEND, MANAGEMENT
from teaclave.proto import teaclave_authentication_service_pb2 as pb
from teaclave.proto import teaclave_common_pb2 as common_pb
from teaclave.rpc.apis import TeaclaveAuthenticationInternal
from teaclave.rpc.channel import ServiceClient, connect
from teaclave.rpc.clients.authentication import AuthenticationInternalClient
from teaclave.rpc.errors import RemoteError
from teaclave.services.launcher import service_identity
from teaclave.types.errors import StatusCode


def authenticate_request(cred):
    return pb.UserAuthenticateRequest(
        credential=common_pb.UserCredential(id=cred["id"], token=cred["token"])
    )


def test_frontend_identity_is_accepted(auth):
    cred = auth.admin()
    identity, verifier = service_identity(auth.config, FRONTEND)
    client = AuthenticationInternalClient.connect(auth.config, identity, verifier)
    try:
        assert client.authenticate(cred["id"], cred["token"]).sub == "admin"
    finally:
        client.close()


@pytest.mark.parametrize("name", [EXECUTION, MANAGEMENT])
def test_other_service_identities_are_refused(auth, name):
    cred = auth.admin()
    identity, verifier = service_identity(auth.config, name)
    client = AuthenticationInternalClient.connect(auth.config, identity, verifier)
    try:
        with pytest.raises(RemoteError) as exc:
            client.authenticate(cred["id"], cred["token"])
        assert exc.value.code is StatusCode.PERMISSION_DENIED
        assert name in exc.value.message
    finally:
        client.close()


def _raw_internal_channel(auth, identity):
    _, verifier = service_identity(auth.config, FRONTEND)
    target = auth.config.internal_endpoints["authentication"].target
    return grpc.secure_channel(
        target,
        verifier.channel_credentials(identity, target, AUTHENTICATION),
        options=verifier.channel_options(AUTHENTICATION),
    )


@pytest.mark.parametrize("with_certificate", [True, False])
def test_client_without_certificate_is_refused(auth, with_certificate):
    # The control (with the frontend's certificate) goes through the same raw channel code.
    cred = auth.admin()
    identity = service_identity(auth.config, FRONTEND)[0] if with_certificate else None
    channel = _raw_internal_channel(auth, identity)
    client = ServiceClient(channel, TeaclaveAuthenticationInternal)
    try:
        if with_certificate:
            response = client.call(
                "UserAuthenticate", authenticate_request(cred), pb.UserAuthenticateResponse
            )
            assert response.claims.sub == "admin"
            return
        with pytest.raises(RemoteError) as exc:
            client.call(
                "UserAuthenticate",
                authenticate_request(cred),
                pb.UserAuthenticateResponse,
                timeout=5,
            )
        assert exc.value.code is StatusCode.UNAVAILABLE
    finally:
        client.close()


def test_internal_rpc_is_not_served_on_the_api_endpoint(auth):
    cred = auth.admin()
    method = auth.api.channel.unary_unary(
        "/teaclave_authentication_service_proto.TeaclaveAuthenticationInternal/UserAuthenticate",
        request_serializer=pb.UserAuthenticateRequest.SerializeToString,
        response_deserializer=pb.UserAuthenticateResponse.FromString,
    )
    with pytest.raises(grpc.RpcError) as exc:
        method(authenticate_request(cred), timeout=5)
    assert exc.value.code() is grpc.StatusCode.UNIMPLEMENTED


def test_api_rpc_is_not_served_on_the_internal_endpoint(auth):
    identity, verifier = service_identity(auth.config, FRONTEND)
    target = auth.config.internal_endpoints["authentication"].target
    channel = connect(target, AUTHENTICATION, verifier, identity)
    try:
        login = channel.unary_unary(
            "/teaclave_authentication_service_proto.TeaclaveAuthenticationApi/UserLogin",
            request_serializer=pb.UserLoginRequest.SerializeToString,
            response_deserializer=pb.UserLoginResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as exc:
            login(pb.UserLoginRequest(id="admin", password=auth.ADMIN_PASSWORD), timeout=5)
        assert exc.value.code() is grpc.StatusCode.UNIMPLEMENTED
    finally:
        channel.close()


def test_invalid_request_is_unimplemented(auth):
    # scripts/functional_tests.py test_invalid_request: unknown method → grpc-status 12.
    method = auth.api.channel.unary_unary(
        "/teaclave_authentication_service_proto.TeaclaveAuthenticationApi/InvalidRequest",
        request_serializer=pb.UserLoginRequest.SerializeToString,
        response_deserializer=pb.UserLoginResponse.FromString,
    )
    with pytest.raises(grpc.RpcError) as exc:
        method(pb.UserLoginRequest(), timeout=5)
    assert exc.value.code() is grpc.StatusCode.UNIMPLEMENTED
    assert exc.value.code().value[0] == 12


def test_login_permission_denied_wire_status(auth):
    # scripts/functional_tests.py test_login_permission_denied: status 16, exact message.
    login = auth.api.channel.unary_unary(
        "/teaclave_authentication_service_proto.TeaclaveAuthenticationApi/UserLogin",
        request_serializer=pb.UserLoginRequest.SerializeToString,
        response_deserializer=pb.UserLoginResponse.FromString,
    )
    with pytest.raises(grpc.RpcError) as exc:
        login(pb.UserLoginRequest(id="unknown_user", password="x"), timeout=5)
    assert exc.value.code().value[0] == 16
    assert exc.value.details() == "authentication failed"
