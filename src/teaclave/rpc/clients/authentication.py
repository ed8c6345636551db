"""Client of the authentication service's internal endpoint (used by the frontend)."""

from __future__ import annotations

from dataclasses import dataclass

from teaclave.config import RuntimeConfig
from teaclave.config.build import AUTHENTICATION
from teaclave.proto import teaclave_authentication_service_pb2 as pb
from teaclave.proto import teaclave_common_pb2 as common_pb
from teaclave.rpc.apis import TeaclaveAuthenticationInternal
from teaclave.rpc.channel import ServiceClient, connect
from teaclave.rpc.errors import RemoteError
from teaclave.rpc.tls import Identity, PeerVerifier
from teaclave.types.errors import StatusCode


@dataclass(frozen=True, slots=True)
class UserAuthClaims:
    """A valid token's claims: user id, role string form, issuer, expiry (epoch seconds)."""

    sub: str
    role: str
    iss: str
    exp: int


class AuthenticationInternalClient:
    """``UserAuthenticate`` calls against ``TeaclaveAuthenticationInternal``."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    @classmethod
    def connect(
        cls, config: RuntimeConfig, identity: Identity, verifier: PeerVerifier
    ) -> AuthenticationInternalClient:
        """Connect to the internal authentication endpoint named in ``config`` as ``identity``."""
        target = config.internal_endpoints["authentication"].target
        channel = connect(target, AUTHENTICATION, verifier, identity)
        return cls(ServiceClient(channel, TeaclaveAuthenticationInternal))

    def authenticate(
        self, user_id: str, token: str, timeout: float | None = 30.0
    ) -> UserAuthClaims:
        """The claims of ``token`` for ``user_id``.

        Raises ``RemoteError`` (UNAUTHENTICATED, "authentication failed", ...) when the
        credential is not valid, or with the transport's code when the service is unreachable.
        """
        response = self._client.call(
            "UserAuthenticate",
            pb.UserAuthenticateRequest(
                credential=common_pb.UserCredential(id=user_id, token=token)
            ),
            pb.UserAuthenticateResponse,
            timeout=timeout,
        )
        if not response.HasField("claims"):
            raise RemoteError(
                "authentication failed: no claims", StatusCode.UNAUTHENTICATED, "UserAuthenticate"
            )
        claims = response.claims
        return UserAuthClaims(sub=claims.sub, role=claims.role, iss=claims.iss, exp=claims.exp)

    def close(self) -> None:
        """Close the channel."""
        self._client.close()
