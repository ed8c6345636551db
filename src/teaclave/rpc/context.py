"""``CallContext``: what a service method knows about its caller."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from teaclave.types.errors import Unauthenticated

#: Optional metadata (teaclave-py extension): how long the server may hold a call open
#: waiting for work (long poll) before answering "nothing yet".
WAIT_METADATA = "x-teaclave-wait-ms"


@dataclass(frozen=True, slots=True)
class CallContext:
    """Caller credentials (``id``/``token``/``role`` metadata), peer address and identity."""

    metadata: dict[str, str]
    peer: str = ""
    peer_identity: str | None = None
    grpc_context: Any = None

    @property
    def user_id(self) -> str:
        """The ``id`` metadata, or ``""``."""
        return self.metadata.get("id", "")

    @property
    def token(self) -> str:
        """The ``token`` metadata, or ``""``."""
        return self.metadata.get("token", "")

    @property
    def role(self) -> str:
        """The ``role`` metadata (set by the frontend), or ``""``."""
        return self.metadata.get("role", "")

    def require_user_id(self) -> str:
        """The ``id`` metadata; ``Unauthenticated("missing user id")`` when absent."""
        if not self.user_id:
            raise Unauthenticated("missing user id")
        return self.user_id

    @property
    def wait_secs(self) -> float:
        """Long-poll budget the client asked for (0 when none), capped at 30 s."""
        raw = self.metadata.get(WAIT_METADATA, "")
        try:
            return max(0.0, min(float(raw) / 1000.0, 30.0))
        except ValueError:
            return 0.0

    @property
    def client_ip(self) -> bytes:
        """The caller's IP as 16 bytes (IPv4 as IPv4-compatible IPv6), ``::`` if unknown."""
        # gRPC reports peers as URIs: ``ipv4:1.2.3.4:5``, ``ipv6:%5B::1%5D:5`` (percent-encoded).
        addr = unquote(self.peer)
        try:
            if addr.startswith("ipv4:"):
                host = addr[5:].rsplit(":", 1)[0]
                v4 = ipaddress.IPv4Address(host)
                return bytes(12) + v4.packed
            if addr.startswith("ipv6:"):
                host = addr[5:].rsplit(":", 1)[0].strip("[]")
                return ipaddress.IPv6Address(host).packed
        except ValueError:
            pass
        return bytes(16)

    def is_active(self) -> bool:
        """False once the client has gone away (for long polls)."""
        if self.grpc_context is None:
            return True
        return bool(self.grpc_context.is_active())
