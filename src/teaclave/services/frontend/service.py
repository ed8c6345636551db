"""``TeaclaveFrontend``: authenticate every call, check the API ACL, audit, forward.

For each of the 22 RPCs: read ``id``/``token`` metadata (UNAUTHENTICATED "missing user id" /
"missing token"), validate them with the authentication service's internal endpoint
(UNAUTHENTICATED "incorrect credential"), ask access control whether the caller's role may use
the API (PERMISSION_DENIED "permission denied"), forward the unchanged request to the management
RPC of the same name with ``role`` metadata added, and return management's answer or status
verbatim. Every call leaves an audit entry (Teaclave's texts, §5.1 of the spec).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from teaclave.binder import Enclave
from teaclave.config import RuntimeConfig
from teaclave.config.build import FRONTEND, MANAGEMENT
from teaclave.rpc import CallContext, teaclave_service
from teaclave.rpc.apis import TeaclaveFrontend, TeaclaveManagement
from teaclave.rpc.channel import ServiceClient, connect
from teaclave.rpc.clients.access_control import AccessControlClient
from teaclave.rpc.clients.authentication import AuthenticationInternalClient
from teaclave.rpc.context import WAIT_METADATA
from teaclave.rpc.errors import RemoteError
from teaclave.rpc.server import serve
from teaclave.rpc.service import message_class, snake_case
from teaclave.services.frontend.audit import AuditBuffer
from teaclave.services.frontend.caches import AclCache, CredentialCache
from teaclave.services.launcher import Stoppable, service_identity
from teaclave.types.errors import (
    PermissionDenied,
    StatusCode,
    TeaclaveError,
    Unauthenticated,
)
from teaclave.types.roles import UserRole


class FrontendError(TeaclaveError):
    """Errors raised by the frontend itself."""


@dataclass
class FrontendService:
    """Forwards every frontend RPC to management after authentication and authorization."""

    credentials: CredentialCache
    acl: AclCache
    management: ServiceClient
    audit: AuditBuffer

    def _forward(self, rpc: str, request: Message, ctx: CallContext) -> Message:
        api = snake_case(rpc)
        ip = ctx.client_ip
        if not ctx.user_id:
            self.audit.add(ip, "", f"authenticate to {api}: authentication failed", False)
            raise Unauthenticated("missing user id")
        if not ctx.token:
            self.audit.add(ip, "", f"authenticate to {api}: authentication failed", False)
            raise Unauthenticated("missing token")
        try:
            claims = self.credentials.claims(ctx.user_id, ctx.token)
        except RemoteError as exc:
            self.audit.add(ip, "", f"authenticate to {api}: authentication failed", False)
            if exc.code is StatusCode.UNAUTHENTICATED:
                raise Unauthenticated("incorrect credential") from None
            raise FrontendError(
                f"authentication service unavailable: {exc.message}", StatusCode.UNAVAILABLE
            ) from None
        role = UserRole.parse(claims.role)
        try:
            allowed = self.acl.allowed(role.api_role, api)
        except RemoteError:
            allowed = False
        if not allowed:
            self.audit.add(ip, "", f"authenticate to {api}", False)
            raise PermissionDenied(f"permission denied: role {role.api_role} may not call {api}")
        user = f"{{ user: {ctx.user_id}, role: {role.debug_form()} }}"
        response_type = message_class(TeaclaveManagement.methods_by_name[rpc].output_type)
        try:
            response = self.management.call(
                rpc,
                request,
                response_type,
                metadata=_forwarded_metadata(ctx, role),
            )
        except RemoteError as exc:
            self.audit.add(ip, user, f"{api}:{exc.message}", False)
            raise TeaclaveError(exc.message, exc.code) from None
        self.audit.add(ip, user, api, True)
        return response


def _forwarded_metadata(ctx: CallContext, role: UserRole) -> dict[str, str]:
    metadata = {"id": ctx.user_id, "token": ctx.token, "role": str(role)}
    if WAIT_METADATA in ctx.metadata:
        metadata[WAIT_METADATA] = ctx.metadata[WAIT_METADATA]
    return metadata


def _make_rpc(rpc: str) -> Callable[[FrontendService, Any, CallContext], Message]:
    def method(self: FrontendService, request: Any, ctx: CallContext) -> Message:
        return self._forward(rpc, request, ctx)

    method.__name__ = snake_case(rpc)
    method.__doc__ = f"Forward ``{rpc}`` to management after authentication and ACL."
    return method


for _method in TeaclaveFrontend.methods:
    setattr(FrontendService, snake_case(_method.name), _make_rpc(_method.name))

FrontendService = teaclave_service(FRONTEND, TeaclaveFrontend, FrontendError)(FrontendService)  # type: ignore[misc]


class _Closer:
    def __init__(self, *clients: Any) -> None:
        self.clients = clients

    def stop(self, grace: float | None) -> None:
        for client in self.clients:
            client.close()


def start_service(config: RuntimeConfig, enclave: Enclave) -> Sequence[Stoppable]:
    """Connect to authentication, access control and management, then serve the API."""
    identity, verifier = service_identity(config, FRONTEND)
    authentication = AuthenticationInternalClient.connect(config, identity, verifier)
    access_control = AccessControlClient.connect(config, identity, verifier)
    channel = connect(
        config.internal_endpoints["management"].target, MANAGEMENT, verifier, identity
    )
    management = ServiceClient(channel, TeaclaveManagement)
    audit = AuditBuffer(management, config.frontend.audit_flush_secs)
    credentials = CredentialCache(
        authentication.authenticate, config.frontend.credential_cache_secs
    )
    service = FrontendService(
        credentials, AclCache(access_control.authorize_api), management, audit
    )
    server, _ = serve(service, config.api_endpoints["frontend"].listen_address, identity, verifier)
    return [_Closer(authentication, access_control, management), audit, server]
