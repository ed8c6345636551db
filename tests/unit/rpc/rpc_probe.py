"""Helpers of the rpc tests: a probe service implementing TeaclaveStorage, PKI, raw clients."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import grpc
from google.protobuf import empty_pb2

from teaclave.proto import teaclave_storage_service_pb2 as pb
from teaclave.rpc import CallContext, teaclave_service
from teaclave.rpc.apis import TeaclaveStorage
from teaclave.rpc.channel import ServiceClient
from teaclave.rpc.server import grpc_options
from teaclave.rpc.tls import Identity, PlatformCa, PlatformCaVerifier
from teaclave.types.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    StatusCode,
    TeaclaveError,
)

STORAGE = "teaclave_storage_service"
MANAGEMENT = "teaclave_management_service"
FRONTEND = "teaclave_frontend_service"


class ProbeError(TeaclaveError):
    """The probe service's own error class."""

    code = StatusCode.ABORTED


@teaclave_service(STORAGE, TeaclaveStorage, ProbeError)
@dataclass
class ProbeService:
    """Answers ``Get`` according to the key; records ``Put`` sizes."""

    sizes: list[int] = field(default_factory=list)

    def get(self, request: pb.GetRequest, ctx: CallContext) -> pb.GetResponse:
        key = request.key
        if key == b"invalid":
            raise InvalidArgument("key: not acceptable")
        if key == b"denied":
            raise PermissionDenied()
        if key == b"missing":
            raise NotFound("key not found: missing")
        if key == b"precondition":
            raise FailedPrecondition("failed to invoke task: task is Staged")
        if key == b"own":
            raise ProbeError("probe says no")
        if key == b"explicit":
            raise TeaclaveError("explicit code", StatusCode.ALREADY_EXISTS)
        if key == b"crash":
            raise RuntimeError("secret internals /etc/shadow")
        if key == b"wrong":
            return pb.DequeueResponse(value=b"x")  # type: ignore[return-value]
        if key == b"context":
            info = {
                "user_id": ctx.user_id,
                "token": ctx.token,
                "role": ctx.role,
                "peer": ctx.peer,
                "peer_identity": ctx.peer_identity,
                "client_ip": ctx.client_ip.hex(),
                "wait_secs": ctx.wait_secs,
                "active": ctx.is_active(),
            }
            return pb.GetResponse(value=json.dumps(info).encode())
        return pb.GetResponse(value=key)

    def put(self, request: pb.PutRequest, ctx: CallContext) -> empty_pb2.Empty:
        self.sizes.append(len(request.value))
        return empty_pb2.Empty()

    def delete(self, request: pb.DeleteRequest, ctx: CallContext) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    def enqueue(self, request: pb.EnqueueRequest, ctx: CallContext) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    def dequeue(self, request: pb.DequeueRequest, ctx: CallContext) -> pb.DequeueResponse:
        return pb.DequeueResponse(value=request.key)

    def get_keys_by_prefix(
        self, request: pb.GetKeysByPrefixRequest, ctx: CallContext
    ) -> pb.GetKeysByPrefixResponse:
        return pb.GetKeysByPrefixResponse(keys=[request.prefix])


@dataclass
class Pki:
    """The platform CA of a test plus a second, unrelated CA."""

    ca: PlatformCa
    verifier: PlatformCaVerifier
    other_ca: PlatformCa

    def identity(self, name: str) -> Identity:
        return self.ca.issue(name)

    def forged(self, name: str) -> Identity:
        """The right name, issued by the wrong CA."""
        return self.other_ca.issue(name)


def raw_client(
    pki: Pki,
    target: str,
    identity: Identity | None,
    *,
    expected_peer: str = STORAGE,
    trust: bytes | None = None,
    options: list[tuple[str, object]] | None = None,
) -> ServiceClient:
    """A client that does not wait for the channel (failures show up on the first call)."""
    verifier = PlatformCaVerifier(trust or pki.ca.cert_pem)
    channel = grpc.secure_channel(
        target,
        verifier.channel_credentials(identity),
        options=options or [*grpc_options(), *verifier.channel_options(expected_peer)],
    )
    return ServiceClient(channel, TeaclaveStorage)
