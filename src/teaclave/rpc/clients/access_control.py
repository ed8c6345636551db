"""Client of the access-control service (used by the frontend and management)."""

from __future__ import annotations

from teaclave.config import RuntimeConfig
from teaclave.config.build import ACCESS_CONTROL
from teaclave.proto import teaclave_access_control_service_pb2 as pb
from teaclave.rpc.apis import TeaclaveAccessControl
from teaclave.rpc.channel import ServiceClient, connect
from teaclave.rpc.tls import Identity, PeerVerifier


class AccessControlClient:
    """``AuthorizeApi`` calls against ``TeaclaveAccessControl``."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    @classmethod
    def connect(
        cls, config: RuntimeConfig, identity: Identity, verifier: PeerVerifier
    ) -> AccessControlClient:
        """Connect to the access-control endpoint named in ``config`` as ``identity``."""
        target = config.internal_endpoints["access_control"].target
        channel = connect(target, ACCESS_CONTROL, verifier, identity)
        return cls(ServiceClient(channel, TeaclaveAccessControl))

    def authorize_api(self, user_role: str, api: str, timeout: float | None = 30.0) -> bool:
        """True if ``user_role`` (``DataOwner`` or ``DataOwner-x``) may call ``api``.

        Raises ``RemoteError`` when the service cannot answer.
        """
        response = self._client.call(
            "AuthorizeApi",
            pb.AuthorizeApiRequest(user_role=user_role, api=api),
            pb.AuthorizeApiResponse,
            timeout=timeout,
        )
        return bool(response.accept)

    def close(self) -> None:
        """Close the channel."""
        self._client.close()
