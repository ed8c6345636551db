"""``TeaclaveAccessControl``: ``AuthorizeApi(user_role, api)`` against the table in ``acl``.

Same answers as Teaclave's casbin policy; additionally the full role form (``DataOwner-x``) is
accepted, so callers need not strip the attribute. The service is stateless.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import grpc

from teaclave.binder import Enclave
from teaclave.config import INBOUND, RuntimeConfig
from teaclave.config.build import ACCESS_CONTROL
from teaclave.proto import teaclave_access_control_service_pb2 as pb
from teaclave.rpc import CallContext, teaclave_service
from teaclave.rpc.apis import TeaclaveAccessControl
from teaclave.rpc.server import serve
from teaclave.services.access_control.acl import authorize_api
from teaclave.services.launcher import Stoppable, service_identity
from teaclave.types.errors import PermissionDenied

log = logging.getLogger(__name__)


class AccessControlError(PermissionDenied):
    """Errors of the access-control service (PERMISSION_DENIED "access control error")."""

    def __init__(self, message: str = "access control error") -> None:
        super().__init__(message)


@teaclave_service(ACCESS_CONTROL, TeaclaveAccessControl, AccessControlError)
class AccessControlService:
    """Answers whether a role may call a frontend API."""

    def authorize_api(
        self, request: pb.AuthorizeApiRequest, ctx: CallContext
    ) -> pb.AuthorizeApiResponse:
        """``accept`` is true iff the role may call ``api`` (never an error for a denial)."""
        accept = authorize_api(request.user_role, request.api)
        if not accept:
            log.debug("denied %r the api %r", request.user_role, request.api)
        return pb.AuthorizeApiResponse(accept=accept)


class _Server:
    """A gRPC server whose ``stop`` waits until in-flight calls are done."""

    def __init__(self, server: grpc.Server) -> None:
        self.server = server

    def stop(self, grace: float | None) -> Any:
        self.server.stop(grace).wait()


def start_service(config: RuntimeConfig, enclave: Enclave) -> Sequence[Stoppable]:
    """Serve the internal access-control endpoint."""
    identity, verifier = service_identity(config, ACCESS_CONTROL)
    server, _ = serve(
        AccessControlService(),
        config.internal_endpoints["access_control"].listen_address,
        identity,
        verifier,
        inbound=INBOUND["access_control"],
    )
    return [_Server(server)]
