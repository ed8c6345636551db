"""The service framework: ``@teaclave_service``, TLS servers and channels, call contexts.

Peer verification sits behind ``teaclave.rpc.tls.PeerVerifier``; today a platform CA in the
state directory vouches for every service identity, and attestation evidence replaces it later
without touching the services.
"""

from teaclave.rpc.context import CallContext
from teaclave.rpc.service import ServiceSpec, teaclave_service

__all__ = ["CallContext", "ServiceSpec", "teaclave_service"]
